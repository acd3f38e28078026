// The agent's minimal check of what the market sends: every protocol message passes, and a
// broken one is named (keeping the job id, so a broken job can still be answered).

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseMarketMessage } from '../../src/worker/messages.js';

describe('market message check', () => {
  const job = {
    type: 'job',
    job_id: randomUUID(),
    task_id: randomUUID(),
    challenge_type: 'synthetic',
    payload: {},
    slices: [{ index: 0, units: 1, kind: 'whole' }],
    units: 1,
    lease_expires_at: 0,
  };

  it('accepts every message type the protocol names', () => {
    const messages = [
      { type: 'challenge', protocol_version: 1, challenge: 'ab' },
      { type: 'welcome', worker_address: 'cpc1x', heartbeat_interval_ms: 5000, lease_ms: 30_000 },
      { type: 'offer_accepted', offer_id: 'o' },
      job,
      { type: 'cancel', job_id: job.job_id, reason: 'lease_lost' },
      { type: 'result_accepted', job_id: job.job_id },
      { type: 'error', code: 'invalid_message', message: 'no' },
    ];
    for (const m of messages)
      expect(parseMarketMessage(JSON.stringify(m)), m.type).toEqual({ ok: true, message: m });
  });

  it('names what is wrong, and keeps the job id of a broken job', () => {
    expect(parseMarketMessage('[1]')).toEqual({ ok: false, problem: 'not a JSON object' });
    expect(parseMarketMessage('{"type":"welcome","worker_address":"a","lease_ms":1}')).toMatchObject({
      ok: false,
      problem: 'welcome: heartbeat_interval_ms is missing or not a number',
    });
    expect(parseMarketMessage(JSON.stringify({ ...job, slices: [] }))).toEqual({
      ok: false,
      problem: 'job: slices is empty',
      jobId: job.job_id,
    });
    expect(parseMarketMessage(JSON.stringify({ ...job, job_id: 'nope' }))).toEqual({
      ok: false,
      problem: 'job: job_id is missing or not a uuid',
    });
    expect(parseMarketMessage(JSON.stringify({ ...job, input: 5 }))).toMatchObject({
      problem: 'job: input is not a string',
    });
  });
});
