// Webhook rules: how a delivery is signed, when a failed one is tried again, and which URLs and
// secrets a task may name. Pure: the market's delivery loop does the sending.
//
// A delivery goes pending → delivered (the receiver answered 2xx), or pending → failed after
// WEBHOOK_MAX_ATTEMPTS refusals; every attempt in between waits a doubling delay.

import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { FieldProblem } from './errors.js';

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'taskmarket-signature';
/** The delivery's id: the same on every retry of one delivery, so a receiver can drop repeats. */
export const DELIVERY_HEADER = 'taskmarket-delivery';
export const EVENT_HEADER = 'taskmarket-event';

export const WEBHOOK_MAX_ATTEMPTS = 15;
/**
 * How often the backstop sweep looks at a running task's webhook (its end normally queues the
 * delivery at once; the sweep finds an end no event announced, such as one before a restart).
 */
export const WEBHOOK_RECHECK_MS = 60_000;
const FIRST_RETRY_MS = 1000;
const LONGEST_WAIT_MS = 10 * 60_000;
export const WEBHOOK_URL_MAX = 2048;
export const WEBHOOK_SECRET_MIN = 16;
export const WEBHOOK_SECRET_MAX = 256;

/** The signed text: the timestamp, a dot, the exact body bytes (so a replayed body with a new time fails). */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = bytesToHex(hmac(sha256, utf8ToBytes(secret), utf8ToBytes(`${unixSeconds}.${body}`)));
  return `t=${unixSeconds},v1=${mac}`;
}

/** What a receiver runs: the header's MAC over its own timestamp and the body, compared in full. */
export function verifyWebhookSignature(secret: string, header: string, body: string): boolean {
  const t = /(?:^|,)t=(\d{1,12})(?:,|$)/.exec(header)?.[1];
  if (t === undefined) return false;
  return webhookSignature(secret, Number(t), body) === header;
}

/** The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s … at most 10 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(LONGEST_WAIT_MS, FIRST_RETRY_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}

/** Problems with a task's webhook fields, all of them: both or neither, an http(s) URL, a long secret. */
export function webhookProblems(url: string | undefined, secret: string | undefined): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (url === undefined && secret === undefined) return problems;
  if (url === undefined) problems.push({ path: '/webhook_url', message: 'is required with webhook_secret' });
  if (secret === undefined)
    problems.push({
      path: '/webhook_secret',
      message: 'is required with webhook_url: deliveries are signed with it (HMAC-SHA256)',
    });
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      problems.push({ path: '/webhook_url', message: 'must be an absolute http:// or https:// URL' });
    }
    if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      problems.push({ path: '/webhook_url', message: `must use http or https, not ${parsed.protocol}` });
    if (parsed && (parsed.username || parsed.password))
      problems.push({ path: '/webhook_url', message: 'must not carry a user name or password' });
  }
  return problems;
}
