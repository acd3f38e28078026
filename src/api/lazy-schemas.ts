// Route schemas compiled on each route's first use instead of when the node starts. Fastify
// compiles every route's request validators (Ajv) and response serializers
// (fast-json-stringify) before it listens: about a second of each start on a loaded 2-core
// machine, most of it for routes a given node may not see for hours. Here each route gets a
// stand-in that compiles the real function on its first call, and the serializer compiler's
// module is loaded only then too. compileAllSchemas (tests) forces what is still pending, so a
// schema that does not compile fails a test rather than a customer's first request.

import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler, FastifyServerOptions } from 'fastify';
import { coercingAjv, strictAjv } from './validation.js';

type CompilersFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;
type Serialize = (data: unknown) => string;
type SerializerFactory = (
  externalSchemas: unknown,
  options: unknown,
) => (route: { schema: unknown }) => Serialize;

/**
 * What Fastify calls. Its declared type for `buildValidator` is that of @fastify/ajv-compiler's
 * internals (a compiler taking a bare schema), hence the cast where it is handed over.
 */
interface Compilers {
  buildValidator(): FastifySchemaCompiler<FastifySchema>;
  buildSerializer(externalSchemas: unknown, options: unknown): (route: { schema: unknown }) => Serialize;
}

const require = createRequire(import.meta.url);

/** Fastify's own serializer compiler (fast-json-stringify), loaded on the first response that needs it. */
let defaultSerializers: SerializerFactory | undefined;
function serializerFactory(): SerializerFactory {
  return (defaultSerializers ??= (
    require('@fastify/fast-json-stringify-compiler') as { SerializerSelector: () => SerializerFactory }
  ).SerializerSelector());
}

/** Compilations still pending in each app (see lazySchemaCompilers). */
const pendingOf = new WeakMap<FastifyInstance, Set<() => unknown>>();

export interface LazySchemas {
  /** For Fastify's `schemaController.compilersFactory` option. */
  compilersFactory: CompilersFactory;
  /** Ties the pending compilations to the app built with them, for compileAllSchemas. */
  attach(app: FastifyInstance): void;
}

export function lazySchemaCompilers(): LazySchemas {
  const pending = new Set<() => unknown>();
  /** A compilation run once, on first need, then dropped from `pending`. */
  const once = <T>(make: () => T): (() => T) => {
    let made: { value: T } | undefined;
    const get = () => {
      if (!made) {
        made = { value: make() };
        pending.delete(get);
      }
      return made.value;
    };
    pending.add(get);
    return get;
  };
  const compilers: Compilers = {
    // Bodies strictly; query strings and path parameters, which arrive as text, coerced.
    buildValidator:
      () =>
      ({ schema, httpPart }) => {
        const ajv = httpPart === 'body' ? strictAjv : coercingAjv;
        const compiled = once(() => ajv.compile(schema as object));
        // Fastify reads `errors` off the function it was given, and hands Ajv's data context
        // (which lets defaults and coercion replace a root value) to one with a `schemaEnv`.
        const validate = (data: unknown, dataCxt?: Parameters<ValidateFunction>[1]): boolean => {
          const fn = compiled();
          const ok = fn(data, dataCxt);
          validate.errors = fn.errors;
          return ok;
        };
        validate.errors = null as ValidateFunction['errors'];
        validate.schemaEnv = true;
        return validate;
      },
    buildSerializer: (externalSchemas: unknown, options: unknown) => (route: { schema: unknown }) => {
      const compiled = once(() => serializerFactory()(externalSchemas, options)(route));
      return (data: unknown) => compiled()(data);
    },
  };
  return {
    compilersFactory: compilers as unknown as CompilersFactory,
    attach: (app) => pendingOf.set(app, pending),
  };
}

/** Compiles every schema of the app not compiled yet; returns how many it compiled. */
export function compileAllSchemas(app: FastifyInstance): number {
  const pending = [...(pendingOf.get(app) ?? [])];
  for (const compile of pending) compile();
  return pending.length;
}
