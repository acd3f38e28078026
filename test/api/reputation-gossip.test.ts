// Reputation gossip between nodes (spec "Reputation Gossip") through real HTTP: the merge rule on
// reputation.gossip, its validation and authentication, the counters, persistence across a
// restart, and two markets syncing by RPC, by the background round and by the CLI.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/domain/identity.js';
import type { GossipEntry } from '../../src/domain/schemas/reputation.js';
import { ConfigError, loadConfig, peerList } from '../../src/market/config.js';
import { sendGossip } from '../../src/market/reputation-gossip.js';
import type { Db } from '../../src/store/db.js';
import { openDatabase } from '../../src/store/open.js';
import { loadReputation, saveReputation } from '../../src/store/scheduler.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';
import { OPERATOR_KEY, startTestMarket, type TestMarket } from '../helpers/market.js';
import { BIN, cli } from '../helpers/processes.js';

/** Opening a node (database and migrations) twice in one test is slow on a busy machine. */
const RESTART_TIMEOUT = 120_000;

const PEER_KEY = 'peer-key-of-the-test-group-0123456789';
const addr = () => generateKeyPair().address;

async function rpc<T = Record<string, unknown>>(
  url: string,
  key: string | undefined,
  method: string,
  params: Record<string, unknown> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}/rpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ method, params }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

function gossipCounter(text: string, result: 'applied' | 'ignored'): number {
  const m = new RegExp(`^reputation_gossip_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket({ config: { peer_key: PEER_KEY, body_limit_bytes: 4 * 1_048_576 } });
});
afterAll(async () => {
  await tm?.close();
});

describe('configuration', () => {
  it('parses peers and needs a peer_key with them', () => {
    const config = loadConfig({
      env: { TASKMARKET_PEERS: 'http://a:1/, https://b.example ', TASKMARKET_PEER_KEY: PEER_KEY },
    });
    expect(peerList(config)).toEqual(['http://a:1', 'https://b.example']);
    expect(loadConfig({}).reputation_gossip_interval_s).toBe(60);
    expect(() => loadConfig({ flags: { peers: 'http://a:1' } })).toThrow(/peer_key/);
    expect(() => loadConfig({ flags: { peers: 'ftp://a' } })).toThrow(ConfigError);
    expect(() => loadConfig({ flags: { peer_key: 'short' } })).toThrow(/peer_key/);
  });
});

describe('reputation.gossip', () => {
  it('applies a higher epoch and ignores a lower or equal one and a bad score; counters move', async () => {
    const [a, b, c] = [addr(), addr(), addr()];
    const now = tm.market.clock.nowMs();
    await saveReputation(tm.market.db, a, { score: 100, epoch: 5, updatedAtMs: now });
    const gossiped: string[] = [];
    tm.market.events.on('reputation.gossiped', (e) => gossiped.push(`${e.address}:${e.entry.score}`));
    const metrics = async () => (await fetch(`${tm.url}/metrics`)).text();
    const before = await metrics();

    const entries: GossipEntry[] = [
      { provider_id: a, reputation_score: 300, epoch: 6 }, // higher epoch: applied
      { provider_id: a, reputation_score: 900, epoch: 6 }, // same epoch as now stored: ignored
      { provider_id: b, reputation_score: -200, epoch: 1 }, // unknown provider: applied
      { provider_id: c, reputation_score: 1001, epoch: 9 }, // out of range: ignored
      { provider_id: c, reputation_score: 10.5, epoch: 9 }, // not whole: ignored
    ];
    const res = await rpc(tm.url, PEER_KEY, 'reputation.gossip', { entries });
    expect(res).toEqual({ status: 200, body: { applied: 2, ignored: 3 } });
    expect(await loadReputation(tm.market.db, a)).toMatchObject({ score: 300, epoch: 6 });
    expect(await loadReputation(tm.market.db, b)).toMatchObject({ score: -200, epoch: 1 });
    expect(await loadReputation(tm.market.db, c)).toBeUndefined();
    expect(gossiped.sort()).toEqual([`${a}:300`, `${b}:-200`].sort());

    const lower = await rpc(tm.url, OPERATOR_KEY, 'reputation.gossip', {
      entries: [{ provider_id: a, reputation_score: -900, epoch: 2 }],
    });
    expect(lower.body).toEqual({ applied: 0, ignored: 1 });
    expect(await loadReputation(tm.market.db, a)).toMatchObject({ score: 300, epoch: 6 });

    const after = await metrics();
    expect(gossipCounter(after, 'applied') - gossipCounter(before, 'applied')).toBe(2);
    expect(gossipCounter(after, 'ignored') - gossipCounter(before, 'ignored')).toBe(4);
  });

  it('validates every field and refuses more than 10,000 entries, changing nothing', async () => {
    const a = addr();
    const bad: [unknown, string][] = [
      [{}, '/params/entries'],
      [{ entries: [{ provider_id: a, reputation_score: 1 }] }, '/params/entries/0/epoch'],
      [
        { entries: [{ provider_id: a, reputation_score: '1', epoch: 1 }] },
        '/params/entries/0/reputation_score',
      ],
      [{ entries: [{ provider_id: a, reputation_score: 1, epoch: -1 }] }, '/params/entries/0/epoch'],
      [{ entries: [{ provider_id: a, reputation_score: 1, epoch: 1.5 }] }, '/params/entries/0/epoch'],
      [
        { entries: [{ provider_id: 'nobody', reputation_score: 1, epoch: 1 }] },
        '/params/entries/0/provider_id',
      ],
      [{ entries: [{ provider_id: a, reputation_score: 1, epoch: 1, extra: 1 }] }, '/params/entries/0/extra'],
      [{ entries: [], more: 1 }, '/params/more'],
    ];
    for (const [params, path] of bad) {
      const res = await rpc<{ error: { code: string; details: { problems: { path: string }[] } } }>(
        tm.url,
        PEER_KEY,
        'reputation.gossip',
        params as Record<string, unknown>,
      );
      expect(res.status, JSON.stringify(params)).toBe(400);
      expect(res.body.error.details.problems[0]?.path).toBe(path);
    }
    const many = Array.from({ length: 10_001 }, () => ({ provider_id: a, reputation_score: 1, epoch: 1 }));
    const tooMany = await rpc<{ error: { code: string } }>(tm.url, PEER_KEY, 'reputation.gossip', {
      entries: many,
    });
    expect(tooMany.status).toBe(400);
    expect(await loadReputation(tm.market.db, a)).toBeUndefined();
    const enough = await rpc(tm.url, PEER_KEY, 'reputation.gossip', { entries: many.slice(0, 10_000) });
    expect(enough.body).toEqual({ applied: 1, ignored: 9_999 });
  });

  it('takes the operator key or the peer key, the peer key for gossip only', async () => {
    const { apiKey } = await tm.customer('1.0');
    const entries = [{ provider_id: addr(), reputation_score: 1, epoch: 1 }];
    expect((await rpc(tm.url, undefined, 'reputation.gossip', { entries })).status).toBe(401);
    expect((await rpc(tm.url, `${PEER_KEY}x`, 'reputation.gossip', { entries })).status).toBe(401);
    expect((await rpc(tm.url, apiKey, 'reputation.gossip', { entries })).status).toBe(403);
    expect((await rpc(tm.url, apiKey, 'reputation.snapshot')).status).toBe(403);
    expect((await rpc(tm.url, PEER_KEY, 'reputation.snapshot')).status).toBe(401);
    expect((await rpc(tm.url, PEER_KEY, 'settlement.set_mode', { mode: 'DryRun' })).status).toBe(401);
  });

  it('refuses while reputation_gossip is off', async () => {
    await tm.operator.request('PUT', '/params', { reputation_gossip: false });
    try {
      const entries = [{ provider_id: addr(), reputation_score: 1, epoch: 1 }];
      const res = await rpc<{ error: { code: string; message: string } }>(
        tm.url,
        PEER_KEY,
        'reputation.gossip',
        { entries },
      );
      expect(res.status).toBe(403);
      expect(res.body.error.message).toMatch(/reputation_gossip = false/);
      const sync = await rpc<{ error: { message: string } }>(tm.url, OPERATOR_KEY, 'reputation.sync', {
        peers: ['http://127.0.0.1:1'],
      });
      expect(sync.body.error.message).toMatch(/gossip is off/);
    } finally {
      await tm.operator.request('PUT', '/params', { reputation_gossip: true });
    }
  });
});

describe('reputation.snapshot', () => {
  it('lists every stored entry as a gossip tuple', async () => {
    const a = addr();
    await saveReputation(tm.market.db, a, { score: -40, epoch: 3, updatedAtMs: tm.market.clock.nowMs() });
    const res = await rpc<{ entries: GossipEntry[] }>(tm.url, OPERATOR_KEY, 'reputation.snapshot');
    expect(res.status).toBe(200);
    expect(res.body.entries).toContainEqual({ provider_id: a, reputation_score: -40, epoch: 3 });
  });
});

/** A database that outlives its market: PGlite in a directory, or a kept PostgreSQL schema. */
function durableDb(dir: string, schema: string): Promise<Db> {
  return TEST_DATABASE_URL
    ? openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4 })
    : openDatabase({ dataDir: dir });
}

describe('across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-gossip-'));
  const schema = freshSchema();
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it(
    'keeps the gossiped scores',
    async () => {
      const a = addr();
      const config = { data_dir: dir, peer_key: PEER_KEY };
      const first = await startTestMarket({ config, db: await durableDb(dir, schema), background: false });
      const res = await rpc(first.url, PEER_KEY, 'reputation.gossip', {
        entries: [{ provider_id: a, reputation_score: 250, epoch: 4 }],
      });
      expect(res.body).toEqual({ applied: 1, ignored: 0 });
      await first.close();

      const second = await startTestMarket({ config, db: await durableDb(dir, schema), background: false });
      try {
        expect(await loadReputation(second.market.db, a)).toMatchObject({ score: 250, epoch: 4 });
        const again = await rpc(second.url, PEER_KEY, 'reputation.gossip', {
          entries: [{ provider_id: a, reputation_score: 100, epoch: 4 }],
        });
        expect(again.body).toEqual({ applied: 0, ignored: 1 });
      } finally {
        await second.close();
      }
    },
    RESTART_TIMEOUT,
  );
});

describe('two markets', () => {
  let peer: TestMarket;
  beforeAll(async () => {
    peer = await startTestMarket({ config: { peer_key: PEER_KEY } });
  });
  afterAll(async () => {
    await peer?.close();
  });

  it('sync sends the snapshot: new scores applied, then ignored; a dead peer is reported', async () => {
    const a = addr();
    await saveReputation(tm.market.db, a, { score: 420, epoch: 7, updatedAtMs: tm.market.clock.nowMs() });
    const total = (await rpc<{ entries: GossipEntry[] }>(tm.url, OPERATOR_KEY, 'reputation.snapshot')).body
      .entries.length;

    const first = await rpc<{ peers: Record<string, unknown> }>(tm.url, OPERATOR_KEY, 'reputation.sync', {
      peers: [`${peer.url}/`],
    });
    expect(first.status).toBe(200);
    expect(first.body.peers).toEqual({ [peer.url]: { ok: true, applied: total, ignored: 0 } });
    expect(await loadReputation(peer.market.db, a)).toMatchObject({ score: 420, epoch: 7 });

    const second = await rpc<{ peers: Record<string, unknown> }>(tm.url, OPERATOR_KEY, 'reputation.sync', {
      peers: [peer.url, 'http://127.0.0.1:1'],
    });
    expect(second.body.peers[peer.url]).toEqual({ ok: true, applied: 0, ignored: total });
    expect(second.body.peers['http://127.0.0.1:1']).toMatchObject({ ok: false, error: expect.any(String) });

    const none = await rpc<{ error: { code: string } }>(tm.url, OPERATOR_KEY, 'reputation.sync');
    expect(none.status).toBe(400);
  });

  it('the sender splits a large snapshot and a wrong key is refused', async () => {
    const entries = Array.from({ length: 4_500 }, () => ({
      provider_id: addr(),
      reputation_score: 5,
      epoch: 1,
    }));
    expect(await sendGossip(peer.url, PEER_KEY, entries)).toEqual({ ok: true, applied: 4_500, ignored: 0 });
    const wrong = await sendGossip(peer.url, 'x'.repeat(40), entries.slice(0, 1));
    expect(wrong).toMatchObject({ ok: false, error: expect.stringMatching(/^unauthorized/) });
  });

  it(
    'a market with peers configured sends a round every reputation_gossip_interval_s',
    async () => {
      const sender = await startTestMarket({
        config: { peer_key: PEER_KEY, peers: `${peer.url}`, reputation_gossip_interval_s: 1 },
      });
      try {
        const a = addr();
        await saveReputation(sender.market.db, a, {
          score: -7,
          epoch: 2,
          updatedAtMs: sender.market.clock.nowMs(),
        });
        await expect
          .poll(async () => (await loadReputation(peer.market.db, a))?.score, { timeout: 10_000 })
          .toBe(-7);
      } finally {
        await sender.close();
      }
    },
    RESTART_TIMEOUT,
  );

  it.runIf(existsSync(BIN))('taskmarket reputation sync prints applied/ignored per peer', async () => {
    const a = addr();
    await saveReputation(tm.market.db, a, { score: 12, epoch: 1, updatedAtMs: tm.market.clock.nowMs() });
    const env = { TASKMARKET_URL: tm.url, TASKMARKET_API_KEY: OPERATOR_KEY };
    const res = await cli(['reputation', 'sync', '--peer', peer.url], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^${peer.url}: applied 1, ignored \\d+$`, 'm'));
    expect(await loadReputation(peer.market.db, a)).toMatchObject({ score: 12, epoch: 1 });

    const dead = await cli(['reputation', 'sync', '--peer', 'http://127.0.0.1:1'], env);
    expect(dead.code).toBe(1);
    expect(dead.stdout).toMatch(/^http:\/\/127\.0\.0\.1:1: failed: /m);
  });
});
