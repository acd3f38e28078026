// Schemas shared by every endpoint. They validate requests (the API compiles them with Ajv),
// document them (OpenAPI is generated from them) and type the client (Static<>).

import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const Uuid = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'a lowercase UUID',
});

/** An exact decimal amount of an asset; never a JSON number, so no float ever touches money. */
export const Amount = Type.String({
  pattern: '^(0|[1-9][0-9]*)(\\.[0-9]+)?$',
  maxLength: 80,
  description: 'a decimal string in whole units, e.g. "10.0"; at most 18 decimal places',
  examples: ['10.0'],
});

export const UnixSeconds = Type.Integer({
  minimum: 0,
  maximum: 253402300799,
  description: 'unix time, seconds',
});

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'a code from the error catalogue' }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { $id: 'Error', description: 'every error the market answers with' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** A closed object: unknown fields are an error, never silently dropped. */
export function Strict<T extends Parameters<typeof Type.Object>[0]>(properties: T, options: object = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** A string from a fixed list, as a plain JSON Schema enum (clear errors, clear docs). */
export function StringEnum<T extends readonly string[]>(values: T, options: object = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}
