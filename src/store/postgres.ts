// The server backend: a pool of connections to a real PostgreSQL. Several market nodes may
// share one database; `schema` puts all tables of this node in one schema (tests use one each).

import pg from 'pg';
import { parseInt8, type Db, type Row, type Transaction } from './db.js';

const typeOverrides = new pg.TypeOverrides();
typeOverrides.setTypeParser(pg.types.builtins.INT8, parseInt8);

export interface PostgresOptions {
  url: string;
  schema?: string;
  poolSize?: number;
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    types: typeOverrides,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client that errors (server restart) must not crash the node; the pool replaces it.
  pool.on('error', () => {});
  if (options.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
  return {
    kind: 'postgres',
    query: async <R extends Row>(sql: string, params?: readonly unknown[]) =>
      (await pool.query<R>(sql, params as unknown[])).rows,
    async transaction(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(fn);
        } catch (err) {
          // A deadlock or serialization failure rolled everything back: the work can run again.
          const code = (err as { code?: string }).code;
          if (attempt >= 3 || (code !== '40P01' && code !== '40001')) throw err;
        }
      }
    },
    close: () => pool.end(),
  };

  async function once<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn({
        query: async <R extends Row>(sql: string, params?: readonly unknown[]) =>
          (await client.query<R>(sql, params as unknown[])).rows,
        // Without parameters node-postgres sends the simple query protocol: several statements.
        script: async (sql: string) => {
          await client.query(sql);
        },
      });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
}
