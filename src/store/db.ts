// The storage port: one narrow interface over the embedded PGlite and a real PostgreSQL.
// Both speak the PostgreSQL dialect; every query in src/store runs unchanged on either.

export type Row = Record<string, unknown>;

export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction: committed if fn resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** int8 comes back as a JS number (ids, seconds); numeric (money) stays a string for BigInt(). */
export function parseInt8(value: string): number {
  return Number(value);
}
