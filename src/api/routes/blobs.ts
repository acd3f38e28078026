// Blobs: content-addressed bytes (BLAKE3) for task inputs and job outputs. Knowing a blob's
// 256-bit hash is what lets a caller read it: hashes are only shown to the task's owner.
//
// An upload is read as a stream into a file (src/market/blobs.ts), only after the guard has
// authenticated its caller, and only while the caller has fewer than `blob_uploads_per_account`
// uploads in flight; an announced length over the limit is refused before a byte is read. Each
// refusal closes the connection, so the body is never taken in. A download streams the file.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { MarketError } from '../../domain/errors.js';
import { ErrorBody, Strict } from '../../domain/schemas/common.js';
import { receiveBlob, sendableBlob } from '../../market/blobs.js';
import type { Market } from '../../market/market.js';
import { principalOf, refuse } from '../guard.js';
import type { ApiMetrics } from '../metrics.js';

const BlobRef = Type.Object({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }), size: Type.Integer() });
const BlobParams = Strict({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }) });

export function blobRoutes(app: FastifyInstance, market: Market, metrics: ApiMetrics): void {
  const limit = market.config.blob_max_bytes;
  const perAccount = market.config.blob_uploads_per_account;
  const inFlight = new Map<string, number>();

  // In its own scope so that only /blobs takes application/octet-stream, and as a stream.
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

    scope.post(
      '/blobs',
      {
        config: { access: 'customer' },
        schema: {
          summary: 'Upload bytes (application/octet-stream); answers their BLAKE3 hash',
          tags: ['blobs'],
          response: {
            201: BlobRef,
            400: ErrorBody,
            401: ErrorBody,
            413: ErrorBody,
            415: ErrorBody,
            429: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const owner = principal.kind === 'customer' ? principal.accountId : null;
        const body = request.body as Partial<AsyncIterable<Uint8Array>> | undefined;
        if (typeof body?.[Symbol.asyncIterator] !== 'function')
          throw new MarketError('unsupported_media_type', 'send the bytes as application/octet-stream');
        const length = request.headers['content-length'];
        const announced = length === undefined ? undefined : Number(length);
        if (announced !== undefined && announced > limit)
          return refuse(
            request,
            reply,
            new MarketError('payload_too_large', `a blob may be at most ${limit} bytes`, {
              limit_bytes: limit,
            }),
          );
        const who = owner ?? 'operator';
        const running = inFlight.get(who) ?? 0;
        if (running >= perAccount)
          return refuse(
            request,
            reply,
            new MarketError(
              'rate_limited',
              `at most ${perAccount} uploads at a time per account; retry when one is done`,
              { retry_after_s: 1 },
            ),
          );
        inFlight.set(who, running + 1);
        metrics.uploadsInFlight.inc();
        try {
          const blob = await receiveBlob(market, body as AsyncIterable<Uint8Array>, owner, limit, announced);
          return await reply.status(201).send(blob);
        } catch (err) {
          // The rest of a refused upload is not read: the connection goes with the answer.
          void reply.header('connection', 'close');
          if (!(err instanceof MarketError) && !request.raw.complete)
            throw new MarketError('bad_request', 'the upload was cut off before its end');
          throw err;
        } finally {
          metrics.uploadsInFlight.dec();
          const left = (inFlight.get(who) ?? 1) - 1;
          if (left === 0) inFlight.delete(who);
          else inFlight.set(who, left);
        }
      },
    );
  });

  app.get<{ Params: { hash: string } }>(
    '/blobs/:hash',
    {
      config: { access: 'any' },
      schema: {
        summary: 'Download a blob by its hash',
        tags: ['blobs'],
        params: BlobParams,
        response: { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const blob = await sendableBlob(market, request.params.hash);
      if (!blob) throw new MarketError('not_found', `no blob ${request.params.hash}`);
      return reply
        .type('application/octet-stream')
        .header('content-length', blob.size)
        .send(blob.body instanceof Uint8Array ? Buffer.from(blob.body) : blob.body);
    },
  );
}
