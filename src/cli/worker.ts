// The provider's commands: `taskmarket worker` runs the agent until SIGINT/SIGTERM (the first
// drains, a second exits at once), `worker keygen` makes its key file, `worker
// --print-capability` shows what the machine advertises, `worker --self-test` runs every
// configured runner on a tiny job and says which pass, `worker make-test-model` writes the tiny
// GGUF model that lets a fresh machine run inference, `worker status` shows its balances,
// earnings and reputation, and `run-workload` hashes a .slice file as
// the reference runner does.
//
// Only the commands are declared here; what they do is in worker-actions.ts, imported when one
// runs, so that `taskmarket --help` stays fast.
//
// The market URL is the global --url (it is parsed by the root command wherever it appears):
// ws(s)://host:port/worker, or the node's http(s):// URL, which maps to ws(s)://…/worker.

import type { Command } from 'commander';
import type { ClientOf } from './client-of.js';
import { formatOptions, type FormatOpts } from './output.js';
import type { WorkerOpts } from './worker-actions.js';

const actions = () => import('./worker-actions.js');

export function registerWorkerCommands(root: Command, clientOf: ClientOf): void {
  const worker = root
    .command('worker')
    .description('run a provider agent: connect to the market (global --url) and run its jobs')
    .option('--key <file>', 'worker key file (see `worker keygen`)')
    .option('--config <file>', 'worker TOML config (keys: see src/worker/config.ts)')
    .option('--slots <n>', 'jobs run at once')
    .option('--price <amount>', 'offer: price per compute unit, e.g. "0.01"')
    .option('--units <n>', 'offer: compute units on offer')
    .option('--fee-pct-ct <n>', 'offer: consumer-token percentage of the price (0-100, default 100)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .option('--print-capability', 'print the capability this machine advertises and exit')
    .option('--self-test', 'run every configured runner on a tiny job, say which pass, and exit')
    .option('--skip-self-test', 'offer every configured runner without testing it first')
    .action(async (opts: WorkerOpts, cmd: Command) => (await actions()).runWorker(opts, cmd));

  worker
    .command('make-test-model')
    .description(
      'write a tiny GGUF model with random weights (nonsense text, under 1 MB) to try inference with',
    )
    .requiredOption('--out <file>', 'where to write it, e.g. models/tiny.gguf')
    .option('--seed <n>', 'weights seed: one seed, one file', '1')
    .action(async (opts: { out: string; seed: string }) => (await actions()).makeTestModel(opts));

  formatOptions(
    worker
      .command('status')
      .description(
        'this provider as the market sees it: balances, earnings, reputation, recent jobs (signed with --key)',
      )
      .option('--key <file>', 'the worker key file: the request is signed with it')
      .option('--address <address>', 'another provider (with the operator key)'),
  ).action(async (opts: FormatOpts & { key?: string; address?: string }, cmd: Command) => {
    // `worker` itself takes --key too, and takes it first wherever it stands.
    const key = opts.key ?? cmd.parent?.opts<{ key?: string }>().key;
    await (
      await import('./provider-status.js')
    ).workerStatus(clientOf, { ...opts, ...(key ? { key } : {}) }, cmd);
  });

  worker
    .command('keygen')
    .description('create a worker key file (mode 0600, never overwritten); prints its address')
    .requiredOption('--out <file>', 'where to write the key file')
    .option('--name <name>', 'a name for the key', 'worker')
    .action(async (opts: { out: string; name: string }) => (await actions()).keygen(opts));

  root
    .command('run-workload <file>')
    .description('print the BLAKE3 proof hash of a .slice file, as the reference runner computes it')
    .option('--json', 'print a JSON report: bytes, proof, 1 MiB slice proofs and their Merkle root')
    .action(async (file: string, opts: { json?: boolean }) => (await actions()).runWorkload(file, opts));
}
