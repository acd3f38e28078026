// The slice cache: a finished slice's proof (and output) by a key that names everything the
// result depends on, so a slice the market sends again (a retry after a lost lease, a redundant
// copy of the same task) is answered without recomputing it. In memory, least recently used
// first out, bounded in bytes; 0 bytes turns it off.
//
// key = BLAKE3 of the canonical JSON of [version, challenge_type, payload, slice spec, digest of
// the slice's input bytes or null]. Canonical JSON sorts object keys, so two spellings of one
// payload share an entry; the slice spec includes its index and range, so equal bytes at two
// places in one input are still two entries (their proofs are equal anyway).

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { RunnerOutput, Slice } from './runners/types.js';

export interface CachedSlice {
  proof: string;
  output?: RunnerOutput;
}

const KEY_VERSION = 'taskmarket slice cache v1';

export function sliceCacheKey(
  challengeType: string,
  payload: unknown,
  slice: Slice,
  inputDigest: string | null,
): string {
  const text = canonicalJson([KEY_VERSION, challengeType, payload, slice, inputDigest]);
  return bytesToHex(blake3(utf8ToBytes(text)));
}

/** JSON with object keys sorted at every depth (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export class SliceCache {
  private readonly entries = new Map<string, { value: CachedSlice; bytes: number }>();
  private usedBytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): CachedSlice | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Re-inserting moves the entry to the young end of the Map's insertion order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: CachedSlice): void {
    const bytes = sizeOf(value);
    if (bytes > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.usedBytes -= old.bytes;
      this.entries.delete(key);
    }
    this.entries.set(key, { value, bytes });
    this.usedBytes += bytes;
    for (const [k, e] of this.entries) {
      if (this.usedBytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.usedBytes -= e.bytes;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Returns the cached slice, or computes, stores and returns it. Failures are not cached. */
  async through(key: string, compute: () => Promise<CachedSlice>): Promise<CachedSlice> {
    const hit = this.get(key);
    if (hit) return hit;
    const value = await compute();
    this.set(key, value);
    return value;
  }
}

/** Approximate bytes held: the key and proof, plus the output's text and base64 artifacts. */
function sizeOf(v: CachedSlice): number {
  let bytes = 128 + v.proof.length;
  if (v.output?.text) bytes += v.output.text.length * 2;
  for (const a of v.output?.artifacts ?? []) bytes += a.name.length * 2 + a.data.length;
  return bytes;
}
