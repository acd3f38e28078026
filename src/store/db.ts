// The storage port: one narrow interface over the embedded PGlite and a real PostgreSQL.
// Both speak the PostgreSQL dialect; every query in src/store runs unchanged on either.

export type Row = Record<string, unknown>;

export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** A transaction also runs whole scripts: a migration file is sent as it is, never split. */
export interface Transaction extends Queryable {
  /** Runs a script of any number of statements, without parameters (the simple query protocol). */
  script(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction: committed if fn resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** int8 comes back as a JS number (ids, seconds); numeric (money) stays a string for BigInt(). */
export function parseInt8(value: string): number {
  return Number(value);
}
