// Exit codes of every `taskmarket` client command: one per error family, documented in README.

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  not_found: 3,
  already_done: 4,
  insufficient_funds: 5,
  unauthorized: 6,
  conflict: 7,
  unavailable: 8,
  rate_limited: 9,
} as const;

export function exitCodeFor(errorCode: string): number {
  switch (errorCode) {
    case 'validation_error':
    case 'invalid_json':
    case 'payload_too_large':
    case 'unsupported_media_type':
    case 'bad_request':
    case 'uri_too_long':
    case 'headers_too_large':
      return EXIT.usage;
    case 'not_found':
    case 'method_not_found':
      return EXIT.not_found;
    case 'already_done':
      return EXIT.already_done;
    case 'insufficient_funds':
      return EXIT.insufficient_funds;
    case 'unauthorized':
    case 'forbidden':
      return EXIT.unauthorized;
    case 'conflict':
    case 'idempotency_conflict':
      return EXIT.conflict;
    case 'unavailable':
    case 'capacity':
    case 'request_timeout':
      return EXIT.unavailable;
    case 'rate_limited':
    case 'fair_share':
    case 'burst_exhausted':
      return EXIT.rate_limited;
    default:
      return EXIT.failure;
  }
}
