// The result commit's common case in one round trip: one call of the commit_results function
// (migration 0090) with the whole planned batch as one jsonb argument.

import type { Queryable } from './db.js';

/** What the function raises when the batch is not what its plan assumed; it then wrote nothing. */
const DECLINED = 'commit_fast_path_declined';

/** The planned batch, as commit_results reads it (field by field in the migration). */
export interface PlannedCommit {
  now_ms: number;
  /** Task statuses a task completes from. */
  completable: readonly string[];
  /** The escrow account: refunds leave it. */
  escrow: string;
  journal_id: string;
  /** Provider accounts to create (each must be new), with a balance row in each asset. */
  accounts: readonly { address: string; account_id: string }[];
  account_assets: readonly string[];
  jobs: readonly object[];
  tasks: readonly object[];
  receipts: readonly object[];
  postings: readonly object[];
  payouts: readonly object[];
  drafts: readonly object[];
  reputation: readonly object[];
  counters: readonly object[];
}

/**
 * Commits a planned batch in one statement (atomic on its own: no BEGIN, no COMMIT). Returns
 * false when the database declined the plan (nothing written): the caller commits the long way.
 */
export async function commitPlanned(q: Queryable, batch: PlannedCommit): Promise<boolean> {
  try {
    await q.query(`SELECT commit_results($1::jsonb)`, [JSON.stringify(batch)]);
    return true;
  } catch (err) {
    if (err instanceof Error && err.message.includes(DECLINED)) return false;
    throw err;
  }
}
