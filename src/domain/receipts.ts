// Receipts: the record that a job was done at a price, its idempotency key and its stored form.
// The key is what makes settlement exactly-once: the store keeps it under a unique index, so a
// replayed receipt (a retry, a restart, a second node) collides and is ignored.
//
// Key encoding (spec: BLAKE3(job_id || buyer || provider || quote_price || units || version)):
// the six fields in that order, each as the UTF-8 bytes of its canonical text, each preceded by
// its byte length as a 4-byte big-endian integer. Length prefixes make the concatenation
// unambiguous without reserving a separator character (job "ab"+buyer "c" ≠ job "a"+buyer "bc").
// Numbers are plain decimal (quote_price in base units), so each has exactly one spelling.
// issued_at is deliberately left out: the same job re-issued later is the same receipt.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MAX_AMOUNT } from './money.js';

export const RECEIPT_VERSION = 1;

export interface Receipt {
  version: 1;
  job_id: string;
  /** The paying account. */
  buyer: string;
  /** The provider's `cpc1…` address. */
  provider: string;
  /** Price per unit, bigint base units. */
  quote_price: bigint;
  /** Compute units done. */
  units: number;
  /** Unix seconds. */
  issued_at: number;
  /** BLAKE3 of the fields above (less issued_at), lowercase hex. */
  idempotency_key: string;
}

export type ReceiptFields = Omit<Receipt, 'version' | 'idempotency_key'>;

/** Longest id or address a receipt accepts; keeps one bad row from becoming a huge key input. */
const MAX_TEXT = 256;
const KEY_HEX = /^[0-9a-f]{64}$/;

/** What is wrong with the fields of a receipt, or undefined when nothing is. */
export function receiptFieldProblem(f: ReceiptFields): string | undefined {
  for (const name of ['job_id', 'buyer', 'provider'] as const) {
    const v = f[name];
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT)
      return `${name} must be a non-empty string of at most ${MAX_TEXT} characters`;
    // A lone surrogate has no UTF-8 form; encoding would turn it into U+FFFD, a second spelling.
    if (/\p{Cs}/u.test(v)) return `${name} must be valid Unicode text`;
  }
  if (typeof f.quote_price !== 'bigint' || f.quote_price < 0n || f.quote_price > MAX_AMOUNT)
    return 'quote_price must be a non-negative bigint of base units';
  if (!Number.isSafeInteger(f.units) || f.units < 1) return 'units must be a positive integer';
  if (!Number.isSafeInteger(f.issued_at) || f.issued_at < 0)
    return 'issued_at must be a non-negative integer (Unix seconds)';
  return undefined;
}

const utf8 = new TextEncoder();

/** The idempotency key of a receipt's fields (see the file comment for the exact bytes). */
export function receiptKey(f: ReceiptFields, version = RECEIPT_VERSION): string {
  const fields = [
    f.job_id,
    f.buyer,
    f.provider,
    f.quote_price.toString(),
    f.units.toString(),
    version.toString(),
  ];
  // One buffer, each field's UTF-8 written in place after its 4-byte length (at most 3 bytes per
  // UTF-16 unit): settlement makes a key per receipt, so no per-field arrays.
  let size = 0;
  for (const text of fields) size += 4 + text.length * 3;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const text of fields) {
    const { written } = utf8.encodeInto(text, bytes.subarray(at + 4));
    view.setUint32(at, written, false);
    at += 4 + written;
  }
  return bytesToHex(blake3(bytes.subarray(0, at)));
}

/** Builds a receipt with its key; throws a RangeError on invalid fields. */
export function makeReceipt(f: ReceiptFields): Receipt {
  const problem = receiptFieldProblem(f);
  if (problem) throw new RangeError(`receipt: ${problem}`);
  return {
    version: RECEIPT_VERSION,
    job_id: f.job_id,
    buyer: f.buyer,
    provider: f.provider,
    quote_price: f.quote_price,
    units: f.units,
    issued_at: f.issued_at,
    idempotency_key: receiptKey(f),
  };
}

/** What the buyer owes for a receipt: quote_price × units, in base units. */
export function receiptAmount(r: Pick<Receipt, 'quote_price' | 'units'>): bigint {
  return r.quote_price * BigInt(r.units);
}

/**
 * The stored form: compact JSON, keys in the Receipt's order, quote_price as a decimal string
 * of base units (JSON numbers lose precision past 2^53).
 */
export function encodeReceipt(r: Receipt): string {
  return JSON.stringify({
    version: r.version,
    job_id: r.job_id,
    buyer: r.buyer,
    provider: r.provider,
    quote_price: r.quote_price.toString(),
    units: r.units,
    issued_at: r.issued_at,
    idempotency_key: r.idempotency_key,
  });
}

export type ReceiptDecodeProblem =
  'not_json' | 'bad_shape' | 'unsupported_version' | 'bad_field' | 'key_mismatch';

export type DecodedReceipt =
  { ok: true; receipt: Receipt } | { ok: false; problem: ReceiptDecodeProblem; message: string };

/**
 * Reads a stored receipt back. Never throws: a damaged record comes back as a problem, so the
 * store can count it (`receipt_corrupt_total`) and go on. A receipt whose key does not match
 * its fields is damaged too, since the key is what settlement trusts.
 */
export function decodeReceipt(stored: string | Uint8Array | unknown): DecodedReceipt {
  let value: unknown = stored;
  if (typeof stored === 'string' || stored instanceof Uint8Array) {
    try {
      value = JSON.parse(
        typeof stored === 'string' ? stored : new TextDecoder('utf-8', { fatal: true }).decode(stored),
      );
    } catch {
      return fail('not_json', 'the stored receipt is not JSON text');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail('bad_shape', 'the stored receipt is not a JSON object');
  const o = value as Record<string, unknown>;
  if (o.version !== RECEIPT_VERSION)
    return fail('unsupported_version', `receipt version ${String(o.version)}`);
  const price =
    typeof o.quote_price === 'string' && /^(0|[1-9][0-9]*)$/.test(o.quote_price)
      ? BigInt(o.quote_price)
      : undefined;
  if (price === undefined) return fail('bad_field', 'quote_price must be a decimal string of base units');
  if (typeof o.idempotency_key !== 'string' || !KEY_HEX.test(o.idempotency_key))
    return fail('bad_field', 'idempotency_key must be 64 lowercase hex characters');
  const fields = {
    job_id: o.job_id,
    buyer: o.buyer,
    provider: o.provider,
    quote_price: price,
    units: o.units,
    issued_at: o.issued_at,
  } as ReceiptFields;
  const problem = receiptFieldProblem(fields);
  if (problem) return fail('bad_field', problem);
  const receipt = makeReceipt(fields);
  if (receipt.idempotency_key !== o.idempotency_key)
    return fail('key_mismatch', 'idempotency_key does not match the receipt fields');
  return { ok: true, receipt };
}

function fail(problem: ReceiptDecodeProblem, message: string): DecodedReceipt {
  return { ok: false, problem, message };
}

/**
 * What is wrong with a stored receipt row, or undefined when nothing is: its body must decode
 * (which recomputes the key from the fields) and carry the key the row is stored under, since
 * that column is the index that makes a replay collide.
 */
export function storedReceiptProblem(row: { idempotency_key: string; body: unknown }): string | undefined {
  const decoded = decodeReceipt(row.body);
  if (!decoded.ok) return `${decoded.problem}: ${decoded.message}`;
  if (decoded.receipt.idempotency_key !== row.idempotency_key)
    return 'key_mismatch: the body belongs to another idempotency key';
  return undefined;
}
