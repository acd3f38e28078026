#!/usr/bin/env node
// `taskmarket`: runs a market node (`serve`) or talks to one as a client of its HTTP API.
// The node (`serve`) and the worker are imported only when their command runs: `taskmarket
// --help` and the client commands do not load Fastify, the database or the agent.

import { Command, CommanderError, Option } from 'commander';
import { ApiError } from '../client/client.js';
import { ASSETS, type Asset } from '../domain/money.js';
import { registerBlobCommands } from './blobs.js';
import { clientOf } from './client-of.js';
import { describeApiError } from './errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { registerOfferCommands } from './offers.js';
import { printJson, UsageError } from './output.js';
import { registerTaskCommands } from './tasks.js';
import { registerComputeCommands } from './compute.js';
import { registerCourierCommands } from './courier.js';
import { registerReputationCommands } from './reputation.js';
import { registerWorkerCommands } from './worker.js';

function assetOption(): Option {
  return new Option(
    '--asset <asset>',
    'CPC (the consumer token, default) or IT (the industrial token)',
  ).choices(ASSETS);
}

export function program(): Command {
  const root = new Command('taskmarket')
    .description('Task Market: a marketplace for GPU work')
    .version('0.1.0')
    .addOption(
      new Option('--url <url>', 'market node URL').env('TASKMARKET_URL').default('http://127.0.0.1:8080'),
    )
    .addOption(new Option('--api-key <key>', 'API key (customer or operator)').env('TASKMARKET_API_KEY'))
    .addOption(
      new Option('--data-dir <dir>', 'data directory (serve; operator key lookup)')
        .env('TASKMARKET_DATA_DIR')
        .default('./data'),
    )
    .showHelpAfterError()
    .exitOverride();

  root
    .command('serve')
    .description('run a market node')
    .option('--config <file>', 'TOML config file')
    .option('--host <host>', 'listen address')
    .option('--port <port>', 'listen port')
    .option('--database-url <url>', 'postgres:// URL (default: embedded PGlite in the data dir)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .option('--print-config', 'print the effective configuration as TOML and exit')
    .action(async (opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ dataDir: string }>();
      // Only pass --data-dir on when given, so the config file and environment still apply.
      const dataDir = cmd.parent?.getOptionValueSource('dataDir') === 'default' ? undefined : g.dataDir;
      // Loaded here: the node's modules are not needed by the client commands.
      const { serve } = await import('./serve.js');
      await serve({ ...opts, dataDir });
    });

  const account = root.command('account').description('customer accounts');
  account
    .command('create')
    .description('create a customer account (operator); prints its API key once')
    .requiredOption('--name <name>', 'account name')
    .option('--credit-limit <amount>', 'how far below zero it may spend, e.g. "5.0"')
    .action(async (opts: { name: string; creditLimit?: string }, cmd: Command) => {
      printJson(
        await clientOf(cmd).createAccount({
          name: opts.name,
          ...(opts.creditLimit ? { credit_limit: opts.creditLimit } : {}),
        }),
      );
    });
  account
    .command('fund <account_id> <amount>')
    .description('credit an account with a deposit (operator)')
    .addOption(assetOption())
    .action(async (id: string, amount: string, opts: { asset?: Asset }, cmd: Command) =>
      printJson(await clientOf(cmd).fundAccount(id, amount, opts.asset)),
    );
  account
    .command('credit <account_id> <amount>')
    .description('set an account credit limit (operator)')
    .addOption(assetOption())
    .action(async (id: string, amount: string, opts: { asset?: Asset }, cmd: Command) =>
      printJson(await clientOf(cmd).setCreditLimit(id, amount, opts.asset)),
    );
  account
    .command('show [account_id]')
    .description('show your account, or any account (operator)')
    .action(async (id: string | undefined, _o, cmd: Command) => {
      const client = clientOf(cmd);
      printJson(id ? await client.getAccount(id) : await client.me());
    });

  registerTaskCommands(root, clientOf);
  registerBlobCommands(root, clientOf);
  registerOfferCommands(root, clientOf);

  root
    .command('ledger')
    .description('the books')
    .command('verify')
    .description('check the ledger invariants (operator); exits 1 when violated')
    .action(async (_o, cmd: Command) => {
      const report = await clientOf(cmd).verifyLedger();
      printJson(report);
      if (!report.ok) process.exitCode = EXIT.failure;
    });

  registerWorkerCommands(root, clientOf);
  registerComputeCommands(root, clientOf);
  registerCourierCommands(root, clientOf);
  registerReputationCommands(root, clientOf);
  return root;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      process.stderr.write(`${describeApiError(err)}\n`);
      return exitCodeFor(err.code);
    }
    // Loaded only on this path: market/config.js brings the config schema with it.
    const { ConfigError } = await import('../market/config.js');
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
}

const code = await main(process.argv);
// `serve` keeps the process alive through its server; every other command ends here.
if (code !== EXIT.ok || !process.argv.includes('serve')) process.exit(code);
