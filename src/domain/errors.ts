// The closed error catalogue: every error the market answers with has a code here,
// with its HTTP status and whether a client may retry the same request.

export const ERRORS = {
  validation_error: { status: 400, retryable: false },
  invalid_json: { status: 400, retryable: false },
  // The request itself is malformed: a bad URL escape, a request the HTTP parser refuses.
  bad_request: { status: 400, retryable: false },
  unauthorized: { status: 401, retryable: false },
  insufficient_funds: { status: 402, retryable: false },
  forbidden: { status: 403, retryable: false },
  not_found: { status: 404, retryable: false },
  method_not_found: { status: 404, retryable: false },
  method_not_allowed: { status: 405, retryable: false },
  already_done: { status: 409, retryable: false },
  idempotency_conflict: { status: 409, retryable: false },
  conflict: { status: 409, retryable: true },
  // Bid commit–reveal: revealed before two blocks follow the commitment's block (try again later),
  // or (salt, state) that do not hash to the commitment.
  reveal_too_early: { status: 409, retryable: true },
  commitment_mismatch: { status: 422, retryable: false },
  // A dispute of a result that cannot be disputed now (details.problem says why).
  not_disputable: { status: 409, retryable: false },
  request_timeout: { status: 408, retryable: true },
  payload_too_large: { status: 413, retryable: false },
  uri_too_long: { status: 414, retryable: false },
  unsupported_media_type: { status: 415, retryable: false },
  rate_limited: { status: 429, retryable: true },
  headers_too_large: { status: 431, retryable: false },
  // Industrial admission (spec "Fair-Share Caps and Burst Quotas"): the buyer is over its share.
  fair_share: { status: 429, retryable: true },
  burst_exhausted: { status: 429, retryable: true },
  internal: { status: 500, retryable: true },
  unavailable: { status: 503, retryable: true },
  // Industrial admission: too little provider capacity for batch work now.
  capacity: { status: 503, retryable: true },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export type ErrorDetails = Record<string, unknown>;

export class MarketError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.name = 'MarketError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** One field that failed validation, named by its JSON path ("/payload/max_tokens"). */
export interface FieldProblem {
  path: string;
  message: string;
}

export function validationError(problems: FieldProblem[]): MarketError {
  const first = problems[0];
  const message = first ? `${first.path || 'body'} ${first.message}` : 'invalid request';
  return new MarketError('validation_error', message, { problems });
}
