// A real market process SIGKILLed by the courier mid-send (issue #13): `taskmarket serve` with
// `chain` pointed at the CPC node double sends its outbox; the double takes the 15th transaction
// into its pool and holds the reply, and the process is killed right then, with a page of sends
// unrecorded and no block yet. Restarted on the same data, it sends those again (the same bytes)
// and settles every entry: the node double shows each transaction in a block exactly once
// (nonces 0…N−1, N distinct hashes) and every recipient paid exactly its amount once.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { DevChain } from '../../src/chain/dev-chain.js';
import { systemClock } from '../../src/domain/clock.js';
import { SigningKey } from '../../src/domain/signing-key.js';
import { ensureChainKey } from '../../src/market/chain-key.js';
import type { Db } from '../../src/store/db.js';
import { openDatabase } from '../../src/store/open.js';
import { insertDrafts } from '../../src/store/outbox.js';
import { addressOf } from '../chain/fixtures.js';
import { balanceOf, startMockNode, type MockNode } from '../chain/mock-node.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL, testDb } from '../helpers/db.js';
import { OPERATOR_KEY } from '../helpers/market.js';
import { startNode, type Node } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { TaskMarketClient } from '../../src/client/client.js';

const dir = mkdtempSync(join(tmpdir(), 'taskmarket-courier-kill-'));
const schema = freshSchema();
const N = 40;
let node: Node | undefined;
let double: MockNode | undefined;
let chain: DevChain | undefined;
let chainDb: Db | undefined;
let blocks: NodeJS.Timeout | undefined;

afterAll(async () => {
  clearInterval(blocks);
  await node?.stop('SIGKILL');
  await double?.close();
  await chain?.close();
  await chainDb?.close();
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(schema);
});

const amountOf = (n: number) => 10n ** 15n + BigInt(n);

it('loses no transaction and pays none twice when the market process is SIGKILLed between a send and its reply', async () => {
  const dataDir = join(dir, 'node');
  // The market's key and outbox, written before its first start: N payouts to N providers.
  const sender = new SigningKey(ensureChainKey(dataDir, systemClock)).address;
  const market = await openDatabase(
    TEST_DATABASE_URL ? { databaseUrl: TEST_DATABASE_URL, schema } : { dataDir },
  );
  await insertDrafts(
    market,
    Array.from({ length: N }, (_, n) => ({
      kind: 'TRANSFER' as const,
      dedup_key: `payout:kill:${n}`,
      draft: { type: 'transfer' as const, to: addressOf(0x600 + n), amount: amountOf(n).toString() },
    })),
    Date.now(),
  );
  await market.close();

  // The CPC node double (its own database), sealing a block every 200 ms.
  chainDb = await testDb();
  chain = await DevChain.open({ db: chainDb, clock: systemClock, chainId: 'cpc-devnet-1' });
  const genesis = new Map([[sender, 10n ** 24n]]);
  double = await startMockNode(chain, { genesis, db: chainDb });
  const theChain = chain;
  // The 15th send: the pool takes it and the reply never comes.
  double.afterSend.push(...Array<undefined>(14), 'hold');

  const start = () =>
    startNode(['--data-dir', dataDir, ...(TEST_DATABASE_URL ? ['--database-url', TEST_DATABASE_URL] : [])], {
      TASKMARKET_OPERATOR_KEY: OPERATOR_KEY,
      TASKMARKET_DATABASE_SCHEMA: TEST_DATABASE_URL ? schema : '',
      TASKMARKET_CHAIN: double!.url,
      TASKMARKET_COURIER_INTERVAL_MS: '100',
      TASKMARKET_COURIER_BATCH: '10',
      TASKMARKET_CHAIN_CONFIRMATIONS: '1',
    });
  node = await start();
  const theDouble = double;
  await until('the held send', async () => (theDouble.held === 1 ? true : undefined));
  expect(await node.stop('SIGKILL')).toBeNull();
  const sendsAtKill = double.requests.filter((q) => q.path === '/tx/send').length;
  expect(sendsAtKill).toBe(15);
  // No block yet: the restarted courier cannot find the sends it did not record, and sends them
  // again (the node answers already_in_pool). Blocks every 200 ms once it has.
  expect(await chain.pendingCount()).toBe(15);

  node = await start();
  await until('a send after the restart', async () =>
    theDouble.requests.filter((q) => q.path === '/tx/send').length > 15 ? true : undefined,
  );
  blocks = setInterval(() => void theChain.produceBlock().catch(() => undefined), 200);
  const operator = new TaskMarketClient({ url: node.url, apiKey: OPERATOR_KEY });
  const status = () =>
    operator.request<{ result: { outbox: Record<string, number> } }>('POST', '/rpc', {
      jsonrpc: '2.0',
      id: 1,
      method: 'compute.courier_status',
    });
  const outbox = await until(
    'every entry final',
    async () => {
      const s = (await status()).result.outbox;
      return s.final === N ? s : undefined;
    },
    180_000,
  );
  expect(outbox).toMatchObject({ final: N, failed: 0, held: 0, pending: 0 });

  // On the node: each transaction in a block once, each provider paid its amount once.
  const landed = await chainDb.query<{ tx_hash: string; nonce: number }>(
    'SELECT tx_hash, nonce::int AS nonce FROM chain_txs WHERE sender = $1 AND height IS NOT NULL ORDER BY nonce',
    [sender],
  );
  expect(landed.map((t) => t.nonce)).toEqual(Array.from({ length: N }, (_, i) => i));
  expect(new Set(landed.map((t) => t.tx_hash)).size).toBe(N);
  for (let n = 0; n < N; n++)
    expect(await balanceOf(chainDb, genesis, addressOf(0x600 + n), false)).toBe(amountOf(n));
  // Some were sent again after the restart (the unrecorded page): the same bytes, landed once.
  const sent = double.requests.filter((q) => q.path === '/tx/send');
  expect(sent.length).toBeGreaterThan(N);
  const signatures = new Set(sent.map((q) => (JSON.parse(q.body) as { signature: string }).signature));
  expect(signatures.size).toBe(N);
}, 300_000);
