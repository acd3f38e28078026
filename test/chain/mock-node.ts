// A small stand-in for the CPC node's HTTP API (ComputeChain blockchain/rpc/api.py), backed by
// a dev chain: POST /tx/send, GET /block/{h}, GET /status, answering in the node's own spelling
// (amounts in blocks as JSON numbers, rejections as 200 {"status": "rejected"}). Tests can queue
// overrides to make the next requests fail in chosen ways.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DevChain } from '../../src/chain/dev-chain.js';
import { parseJsonExact } from '../../src/chain/json.js';
import { decodeTx, txToWire } from '../../src/chain/wire.js';
import { txHash } from '../../src/domain/chain-tx.js';

export type Override = (req: IncomingMessage, res: ServerResponse) => void;

export interface MockNode {
  url: string;
  /** Handlers for the next requests, first in first used; the default behaviour after that. */
  overrides: Override[];
  requests: { method: string; path: string; body: string }[];
  close(): Promise<void>;
}

export async function startMockNode(chain: DevChain): Promise<MockNode> {
  const overrides: Override[] = [];
  const requests: MockNode['requests'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      const override = overrides.shift();
      if (override) return override(req, res);
      handle(chain, req.method ?? '', req.url ?? '', body).then(
        ([status, text]) => send(res, status, text),
        (err: unknown) => send(res, 500, JSON.stringify({ detail: String(err) })),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    overrides,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

async function handle(
  chain: DevChain,
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
    const out = await chain.submit(decoded.tx);
    if (out.accepted && !out.duplicate) return [200, JSON.stringify({ tx_hash: hash, status: 'received' })];
    const error = out.accepted ? 'already_in_pool' : out.error.split(':')[0];
    return [200, JSON.stringify({ tx_hash: hash, status: 'rejected', error })];
  }
  const m = /^\/block\/(\d+)$/.exec(path);
  if (method === 'GET' && m) {
    const block = await chain.getBlock(Number(m[1]));
    if (!block) return [404, JSON.stringify({ detail: 'Block not found' })];
    const json = JSON.stringify({
      header: block.header,
      txs: block.txs.map(txToWire),
      pq_signature: '',
      pq_sig_scheme_id: 1,
    });
    // The node's pydantic model writes amount and fee as JSON integers, however large.
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
        mempool_size: 0,
        epoch: 0,
      }),
    ];
  }
  return [404, JSON.stringify({ detail: 'Not Found' })];
}
