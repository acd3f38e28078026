// `taskmarket blob put FILE` / `blob get HASH`: content-addressed uploads for inputs over the
// inline limit, and downloads of inputs and artifacts.

import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ClientOf } from './client-of.js';
import { printJson, UsageError } from './output.js';

export function registerBlobCommands(root: Command, clientOf: ClientOf): void {
  const blob = root
    .command('blob')
    .description('blobs: content-addressed bytes (task inputs, job artifacts)');
  blob
    .command('put <file>')
    .description('upload a file; prints {hash, size} (use the hash as a task input_blob)')
    .action(async (file: string, _o, cmd: Command) => {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new UsageError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
      }
      printJson(await clientOf(cmd).putBlob(bytes));
    });
  blob
    .command('get <hash>')
    .description('download a blob to --out FILE, or to stdout')
    .option('--out <file>', 'where to write it')
    .action(async (hash: string, opts: { out?: string }, cmd: Command) => {
      const bytes = await clientOf(cmd).getBlob(hash);
      if (opts.out) {
        writeFileSync(opts.out, bytes);
        process.stderr.write(`wrote ${bytes.length} bytes to ${opts.out}\n`);
      } else process.stdout.write(bytes);
    });
}
