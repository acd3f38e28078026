// The gateway's sender to one worker: what it sends in one turn of the event loop leaves in one
// socket write, in order, and nothing waits past that turn.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { coalescingSender } from '../../src/api/gateway.js';
import type { MarketMessage } from '../../src/domain/schemas/worker.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A server whose one connection is handed to `use`, with a count of the socket's writes to the kernel. */
async function connect(use: (send: (m: MarketMessage) => void, writes: () => number) => void) {
  const wss = new WebSocketServer({ noServer: true });
  server = createServer();
  server.on('upgrade', (req, socket: Duplex, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Writable calls _write per unbuffered chunk and _writev once for what a cork held back.
      const s = socket as Duplex & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      let writes = 0;
      for (const name of ['_write', '_writev'] as const) {
        const original = s[name].bind(s);
        s[name] = (...a: unknown[]) => {
          writes++;
          original(...a);
        };
      }
      use(coalescingSender(ws, socket), () => writes);
      ws.on('close', () => wss.close());
    }),
  );
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/worker`);
  const received: string[] = [];
  client.on('message', (data) => received.push((JSON.parse(data.toString()) as { job_id: string }).job_id));
  return { client, received };
}

const cancel = (n: number): MarketMessage => ({ type: 'cancel', job_id: `j${n}`, reason: 'test' });

describe('the gateway sender', () => {
  it('sends the messages of one turn in one write, in order, and later ones too', async () => {
    let writesAfterBurst = 0;
    const { client, received } = await connect((send, writes) => {
      // A dispatch tick: twenty job messages with an await between each, as jobMessage has.
      void (async () => {
        for (let i = 0; i < 20; i++) send(await Promise.resolve(cancel(i)));
        setImmediate(() => {
          writesAfterBurst = writes();
          send(cancel(20));
        });
      })();
    });
    await expect.poll(() => received.length).toBe(21);
    expect(received).toEqual(Array.from({ length: 21 }, (_, i) => `j${i}`));
    expect(writesAfterBurst).toBe(1);
    client.close();
  });
});
