// A double of the CPC node's HTTP API, for tests and bench/settlement (ComputeChain blockchain/rpc/api.py at b15c176), built
// from the exchanges recorded in shared/cpc-node (smoke-transcript.json, market-run/), backed by
// a dev chain, which behaves like the node's pool and proposer (src/chain/dev-chain.ts):
//   POST /tx/send          200 {"tx_hash", "status": "received"} or {"tx_hash", "status": "rejected",
//                          "error"}: nonce_too_low for a transaction a block holds, sent again;
//                          already_in_pool; insufficient_balance (with `genesis` balances)
//   GET  /block/{h}        the node's block JSON (amounts and fees as JSON integers, no timestamp,
//                          pq_signature), 404 {"detail": "Block not found"}
//   GET  /status           {"height", "last_hash", "network", "mempool_size", "epoch"}
//   GET  /balance/{a}      {"address", "balance" (decimal string), "nonce"}
//   GET  /nonce/{a}?pending=true   {"address", "nonce", "pending": true}
//                          (with unknownAccount 'not_found', both 404 for an account never seen)
//   GET  /tx/{h}/receipt   always {"status": "pending", "block_height": null}: the node's bug
// Controls: `down` (every connection is cut, as a node that is not there), `overrides` (handlers
// for the next requests), `dropBlocks` (a reorganisation), and `afterSend` (what the next /tx/send does once the pool has the
// transaction: lose the reply, or answer 400 as the node can after a pool add).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DevChain } from './dev-chain.js';
import { parseJsonExact } from './json.js';
import { decodeTx, txToWire } from './wire.js';
import { txHash, type SignedTx } from '../domain/chain-tx.js';
import type { Queryable } from '../store/db.js';

export type Override = (req: IncomingMessage, res: ServerResponse) => void;

/** What happens to the reply of a /tx/send after the pool took the transaction. */
export type AfterSend = 'lose_reply' | 'bad_request' | 'hold';

export interface MockNodeOptions {
  /** Starting balances (base units); with them the node refuses spends past a balance. */
  genesis?: Map<string, bigint>;
  /** The dev chain's database, for balances (required with genesis). */
  db?: Queryable;
  /**
   * 'not_found': /balance and /nonce of an account the chain has never seen (no genesis balance,
   * nothing sent, nothing received) answer 404 {"detail": "Account not found"}, as a node may;
   * default 'zero': 200 with nonce 0 (what ComputeChain b15c176's get_account gives).
   */
  unknownAccount?: 'zero' | 'not_found';
}

export interface MockNode {
  url: string;
  /** Handlers for the next requests, first in first used; the default behaviour after that. */
  overrides: Override[];
  /**
   * For the next /tx/send calls, in order: what happens after the pool takes the transaction:
   * the reply is lost (connection cut), answered 400, or held (never answered: the sender is
   * left waiting, e.g. to be killed between a send and its reply; `held` counts them).
   */
  afterSend: (AfterSend | undefined)[];
  /** Replies held so far ('hold'). */
  held: number;
  /** True: every connection is cut before an answer (the node is down). */
  down: boolean;
  requests: { method: string; path: string; body: string }[];
  /**
   * A reorganisation: the node drops its blocks from `height` up (their transactions back in the
   * pool with `requeue`, else lost); its next block is sealed at `height`. Returns the transactions moved.
   */
  dropBlocks(height: number, opts: { requeue: boolean }): Promise<number>;
  close(): Promise<void>;
}

/** The recorded node's proposer (smoke-transcript.json): give it to the dev chain behind the double. */
export const NODE_PROPOSER = 'cpcvalcons1ntax6c87sxtc5l0yxjszjyxnq9djwuyauj3jmf';

export async function startMockNode(chain: DevChain, opts: MockNodeOptions = {}): Promise<MockNode> {
  const node: MockNode = {
    url: '',
    overrides: [],
    afterSend: [],
    held: 0,
    down: false,
    requests: [],
    dropBlocks: (height, o) => chain.dropBlocksFrom(height, o),
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      node.requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      if (node.down) {
        req.socket.destroy();
        return;
      }
      const override = node.overrides.shift();
      if (override) return override(req, res);
      const isSend = req.method === 'POST' && req.url === '/tx/send';
      const after = isSend ? node.afterSend.shift() : undefined;
      handle(chain, opts, req.method ?? '', req.url ?? '', body).then(
        ([status, text]) => {
          if (after === 'lose_reply') req.socket.destroy();
          else if (after === 'hold') node.held++;
          else if (after === 'bad_request') send(res, 400, JSON.stringify({ detail: 'Bad Request' }));
          else send(res, status, text);
        },
        (err: unknown) => send(res, 500, JSON.stringify({ detail: String(err) })),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  node.url = `http://127.0.0.1:${port}`;
  node.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return node;
}

export function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

async function handle(
  chain: DevChain,
  opts: MockNodeOptions,
  method: string,
  path: string,
  body: string,
): Promise<[number, string]> {
  if (method === 'POST' && path === '/tx/send') {
    let decoded;
    try {
      decoded = decodeTx(parseJsonExact(body));
    } catch {
      return [400, JSON.stringify({ detail: 'Invalid transaction format' })];
    }
    if (!decoded.ok) return [400, JSON.stringify({ detail: decoded.error })];
    const hash = txHash(decoded.tx);
    const rejected = (error: string): [number, string] => [
      200,
      JSON.stringify({ tx_hash: hash, status: 'rejected', error }),
    ];
    if (opts.genesis && opts.db && decoded.tx.nonce >= (await chain.account(decoded.tx.from_address)).nonce) {
      const spendable = await balanceOf(opts.db, opts.genesis, decoded.tx.from_address, true);
      const cost = decoded.tx.amount + decoded.tx.fee;
      if (spendable < cost) return rejected('insufficient_balance');
    }
    const out = await chain.submit(decoded.tx);
    if (out.accepted && !out.duplicate) return [200, JSON.stringify({ tx_hash: hash, status: 'received' })];
    if (out.accepted) return rejected('already_in_pool');
    if (out.retryable && out.error === 'queued_limit_exceeded') return rejected('queued_limit_exceeded');
    return rejected(out.error.split(':')[0] as string);
  }
  let m = /^\/block\/(\d+)$/.exec(path);
  if (method === 'GET' && m) {
    const block = await chain.getBlock(Number(m[1]));
    if (!block) return [404, JSON.stringify({ detail: 'Block not found' })];
    const json = JSON.stringify({
      header: { ...block.header, zk_state_proof_hash: null, zk_compute_proof_hash: null },
      txs: block.txs.map((tx) => {
        // The node does not echo the timestamp and writes amounts as JSON integers.
        const { timestamp: _t, ...wire } = txToWire(tx);
        return wire;
      }),
      pq_signature: 'e8'.repeat(64),
      pq_sig_scheme_id: 1,
    });
    return [200, json.replace(/"(amount|fee)":"(\d+)"/g, '"$1":$2')];
  }
  if (method === 'GET' && path === '/status') {
    const head = await chain.head();
    return [
      200,
      JSON.stringify({
        height: head.height,
        last_hash: head.hash,
        network: 'devnet',
        mempool_size: await chain.pendingCount(),
        epoch: 0,
      }),
    ];
  }
  m = /^\/(balance|nonce)\/([^/?]+)/.exec(path);
  if (method === 'GET' && m && opts.unknownAccount === 'not_found') {
    if (!(await isKnown(chain, opts, decodeURIComponent(m[2] as string))))
      return [404, JSON.stringify({ detail: 'Account not found' })];
  }
  m = /^\/balance\/([^/?]+)$/.exec(path);
  if (method === 'GET' && m) {
    const address = decodeURIComponent(m[1] as string);
    const account = await chain.account(address);
    const balance =
      opts.genesis && opts.db ? await balanceOf(opts.db, opts.genesis, address, false) : 10n ** 24n;
    return [200, JSON.stringify({ address, balance: balance.toString(), nonce: account.nonce })];
  }
  m = /^\/nonce\/([^/?]+)\?pending=true$/.exec(path);
  if (method === 'GET' && m) {
    const address = decodeURIComponent(m[1] as string);
    const account = await chain.account(address);
    return [200, JSON.stringify({ address, nonce: account.pendingNonce, pending: true })];
  }
  m = /^\/tx\/([0-9a-f]{64})\/receipt$/.exec(path);
  if (method === 'GET' && m)
    return [
      200,
      JSON.stringify({ tx_hash: m[1], status: 'pending', block_height: null, timestamp: 0, error: null }),
    ];
  return [404, JSON.stringify({ detail: 'Not Found' })];
}

/** Whether the chain has seen `address`: a genesis balance, a transaction from it, or a TRANSFER to it. */
async function isKnown(chain: DevChain, opts: MockNodeOptions, address: string): Promise<boolean> {
  if (opts.genesis?.has(address)) return true;
  if ((await chain.account(address)).pendingNonce > 0) return true;
  if (!opts.db) return false;
  const rows = await opts.db.query(
    `SELECT 1 FROM chain_txs WHERE tx_type = 'TRANSFER' AND body LIKE $1 LIMIT 1`,
    [`%"to_address":"${address}"%`],
  );
  return rows.length > 0;
}

/**
 * An account's balance on the double: genesis, less what its included transactions spent
 * (amount + fee), plus TRANSFERs included to it; `withPool` also takes off what it has pooled.
 */
export async function balanceOf(
  db: Queryable,
  genesis: Map<string, bigint>,
  address: string,
  withPool: boolean,
): Promise<bigint> {
  let balance = genesis.get(address) ?? 0n;
  const rows = await db.query<{ body: string; sender: string; included: boolean }>(
    `SELECT body, sender, height IS NOT NULL AS included FROM chain_txs
     WHERE (sender = $1 OR (tx_type = 'TRANSFER' AND body LIKE $2)) AND (height IS NOT NULL OR $3::boolean)`,
    [address, `%"to_address":"${address}"%`, withPool],
  );
  for (const r of rows) {
    const d = decodeTx(JSON.parse(r.body));
    if (!d.ok) continue;
    const tx: SignedTx = d.tx;
    if (tx.from_address === address) balance -= tx.amount + tx.fee;
    if (r.included && tx.tx_type === 'TRANSFER' && tx.to_address === address) balance += tx.amount;
  }
  return balance;
}
