// The suite's own GGUF model: the tiny random-weight llama of src/worker/runners/tiny-gguf.ts,
// written once per test file into a temporary directory. Nothing is downloaded.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyGguf, type TinyModelOptions } from '../../src/worker/runners/tiny-gguf.js';

export interface TinyModelDir {
  dir: string;
  /** Writes a model (seed 1 unless told) and returns its path. */
  model(name?: string, opts?: TinyModelOptions): Promise<string>;
  remove(): void;
}

export function tinyModelDir(): TinyModelDir {
  const dir = mkdtempSync(join(tmpdir(), 'taskmarket-gguf-'));
  return {
    dir,
    async model(name = 'tiny.gguf', opts = {}) {
      const file = join(dir, name);
      await writeTinyGguf(file, opts);
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
