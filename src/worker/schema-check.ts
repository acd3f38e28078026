// Validation of the worker's own inputs (config, capability) with Ajv, as the API validates
// requests: the shared schemas use JSON Schema enums (StringEnum) that TypeBox's Value module
// cannot check. Defaults are filled in; types are never coerced, so `price_per_unit = 0.5` (a
// float) is an error, not a quietly rounded money string.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';

const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true, coerceTypes: false });
const compiled = new WeakMap<TSchema, ValidateFunction>();

/**
 * Checks (and fills defaults into) value; returns one "path: problem (got …)" line per bad path.
 * The branches of a union (a nullable field) report at one path; they are joined with "or".
 */
export function schemaProblems(schema: TSchema, value: unknown): string[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return [];
  const byPath = new Map<string, { messages: string[]; got: unknown; unknownKey: boolean }>();
  for (const e of validate.errors ?? []) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const extra = (e.params as { additionalProperty?: string }).additionalProperty;
    const pointer = extra !== undefined ? `${e.instancePath}/${extra}` : e.instancePath;
    const path = pointer.slice(1).replaceAll('/', '.') || '(root)';
    const entry = byPath.get(path) ?? {
      messages: [],
      got: at(value, pointer),
      unknownKey: extra !== undefined,
    };
    entry.messages.push(message(e));
    byPath.set(path, entry);
  }
  return [...byPath].map(([path, e]) =>
    e.unknownKey
      ? `${path}: unknown key`
      : `${path}: ${e.messages.join(' or ')} (got ${JSON.stringify(e.got)})`,
  );
}

function message(e: ErrorObject): string {
  const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
  return allowed
    ? `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`
    : (e.message ?? 'is invalid');
}

function at(root: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], root);
}
