// Raw HTTP/1.1 over a socket, for what fetch will not send: a body announced but never sent,
// a malformed request line, oversized headers. Resolves with the answer once the server closes
// the connection or the announced body of the answer has arrived.

import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after answering. */
  closed: boolean;
}

export interface RawRequest {
  socket: Socket;
  /** Resolves with the answer. */
  answer: Promise<RawAnswer>;
}

function parse(text: string, closed: boolean): RawAnswer | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const body = text.slice(end + 4);
  const length = headers['content-length'];
  if (!closed && (length === undefined || Buffer.byteLength(body) < Number(length))) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body, closed };
}

/** Sends `head` (and `body`, if any) and leaves the socket open for more. */
export function rawRequest(url: string, head: string, body?: Uint8Array): RawRequest {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.on('error', () => {});
  let text = '';
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      const parsed = parse(text, closed);
      if (parsed) {
        done = true;
        resolve(parsed);
      } else if (closed) reject(new Error(`connection closed without an answer: ${JSON.stringify(text)}`));
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      finish(false);
    });
    socket.on('close', () => finish(true));
  });
  // A test that drops a request on purpose need not await its answer.
  answer.catch(() => {});
  socket.write(head);
  if (body) socket.write(body);
  return { socket, answer };
}

/** Whether the server closes the connection (resolves true) after it answered. */
export function closedAfter(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) resolve(true);
    else socket.once('close', () => resolve(true));
  });
}
