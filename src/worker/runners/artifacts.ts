// What a command leaves in its output directory: the files become the job's artifacts, and the
// slice proof is BLAKE3 over their sorted listing in b3sum's format, one line per file:
//
//   <BLAKE3(file) hex>  <relative/path>\n        (lines sorted by path, bytewise)
//
// so anyone can check a proof with stock tools:
//   cd out && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs b3sum | b3sum
// Only regular files and directories are allowed: a symlink could point the agent at any file
// on the provider's machine and ship it to a customer.

import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { JobFailure } from './types.js';

export interface OutputFile {
  /** Path relative to the output directory, '/'-separated. */
  name: string;
  bytes: Buffer;
}

/** The protocol's artifact name rule (domain/schemas/worker.ts Artifact.name). */
const NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const MAX_FILES = 1000;

/** Total bytes of regular files under dir (symlinks and the rest are not counted). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  return total;
}

/**
 * Reads every file under dir, sorted by name. Throws JobFailure runner_error for a symlink or
 * special file, a name the protocol cannot carry, too many files or more than maxBytes in all.
 */
export async function collectOutput(dir: string, maxBytes: number): Promise<OutputFile[]> {
  const files: OutputFile[] = [];
  let total = 0;
  const walk = async (abs: string, rel: string): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true });
    for (const entry of entries) {
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) {
        await walk(path, name);
        continue;
      }
      if (!entry.isFile())
        throw new JobFailure('runner_error', `output ${name} is not a regular file (symlinks are refused)`);
      if (!NAME.test(name) || name.length > 255)
        throw new JobFailure('runner_error', `output file name ${JSON.stringify(name)} is not allowed`);
      if (files.length >= MAX_FILES)
        throw new JobFailure('runner_error', `the command wrote more than ${MAX_FILES} files`);
      total += (await lstat(path)).size;
      if (total > maxBytes)
        throw new JobFailure('runner_error', `the command wrote more than ${maxBytes} bytes of output`);
      files.push({ name, bytes: await readFile(path) });
    }
  };
  await walk(dir, '');
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The b3sum-format listing of files (already sorted by name) that the slice proof hashes. */
export function outputListing(files: readonly { name: string; digest: string }[]): string {
  return files.map((f) => `${f.digest}  ${f.name}\n`).join('');
}

/** The slice proof of an output: BLAKE3 of its listing. */
export function outputProof(files: readonly { name: string; digest: string }[]): string {
  return bytesToHex(blake3(utf8ToBytes(outputListing(files))));
}
