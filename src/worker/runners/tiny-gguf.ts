// A tiny llama-architecture GGUF model with seeded random weights, written from scratch: what
// the test suite and `taskmarket worker make-test-model` give the embedded llama.cpp runner, so
// that inference runs on a fresh clone with nothing downloaded. Its text is nonsense; what it
// proves is that a worker loads GGUF files, generates and replicates byte for byte.
//
// The file is GGUF v3 (little endian): magic, version, tensor and key/value counts, the
// metadata, the tensor descriptors, then the tensor data (F32) aligned to 32 bytes. llama.cpp
// needs `general.architecture = llama`, the `llama.*` hyperparameters it reads without a
// default (context, embedding and feed-forward lengths, block and head counts, the RMS-norm
// epsilon) and a tokenizer: `tokenizer.ggml.model = "llama"` (SentencePiece) with tokens, scores
// and token types. The vocabulary holds <unk>, <s>, </s>, the 256 byte-fallback tokens (so any
// prompt tokenizes) and a few hundred printable pieces. The output matrix gives the control and
// byte tokens zero logits, so generation prefers printable pieces and rarely stops early.

import { writeFile } from 'node:fs/promises';
import { seededRng } from '../../domain/rng.js';

export interface TinyModelOptions {
  /** Seeds the weights: one seed, one file, byte for byte. */
  seed?: number;
  embedding?: number;
  layers?: number;
  heads?: number;
  feedForward?: number;
  contextLength?: number;
}

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;
const ALIGNMENT = 32;
const GGML_TYPE_F32 = 0;

const enum Kind {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

type Value =
  | { kind: Kind.U32 | Kind.I32 | Kind.F32; value: number }
  | { kind: Kind.BOOL; value: boolean }
  | { kind: Kind.STRING; value: string }
  | { kind: Kind.ARRAY; of: Kind.STRING; value: string[] }
  | { kind: Kind.ARRAY; of: Kind.F32 | Kind.I32; value: number[] };

interface Tensor {
  name: string;
  /** ggml order: dims[0] is the fastest-moving (row length). */
  dims: number[];
  data: Float32Array;
}

/** The vocabulary: control tokens, byte fallbacks, then printable pieces ("▁" is a space). */
export function tinyVocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_BYTE);
  }
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const words = [
    'the',
    'a',
    'and',
    'of',
    'to',
    'in',
    'is',
    'it',
    'that',
    'for',
    'on',
    'with',
    'as',
    'at',
    'by',
    'market',
    'task',
    'worker',
    'job',
    'slice',
    'proof',
    'unit',
    'price',
    'model',
    'token',
    'hello',
    'world',
    'compute',
    'result',
    'provider',
    'customer',
    'offer',
    'lease',
    'receipt',
    'chain',
  ];
  const pieces = new Set<string>(['▁', '.', ',', '!', '?', '\n']);
  for (const c of letters) pieces.add(c).add(`▁${c}`).add(c.toUpperCase());
  for (const w of words) pieces.add(`▁${w}`).add(w);
  for (const p of pieces) {
    tokens.push(p);
    types.push(TOKEN_NORMAL);
  }
  // SentencePiece merges prefer higher scores: longer pieces first.
  const scores = tokens.map((t, i) => (types[i] === TOKEN_NORMAL ? t.length * 10 - i / 1000 : 0));
  return { tokens, scores, types };
}

/** The model as the bytes of a GGUF file. */
export function tinyGguf(opts: TinyModelOptions = {}): Buffer {
  const nEmbd = opts.embedding ?? 64;
  const nLayer = opts.layers ?? 2;
  const nHead = opts.heads ?? 4;
  const nFf = opts.feedForward ?? 128;
  const nCtx = opts.contextLength ?? 2048;
  const vocab = tinyVocabulary();
  const nVocab = vocab.tokens.length;
  const random = seededRng(opts.seed ?? 1);
  const normal = (n: number, scale: number, zeroRows?: (row: number) => boolean, rowLen = 1) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const r = (random() + random() + random() - 1.5) * 2 * scale;
      a[i] = zeroRows?.(Math.floor(i / rowLen)) ? 0 : r;
    }
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);

  const tensors: Tensor[] = [
    { name: 'token_embd.weight', dims: [nEmbd, nVocab], data: normal(nEmbd * nVocab, 1) },
    { name: 'output_norm.weight', dims: [nEmbd], data: ones(nEmbd) },
    {
      name: 'output.weight',
      dims: [nEmbd, nVocab],
      data: normal(nEmbd * nVocab, 0.5, (row) => vocab.types[row] !== TOKEN_NORMAL, nEmbd),
    },
  ];
  const w = 1 / Math.sqrt(nEmbd);
  for (let l = 0; l < nLayer; l++) {
    const b = `blk.${l}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `${b}.attn_q.weight`, dims: [nEmbd, nEmbd], data: normal(nEmbd * nEmbd, w) },
      { name: `${b}.attn_k.weight`, dims: [nEmbd, nEmbd], data: normal(nEmbd * nEmbd, w) },
      { name: `${b}.attn_v.weight`, dims: [nEmbd, nEmbd], data: normal(nEmbd * nEmbd, w) },
      { name: `${b}.attn_output.weight`, dims: [nEmbd, nEmbd], data: normal(nEmbd * nEmbd, w) },
      { name: `${b}.ffn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `${b}.ffn_gate.weight`, dims: [nEmbd, nFf], data: normal(nEmbd * nFf, w) },
      { name: `${b}.ffn_up.weight`, dims: [nEmbd, nFf], data: normal(nEmbd * nFf, w) },
      { name: `${b}.ffn_down.weight`, dims: [nFf, nEmbd], data: normal(nFf * nEmbd, 1 / Math.sqrt(nFf)) },
    );
  }

  const metadata: [string, Value][] = [
    ['general.architecture', { kind: Kind.STRING, value: 'llama' }],
    ['general.name', { kind: Kind.STRING, value: 'taskmarket-tiny-test' }],
    ['general.alignment', { kind: Kind.U32, value: ALIGNMENT }],
    ['general.file_type', { kind: Kind.U32, value: 0 }], // ALL_F32
    ['llama.context_length', { kind: Kind.U32, value: nCtx }],
    ['llama.embedding_length', { kind: Kind.U32, value: nEmbd }],
    ['llama.block_count', { kind: Kind.U32, value: nLayer }],
    ['llama.feed_forward_length', { kind: Kind.U32, value: nFf }],
    ['llama.attention.head_count', { kind: Kind.U32, value: nHead }],
    ['llama.attention.head_count_kv', { kind: Kind.U32, value: nHead }],
    ['llama.attention.layer_norm_rms_epsilon', { kind: Kind.F32, value: 1e-5 }],
    ['llama.rope.dimension_count', { kind: Kind.U32, value: nEmbd / nHead }],
    ['llama.rope.freq_base', { kind: Kind.F32, value: 10000 }],
    ['llama.vocab_size', { kind: Kind.U32, value: nVocab }],
    ['tokenizer.ggml.model', { kind: Kind.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { kind: Kind.ARRAY, of: Kind.STRING, value: vocab.tokens }],
    ['tokenizer.ggml.scores', { kind: Kind.ARRAY, of: Kind.F32, value: vocab.scores }],
    ['tokenizer.ggml.token_type', { kind: Kind.ARRAY, of: Kind.I32, value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { kind: Kind.U32, value: 0 }],
    ['tokenizer.ggml.bos_token_id', { kind: Kind.U32, value: 1 }],
    ['tokenizer.ggml.eos_token_id', { kind: Kind.U32, value: 2 }],
    ['tokenizer.ggml.add_bos_token', { kind: Kind.BOOL, value: true }],
    ['tokenizer.ggml.add_eos_token', { kind: Kind.BOOL, value: false }],
  ];
  return encode(metadata, tensors);
}

/** Writes the tiny model to `file`; returns its size in bytes. */
export async function writeTinyGguf(file: string, opts: TinyModelOptions = {}): Promise<number> {
  const bytes = tinyGguf(opts);
  await writeFile(file, bytes);
  return bytes.length;
}

class ByteWriter {
  private chunks: Buffer[] = [];
  length = 0;

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Buffer): void {
    this.push(b);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad > 0) this.push(Buffer.alloc(pad));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function encode(metadata: [string, Value][], tensors: Tensor[]): Buffer {
  const out = new ByteWriter();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, v] of metadata) {
    out.string(key);
    out.u32(v.kind);
    writeValue(out, v);
  }
  let offset = 0;
  for (const t of tensors) {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGML_TYPE_F32);
    out.u64(offset);
    offset += Math.ceil(t.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  out.padTo(ALIGNMENT);
  for (const t of tensors) {
    out.bytes(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out.padTo(ALIGNMENT);
  }
  return out.toBuffer();
}

function writeValue(out: ByteWriter, v: Value): void {
  switch (v.kind) {
    case Kind.U32:
      return out.u32(v.value);
    case Kind.I32:
      return out.i32(v.value);
    case Kind.F32:
      return out.f32(v.value);
    case Kind.BOOL:
      return out.bytes(Buffer.from([v.value ? 1 : 0]));
    case Kind.STRING:
      return out.string(v.value);
    case Kind.ARRAY:
      out.u32(v.of);
      out.u64(v.value.length);
      for (const item of v.value) {
        if (v.of === Kind.STRING) out.string(item as string);
        else if (v.of === Kind.F32) out.f32(item as number);
        else out.i32(item as number);
      }
  }
}
