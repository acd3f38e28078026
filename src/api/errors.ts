// One place turns any failure into the catalogue's JSON shape {"error":{code,message,details}}.
// Fastify's own errors (bad JSON, body too large, wrong media type) map onto catalogue codes.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, MarketError, validationError, type ErrorCode } from '../domain/errors.js';
import { fieldProblems } from './validation.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
};

export function toMarketError(err: unknown): MarketError {
  if (err instanceof MarketError) return err;
  const e = err as FastifyError & { validationContext?: string };
  if (e.validation)
    return validationError(fieldProblems(e.validation as never, e.validationContext ?? 'body'));
  const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return new MarketError(mapped, e.message);
  if (e instanceof SyntaxError || e.statusCode === 400)
    return new MarketError('invalid_json', `request body is not valid JSON: ${e.message}`);
  if (e.statusCode === 413) return new MarketError('payload_too_large', e.message);
  if (e.statusCode === 415) return new MarketError('unsupported_media_type', e.message);
  return new MarketError('internal', 'internal error');
}

export function sendError(reply: FastifyReply, error: MarketError): FastifyReply {
  const body: { code: string; message: string; details?: Record<string, unknown> } = {
    code: error.code,
    message: error.message,
  };
  if (error.details) body.details = error.details;
  const retryAfter = error.details?.retry_after_s;
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
  return reply.status(ERRORS[error.code].status).send({ error: body });
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = toMarketError(err);
  if (error.code === 'internal') request.log.error({ err }, 'request failed');
  return sendError(reply, error);
}
