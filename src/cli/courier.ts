// `taskmarket compute courier send|flush|status|resolve` (spec "Courier Mode") and `taskmarket
// chain head|block`, as clients of the node's RPC methods.
//
// Exit codes (src/cli/exit-codes.ts): 0 done; 1 `courier flush` left entries failed or waiting
// to retry (its JSON says which); 2 bad arguments or an unreadable file; 3 no such block;
// 6 not the operator; 8 no chain configured (chain = "off") or the chain unreachable.

import { createReadStream } from 'node:fs';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Command } from 'commander';
import type { TaskMarketClient } from '../client/client.js';
import { EXIT } from './exit-codes.js';

/** BLAKE3 of a file, read as a stream so a bundle of any size hashes in constant memory. */
export async function blake3File(path: string): Promise<string> {
  const hasher = blake3.create();
  for await (const chunk of createReadStream(path)) hasher.update(chunk as Buffer);
  return bytesToHex(hasher.digest());
}

export function registerCourierCommands(root: Command, clientOf: (cmd: Command) => TaskMarketClient): void {
  const print = (v: unknown): void => {
    process.stdout.write(JSON.stringify(v, null, 2) + '\n');
  };
  const rpc = <T>(cmd: Command, method: string, params: Record<string, unknown> = {}) =>
    clientOf(cmd).request<T>('POST', '/rpc', { method, params });

  const compute = root.commands.find((c) => c.name() === 'compute') ?? root.command('compute');
  const courier = compute
    .command('courier')
    .description('carried receipts and the outbox of chain transactions');
  courier
    .command('send <file> <sender>')
    .description(
      'store a receipt for a bundle file (its BLAKE3 hash) from <sender> in the outbox; prints its id',
    )
    .action(async (file: string, sender: string, _o, cmd: Command) => {
      let hash: string;
      try {
        hash = await blake3File(file);
      } catch (err) {
        process.stderr.write(
          `error: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`,
        );
        process.exitCode = EXIT.usage;
        return;
      }
      const res = await rpc<{ id: number }>(cmd, 'compute.courier_send', { bundle_hash: hash, sender });
      process.stdout.write(`${res.id}\n`);
    });
  courier
    .command('flush')
    .description('forward every pending outbox entry now (operator); exits 1 if any failed or must retry')
    .action(async (_o, cmd: Command) => {
      const res = await rpc<{ failed: number; retrying: number }>(cmd, 'compute.courier_flush');
      print(res);
      if (res.failed > 0 || res.retrying > 0) process.exitCode = EXIT.failure;
    });
  courier
    .command('status')
    .description('the chain in use, outbox entries by status, and entries held for the operator')
    .action(async (_o, cmd: Command) => print(await rpc(cmd, 'compute.courier_status')));
  courier
    .command('resolve <id>')
    .description(
      'settle an entry held for the operator: --landed (it is on chain: final) or --resend (send the same bytes again)',
    )
    .option('--landed', 'the transaction is on chain')
    .option('--resend', 'send the same signed transaction again (same nonce, same hash)')
    .action(async (id: string, o: { landed?: boolean; resend?: boolean }, cmd: Command) => {
      if (!/^[1-9][0-9]{0,15}$/.test(id) || o.landed === o.resend) {
        process.stderr.write('error: give an entry id and exactly one of --landed or --resend\n');
        process.exitCode = EXIT.usage;
        return;
      }
      print(
        await rpc(cmd, 'compute.courier_resolve', {
          id: Number(id),
          outcome: o.landed ? 'landed' : 'resend',
        }),
      );
    });

  const chain = root.commands.find((c) => c.name() === 'chain') ?? root.command('chain');
  chain
    .command('head')
    .description('the chain head: height and hash')
    .action(async (_o, cmd: Command) => print(await rpc(cmd, 'chain.head')));
  chain
    .command('block <height>')
    .description('a block: header (with compute_root) and transactions')
    .action(async (height: string, _o, cmd: Command) => {
      if (!/^(0|[1-9][0-9]{0,15})$/.test(height)) {
        process.stderr.write(`error: height must be a non-negative integer, got "${height}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      print(await rpc(cmd, 'chain.block', { height: Number(height) }));
    });
}
