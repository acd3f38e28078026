// The OpenAPI document, completed where route schemas cannot speak for themselves:
// - every answer the gate (guard.ts) and Fastify give on any route is listed on each route it
//   applies to: 400 for bad input, 401/403/429 where a key is needed, 413 and 415 for bodies,
//   503 while the node shuts down; a public route says so with `security: []`;
// - the streamed bodies of /blobs (raw bytes, no JSON schema to validate them with);
// - the shapes a reader needs by name are components (Task, Job, Error, …), and every place a
//   route repeats one points to it ($ref) instead.

import type { TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { AccountCreated, AccountView, LedgerReport } from '../domain/schemas/accounts.js';
import { Capability, Requirements } from '../domain/schemas/capability.js';
import { ErrorBody } from '../domain/schemas/common.js';
import { OfferList, OfferView } from '../domain/schemas/offers.js';
import { ProviderView } from '../domain/schemas/providers.js';
import { JobEvent, ProgressEvent, ResultEvent } from '../domain/schemas/task-events.js';
import {
  CancelTaskResponse,
  CreateTaskResponse,
  CreateTasksResponse,
  DisputeList,
  DisputeView,
  JobView,
  ListTasksResponse,
  TaskJobsResponse,
  TaskView,
} from '../domain/schemas/tasks.js';

/** Named shapes, in the order they are tried: larger ones first, so a Task is not seen as parts. */
export const NAMED_SCHEMAS: Record<string, TSchema> = {
  TaskResultEvent: ResultEvent,
  TaskJobs: TaskJobsResponse,
  TaskList: ListTasksResponse,
  TasksCreated: CreateTasksResponse,
  Task: TaskView,
  Job: JobView,
  TaskCreated: CreateTaskResponse,
  TaskCancelled: CancelTaskResponse,
  Disputes: DisputeList,
  Dispute: DisputeView,
  TaskJobEvent: JobEvent,
  TaskProgressEvent: ProgressEvent,
  OfferList,
  Offer: OfferView,
  Provider: ProviderView,
  Account: AccountView,
  AccountCreated,
  LedgerReport,
  Capability,
  Requirements,
  BlobRef: Type.Object({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }), size: Type.Integer() }),
  Error: ErrorBody,
};

const BYTES = { type: 'string', format: 'binary' };

type Json = Record<string, unknown>;

/** Per route: the statuses every route of its kind can answer. */
export const transform: NonNullable<FastifyDynamicSwaggerOptions['transform']> = ({ schema, url, route }) => {
  const s = { ...(schema as Json) } as Json & { response?: Json };
  const access = (route.config as { access?: string } | undefined)?.access;
  const response: Json = { ...(s.response ?? {}) };
  // A route that declares no answer (a page, a file) answers 200, as the document said before
  // the errors below were added to it.
  if (!Object.keys(response).some((status) => status.startsWith('2')))
    response[200] = { description: typeof s.summary === 'string' ? s.summary : 'success' };
  const add = (status: number, description: string) => {
    if (!(String(status) in response))
      response[status] = { description, content: { 'application/json': { schema: plain(ErrorBody) } } };
  };
  const hasInput = s.body !== undefined || s.params !== undefined || s.querystring !== undefined;
  if (hasInput) add(400, 'the request is invalid: `details.problems` lists every problem');
  const method = Array.isArray(route.method) ? route.method : [route.method];
  if (s.body !== undefined || method.includes('POST') || method.includes('PUT')) {
    add(413, 'the body is over the size limit');
    add(415, 'the body is not JSON (or not octet-stream for /blobs), or is encoded');
  }
  if (access !== undefined) {
    add(401, 'no API key, or an unknown one');
    if (access !== 'any' && access !== 'rpc') add(403, 'a key of the wrong role');
    add(429, 'over the rate limit; Retry-After says when to retry');
  } else if (!('security' in s)) s.security = [];
  add(503, 'the node is shutting down');
  s.response = response;
  return { schema: s as typeof schema, url };
};

/** The whole document: streamed bodies of /blobs, named components, $refs in their places. */
export const transformObject: NonNullable<FastifyDynamicSwaggerOptions['transformObject']> = (input) => {
  const doc = structuredClone(('openapiObject' in input ? input.openapiObject : input.swaggerObject) as Json);
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const upload = paths['/blobs']?.post;
  if (upload)
    upload.requestBody = { required: true, content: { 'application/octet-stream': { schema: BYTES } } };
  const download = paths['/blobs/{hash}']?.get;
  if (download)
    (download.responses as Json)['200'] = {
      description: 'the bytes of the blob',
      content: { 'application/octet-stream': { schema: BYTES } },
    };
  const components = (doc.components ?? {}) as Json;
  const named = Object.entries(NAMED_SCHEMAS).map(([name, schema]) => ({
    name,
    key: canonical(plain(schema)),
  }));
  const schemas: Json = {};
  for (const [name, schema] of Object.entries(NAMED_SCHEMAS))
    schemas[name] = refer(plain(schema), named, name);
  // Schemas Fastify registered by $id (the error body) are the named ones already.
  const renamed = new Map<string, string>();
  for (const [id, schema] of Object.entries((components.schemas ?? {}) as Json)) {
    const match = named.find((n) => n.key === canonical(schema));
    if (match) renamed.set(`#/components/schemas/${id}`, `#/components/schemas/${match.name}`);
    else schemas[id] = schema;
  }
  doc.components = { ...components, schemas };
  doc.paths = refer(paths, named, undefined, renamed);
  return doc;
};

/**
 * The schema as JSON, in the form the document holds it: TypeBox's symbols and `$id` dropped (the
 * component's name replaces it), a record's catch-all pattern as `additionalProperties`.
 */
function plain(schema: TSchema): Json {
  const { $id: _, ...rest } = JSON.parse(JSON.stringify(schema)) as Json;
  return documented(rest) as Json;
}

function documented(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(documented);
  if (v === null || typeof v !== 'object') return v;
  const { patternProperties, ...rest } = v as Json;
  const out = Object.fromEntries(Object.entries(rest).map(([k, x]) => [k, documented(x)]));
  const anything = (patternProperties as Json | undefined)?.['^(.*)$'];
  if (anything !== undefined) out.additionalProperties = documented(anything);
  else if (patternProperties !== undefined) out.patternProperties = documented(patternProperties);
  return out;
}

/** JSON with keys sorted, `$id` and `title` left out: schemas that differ only so compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const entries = Object.entries(value as Json)
    .filter(([k, v]) => k !== '$id' && k !== 'title' && v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** Replaces every sub-schema equal to a named one with a $ref to it (but not `self` at the top). */
function refer<T>(
  value: T,
  named: readonly { name: string; key: string }[],
  self?: string,
  renamed: ReadonlyMap<string, string> = new Map(),
): T {
  const walk = (v: unknown, top: boolean): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, false));
    if (v === null || typeof v !== 'object') return v;
    const obj = v as Json;
    if (typeof obj.$ref === 'string' && renamed.has(obj.$ref)) return { ...obj, $ref: renamed.get(obj.$ref) };
    if (!top && (obj.type === 'object' || obj.oneOf || obj.anyOf)) {
      const key = canonical(obj);
      const match = named.find((n) => n.key === key && n.name !== self);
      if (match) return { $ref: `#/components/schemas/${match.name}` };
    }
    return Object.fromEntries(Object.entries(obj).map(([k, x]) => [k, walk(x, false)]));
  };
  return walk(value, true) as T;
}
