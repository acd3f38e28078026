// Request validation. Bodies are checked strictly: no type coercion, unknown fields rejected,
// nothing removed. Query strings and path parameters arrive as text, so those coerce.

import { Ajv, type ErrorObject } from 'ajv';
import type { FieldProblem } from '../domain/errors.js';

// allErrors: a request is answered with every problem it has, not just the first; verbose: a
// pattern's problem is told by the schema's description instead of the regular expression.
const common = {
  allErrors: true,
  verbose: true,
  strict: false,
  discriminator: true,
  useDefaults: true,
} as const;

/** What a pattern asks for, in words; keyed by the pattern itself. */
const PATTERN_WORDS: Record<string, string> = {
  '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$': 'must be a lowercase UUID',
  '^(0|[1-9][0-9]*)(\\.[0-9]+)?$': 'must be a decimal amount such as "10.0" (a string, no sign or exponent)',
  '^[0-9a-f]{64}$': 'must be 64 lowercase hex characters (a BLAKE3 hash)',
  '^[A-Za-z0-9+/]*={0,2}$': 'must be base64 (A–Z, a–z, 0–9, +, /, = padding)',
  '^(https?|s3|gs|ipfs)://[^\\s]+$': 'must be an http(s)://, s3://, gs:// or ipfs:// URL without spaces',
  '^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$': 'must be WIDTHxHEIGHT, e.g. "1920x1080"',
  '^[^\\u0000-\\u001f]+$': 'must not contain control characters',
  '^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$':
    'must start with a letter or digit and use only letters, digits and . _ : / @ + -',
  '^[A-Za-z0-9][A-Za-z0-9._/-]*$':
    'must start with a letter or digit and use only letters, digits and . _ / -',
  '^[A-Za-z0-9][A-Za-z0-9 ._:/@+-]*$':
    'must start with a letter or digit and use only letters, digits, spaces and . _ : / @ + -',
};

function patternWords(e: ErrorObject): string {
  const pattern = (e.params as { pattern?: string }).pattern ?? '';
  const known = PATTERN_WORDS[pattern];
  if (known) return known;
  const description = (e.parentSchema as { description?: unknown } | undefined)?.description;
  return typeof description === 'string' ? `must be ${description}` : 'is not in the expected form';
}
/** Bodies and worker messages: no coercion, nothing removed. */
export const strictAjv = new Ajv({ ...common, coerceTypes: false, removeAdditional: false });
/** Query strings and path parameters, which arrive as text. */
export const coercingAjv = new Ajv({ ...common, coerceTypes: true, removeAdditional: false });

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
    } else if (e.keyword === 'pattern') {
      message = patternWords(e);
    } else if (e.keyword === 'enum') {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    return { path: `${prefix}${path}`, message };
  });
}
