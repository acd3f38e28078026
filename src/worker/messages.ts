// The agent's minimal check of what the market sends: a JSON object whose `type` is one the
// protocol names, with its required fields present and of the right kind. Anything else is
// logged and ignored; a well-formed job whose details are wrong is refused later (job-check.ts)
// with a job_failed, so the market does not wait out a lease for it.

import { Value } from '@sinclair/typebox/value';
import { SliceSpec, type MarketMessage } from '../domain/schemas/worker.js';

export type Parsed = { ok: true; message: MarketMessage } | { ok: false; problem: string; jobId?: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Field = 'string' | 'number' | 'object' | 'array' | 'uuid';

const REQUIRED: Record<MarketMessage['type'], Record<string, Field>> = {
  challenge: { protocol_version: 'number', challenge: 'string' },
  welcome: { worker_address: 'string', heartbeat_interval_ms: 'number', lease_ms: 'number' },
  offer_accepted: { offer_id: 'string' },
  job: {
    job_id: 'uuid',
    task_id: 'string',
    challenge_type: 'string',
    payload: 'object',
    slices: 'array',
    units: 'number',
    lease_expires_at: 'number',
  },
  cancel: { job_id: 'string' },
  result_accepted: { job_id: 'string' },
  results_accepted: { job_ids: 'array' },
  error: { code: 'string', message: 'string' },
  notice: { code: 'string', message: 'string' },
};

function is(value: unknown, field: Field): boolean {
  switch (field) {
    case 'string':
      return typeof value === 'string';
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
  }
}

export function parseMarketMessage(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (!is(value, 'object')) return { ok: false, problem: 'not a JSON object' };
  const msg = value as Record<string, unknown>;
  const type = msg.type;
  if (typeof type !== 'string' || !Object.hasOwn(REQUIRED, type))
    return { ok: false, problem: `unknown message type ${JSON.stringify(type)}` };
  const jobId = typeof msg.job_id === 'string' && UUID.test(msg.job_id) ? msg.job_id : undefined;
  const fail = (problem: string): Parsed => ({
    ok: false,
    problem: `${type}: ${problem}`,
    ...(jobId ? { jobId } : {}),
  });
  for (const [name, field] of Object.entries(REQUIRED[type as MarketMessage['type']]))
    if (!is(msg[name], field)) return fail(`${name} is missing or not a ${field}`);
  if (type === 'job') {
    if (msg.input !== undefined && typeof msg.input !== 'string') return fail('input is not a string');
    const slices = msg.slices as unknown[];
    if (slices.length === 0) return fail('slices is empty');
    const bad = slices.findIndex((s) => !Value.Check(SliceSpec, s));
    if (bad >= 0) return fail(`slices[${bad}] is not a slice spec`);
  }
  if (type === 'welcome' && (msg.heartbeat_interval_ms as number) <= 0)
    return fail('heartbeat_interval_ms must be positive');
  return { ok: true, message: msg as unknown as MarketMessage };
}
