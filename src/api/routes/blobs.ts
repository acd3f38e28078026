// Blobs: content-addressed bytes (BLAKE3) for task inputs and job outputs. Knowing a blob's
// 256-bit hash is what lets a caller read it: hashes are only shown to the task's owner.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { MarketError } from '../../domain/errors.js';
import { blake3HexLarge } from '../../domain/hash.js';
import { unixSeconds } from '../../domain/clock.js';
import { ErrorBody, Strict } from '../../domain/schemas/common.js';
import type { Market } from '../../market/market.js';
import { getBlob, putBlob } from '../../store/providers.js';
import { authenticate } from '../auth.js';

const BlobRef = Type.Object({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }), size: Type.Integer() });
const BlobParams = Strict({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }) });

export function blobRoutes(app: FastifyInstance, market: Market): void {
  const limit = market.config.blob_max_bytes;
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: limit },
    (_req, body, done) => done(null, body),
  );

  app.post(
    '/blobs',
    {
      bodyLimit: limit,
      schema: {
        summary: 'Upload bytes (application/octet-stream); answers their BLAKE3 hash',
        tags: ['blobs'],
        response: { 201: BlobRef, 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 415: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(market, request, 'customer');
      if (!Buffer.isBuffer(request.body))
        throw new MarketError('unsupported_media_type', 'send the bytes as application/octet-stream');
      const bytes = request.body;
      const hash = await blake3HexLarge(bytes);
      await putBlob(
        market.db,
        hash,
        bytes,
        principal.kind === 'customer' ? principal.accountId : null,
        unixSeconds(market.clock),
      );
      return reply.status(201).send({ hash, size: bytes.byteLength });
    },
  );

  app.get<{ Params: { hash: string } }>(
    '/blobs/:hash',
    {
      schema: {
        summary: 'Download a blob by its hash',
        tags: ['blobs'],
        params: BlobParams,
        response: { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await authenticate(market, request, 'any');
      const bytes = await getBlob(market.db, request.params.hash);
      if (!bytes) throw new MarketError('not_found', `no blob ${request.params.hash}`);
      return reply.type('application/octet-stream').send(Buffer.from(bytes));
    },
  );
}
