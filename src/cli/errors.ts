// One line per failure on stderr: what went wrong, every problem of a refused request, and what
// to do next. The exit code says which family of error it was (exit-codes.ts).

import type { ApiError } from '../client/client.js';

const HINTS: Record<string, string> = {
  validation_error: 'fix them and run the command again',
  invalid_json: 'check the JSON given to --payload or --requirements',
  unauthorized: 'pass an API key with --api-key or TASKMARKET_API_KEY',
  forbidden: 'use a key with the right role (a customer key, or the operator key)',
  insufficient_funds: 'fund the account (`taskmarket account fund`) or lower --reward',
  payload_too_large:
    'send a large input with --input FILE (it is uploaded as a blob) or `taskmarket blob put`',
  rate_limited: 'wait a moment and retry',
  fair_share: 'wait for some of your running work to finish, or retry later',
  burst_exhausted: 'wait for the burst allowance to refill, or retry later',
  capacity: 'no provider can take this work now; retry later or ask the operator',
  idempotency_conflict: 'use a new --idempotency-key for a different request',
  already_done: 'nothing left to do: it has already ended',
  not_found: 'check the id (a customer sees only its own tasks)',
};

export function describeApiError(err: ApiError): string {
  const problems = err.details?.problems;
  let what = err.message;
  if (err.code === 'validation_error' && Array.isArray(problems) && problems.length > 0) {
    const list = (problems as { path?: string; message?: string }[]).map(
      (p) => `${p.path || 'body'} ${p.message ?? 'is invalid'}`,
    );
    what = `${list.length === 1 ? 'the request has a problem' : `the request has ${list.length} problems`}: ${list.join('; ')}`;
  }
  const retry = err.details?.retry_after_s;
  const hint =
    HINTS[err.code] && typeof retry === 'number' ? `retry in ${retry} s` : (HINTS[err.code] ?? undefined);
  return `error: ${what}${hint ? ` — ${hint}` : ''}`;
}
