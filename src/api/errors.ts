// One place turns any failure into the catalogue's JSON shape {"error":{code,message,details}}.
// Fastify's own errors (bad JSON, body too large, wrong media type, a bad URL escape, a too long
// path parameter) and the HTTP parser's (a malformed request, headers too large) map onto
// catalogue codes; nothing the node answers is in any other shape.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
};

/** A Fastify or Node error we do not know by code, by its status. */
const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  404: 'not_found',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
  503: 'unavailable',
};

export function toMarketError(err: unknown): MarketError {
  if (err instanceof MarketError) return err;
  const e = err as FastifyError & { validationContext?: string };
  if (e.validation)
    return validationError(fieldProblems(e.validation as never, e.validationContext ?? 'body'));
  const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return new MarketError(mapped, e.message);
  if (e instanceof SyntaxError)
    return new MarketError('invalid_json', `request body is not valid JSON: ${e.message}`);
  const byStatus = typeof e.statusCode === 'number' ? BY_STATUS[e.statusCode] : undefined;
  if (byStatus) return new MarketError(byStatus, e.message);
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

/** Fastify's frameworkErrors: a URL it cannot decode or route, answered in the catalogue shape. */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, toMarketError(err));
}

/**
 * Errors of the HTTP parser, before there is a request to answer (Fastify's clientErrorHandler):
 * a malformed request line or header, headers over the limit, a request that timed out. The
 * answer is written on the socket, which is then closed, as Node itself does.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request did not arrive in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request headers are too large']
        : [400, 'bad_request', `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}
