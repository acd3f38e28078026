// A real HTTP server that takes webhook deliveries: it records each one and answers with the
// statuses a test scripts (then 200), so retries and signatures are seen as a customer sees them.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  private server: Server | undefined;
  private waiters: { n: number; resolve: () => void }[] = [];

  /** `statuses`: the answers to the first deliveries, in order; every later one gets 200. */
  constructor(private readonly statuses: number[] = []) {}

  async listen(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const status = this.statuses.shift() ?? 200;
        this.received.push({ headers: req.headers, body, status });
        res.writeHead(status).end();
        for (const w of this.waiters.filter((w) => this.received.length >= w.n)) w.resolve();
        this.waiters = this.waiters.filter((w) => this.received.length < w.n);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Resolves once `n` deliveries arrived. */
  count(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A port nothing listens on now (bound, then freed). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
