// `taskmarket compute …` and `taskmarket compute-market params`: the compute-market RPC methods
// and scheduler parameters, from the command line.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { computeRootOfFile } from '../chain/compute-root-file.js';
import type { TaskMarketClient } from '../client/client.js';

export function registerComputeCommands(root: Command, clientOf: (cmd: Command) => TaskMarketClient): void {
  const print = (v: unknown): void => {
    process.stdout.write(JSON.stringify(v, null, 2) + '\n');
  };
  const rpc = (cmd: Command, method: string, params: Record<string, unknown> = {}) =>
    clientOf(cmd).request('POST', '/rpc', { method, params });

  const compute = root.command('compute').description('compute-market jobs and scheduler');
  compute
    .command('cancel <job_id>')
    .description(
      'cancel a job (its task is cancelled and refunded); --provider reports a provider-side cancel (operator)',
    )
    .option('--provider', 'the provider cancelled: requeue the job and penalise its reputation')
    .action(async (jobId: string, opts: { provider?: boolean }, cmd: Command) => {
      await rpc(cmd, 'compute.job_cancel', { job_id: jobId, reason: opts.provider ? 'provider' : 'client' });
      process.stdout.write(`cancelled job ${jobId}\n`);
    });
  compute
    .command('stats')
    .description('scheduler statistics (compute_market.scheduler_stats)')
    .option('--effective', 'include each provider’s current effective price')
    .action(async (opts: { effective?: boolean }, cmd: Command) =>
      print(await rpc(cmd, 'compute_market.scheduler_stats', { effective: Boolean(opts.effective) })),
    );
  compute
    .command('requirements <job_id>')
    .description("a job's requirement descriptor (compute.job_requirements)")
    .action(async (jobId: string, _o, cmd: Command) =>
      print(await rpc(cmd, 'compute.job_requirements', { job_id: jobId })),
    );

  root
    .command('chain')
    .description('the CPC chain')
    .command('compute-root <file>')
    .description('print the compute_root of a JSON array of ComputeResults, to check a block by hand')
    .action((file: string) => {
      const result = computeRootOfFile(readFileSync(file, 'utf8'));
      if (!result.ok) throw new Error(`${file}: ${result.error}`);
      process.stdout.write(`${result.root}\n`);
    });

  const settlement = root.command('settlement').description('settlement mode and balances');
  settlement
    .command('status')
    .description('mode and system balances (settlement_status)')
    .action(async (_o, cmd: Command) => print(await rpc(cmd, 'settlement_status')));
  settlement
    .command('arm')
    .description('arm settlement: it turns Real after --delay-ms (operator)')
    .option('--delay-ms <ms>', 'delay before Real', '0')
    .action(async (opts: { delayMs: string }, cmd: Command) => {
      if (!/^\d+$/.test(opts.delayMs))
        throw new Error(`--delay-ms must be a non-negative integer, got "${opts.delayMs}"`);
      print(await rpc(cmd, 'settlement.set_mode', { mode: 'Armed', delay_ms: Number(opts.delayMs) }));
    });
  settlement
    .command('disarm')
    .description('back to DryRun: receipts recorded, nobody charged (operator)')
    .action(async (_o, cmd: Command) => print(await rpc(cmd, 'settlement.set_mode', { mode: 'DryRun' })));

  const market = root.command('compute-market').description('compute-market governance and prices');
  market
    .command('prices')
    .description(
      "each lane's price bands (p25, median, p75 per unit) and the suggested bid for its backlog (compute_market.price_board)",
    )
    .action(async (_o, cmd: Command) => print(await rpc(cmd, 'compute_market.price_board', {})));
  market
    .command('params')
    .description(
      'print the admission and scheduler parameters as JSON; --set KEY=VALUE changes them (operator)',
    )
    .option('--set <key=value...>', 'parameters to change; values are JSON (numbers, booleans, strings)')
    .action(async (opts: { set?: string[] }, cmd: Command) => {
      const client = clientOf(cmd);
      if (!opts.set) return print(await client.request('GET', '/params'));
      const patch: Record<string, unknown> = {};
      for (const pair of opts.set) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new Error(`--set expects KEY=VALUE, got "${pair}"`);
        const raw = pair.slice(eq + 1);
        let value: unknown = raw;
        try {
          value = JSON.parse(raw);
        } catch {
          // A bare word is a string value.
        }
        patch[pair.slice(0, eq)] = value;
      }
      print(await client.request('PUT', '/params', patch));
    });
}
