// Request validation. Bodies are checked strictly: no type coercion, unknown fields rejected,
// nothing removed. Query strings and path parameters arrive as text, so those coerce.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import type { FieldProblem } from '../domain/errors.js';

const common = { allErrors: false, strict: false, discriminator: true, useDefaults: true } as const;
/** Bodies and worker messages: no coercion, nothing removed. */
export const strictAjv = new Ajv({ ...common, coerceTypes: false, removeAdditional: false });
const coercingAjv = new Ajv({ ...common, coerceTypes: true, removeAdditional: false });

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({
  schema,
  httpPart,
}): ValidateFunction => (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema as object);

/** Turns Ajv's errors into field problems that name the JSON path of the bad field. */
export function fieldProblems(errors: readonly ErrorObject[], part: string): FieldProblem[] {
  const prefix = part === 'body' ? '' : `${part}:`;
  return errors.map((e) => {
    let path = e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      path = `${path}/${String((e.params as { additionalProperty: string }).additionalProperty)}`;
      message = 'is not a known field';
    } else if (e.keyword === 'required') {
      path = `${path}/${String((e.params as { missingProperty: string }).missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'discriminator') {
      const p = e.params as { tag: string; tagValue?: unknown; error: string };
      path = `${path}/${p.tag}`;
      message =
        p.error === 'mapping'
          ? `must be one of the known challenge types (got ${JSON.stringify(p.tagValue)})`
          : 'must be a string naming the challenge type';
    } else if (e.keyword === 'maxProperties' || e.keyword === 'minProperties') {
      message = 'must have exactly one of `input` (base64) or `input_blob` (blob hash)';
    } else if (e.keyword === 'enum') {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    return { path: `${prefix}${path}`, message };
  });
}
