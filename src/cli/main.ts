#!/usr/bin/env node
// `taskmarket`: runs a market node (`serve`) or talks to one as a client of its HTTP API.
// The node (`serve`) and the worker are imported only when their command runs: `taskmarket
// --help` and the client commands do not load Fastify, the database or the agent.

import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ApiError, TaskMarketClient } from '../client/client.js';
import { ASSETS, type Asset } from '../domain/money.js';
import type { CreateTaskBody } from '../domain/schemas/tasks.js';
import { CHALLENGE_TYPES } from '../domain/challenge-types.js';
import { TASK_STATUSES, type TaskStatus } from '../domain/task-state.js';
import { operatorKeyPath } from '../market/paths.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { registerComputeCommands } from './compute.js';
import { registerCourierCommands } from './courier.js';
import { registerReputationCommands } from './reputation.js';
import { registerWorkerCommands } from './worker.js';

class UsageError extends Error {}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function clientOf(cmd: Command): TaskMarketClient {
  const opts = cmd.optsWithGlobals<{ url: string; apiKey?: string; dataDir: string }>();
  let apiKey = opts.apiKey;
  // On the node's own machine the operator key is in its data directory: use it when none is given.
  if (!apiKey && existsSync(operatorKeyPath(opts.dataDir)))
    apiKey = readFileSync(operatorKeyPath(opts.dataDir), 'utf8').trim();
  return new TaskMarketClient({ url: opts.url, apiKey });
}

function parseInteger(name: string) {
  return (value: string): number => {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(value))
      throw new UsageError(`${name} must be a non-negative integer, got "${value}"`);
    return Number(value);
  };
}

function assetOption(): Option {
  return new Option(
    '--asset <asset>',
    'CPC (the consumer token, default) or IT (the industrial token)',
  ).choices(ASSETS);
}

function readPayload(text: string): Record<string, unknown> {
  const source = text.startsWith('@') ? readFileSync(text.slice(1), 'utf8') : text;
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (err) {
    throw new UsageError(`--payload is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError('--payload must be a JSON object');
  return value as Record<string, unknown>;
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
      print(
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
      print(await clientOf(cmd).fundAccount(id, amount, opts.asset)),
    );
  account
    .command('credit <account_id> <amount>')
    .description('set an account credit limit (operator)')
    .addOption(assetOption())
    .action(async (id: string, amount: string, opts: { asset?: Asset }, cmd: Command) =>
      print(await clientOf(cmd).setCreditLimit(id, amount, opts.asset)),
    );
  account
    .command('show [account_id]')
    .description('show your account, or any account (operator)')
    .action(async (id: string | undefined, _o, cmd: Command) => {
      const client = clientOf(cmd);
      print(id ? await client.getAccount(id) : await client.me());
    });

  const task = root.command('task').description('tasks');
  task
    .command('create')
    .description('create a task; its reward moves into escrow')
    .addOption(
      new Option('--type <challenge_type>', 'challenge type').choices(CHALLENGE_TYPES).makeOptionMandatory(),
    )
    .requiredOption('--payload <json>', 'payload as JSON, or @file.json')
    .requiredOption('--reward <amount>', 'reward, e.g. "10.0" (CPC, or CPC and IT by --fee-pct-ct)')
    .option(
      '--fee-pct-ct <pct>',
      'the CPC percentage of the reward (0–100, default 100); the rest is escrowed in IT',
      parseInteger('--fee-pct-ct'),
    )
    .option('--deadline <unix_seconds>', 'deadline, unix seconds', parseInteger('--deadline'))
    .option('--idempotency-key <key>', 'retry-safe key')
    .action(
      async (
        opts: {
          type: CreateTaskBody['challenge_type'];
          payload: string;
          reward: string;
          feePctCt?: number;
          deadline?: number;
          idempotencyKey?: string;
        },
        cmd: Command,
      ) => {
        const body: CreateTaskBody = {
          challenge_type: opts.type,
          payload: readPayload(opts.payload),
          reward: opts.reward,
        };
        if (opts.deadline !== undefined) body.deadline = opts.deadline;
        if (opts.feePctCt !== undefined) body.fee_pct_ct = opts.feePctCt;
        print(
          await clientOf(cmd).createTask(
            body,
            opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {},
          ),
        );
      },
    );
  task
    .command('get <task_id>')
    .description('show a task')
    .action(async (id: string, _o, cmd: Command) => print(await clientOf(cmd).getTask(id)));
  task
    .command('list')
    .description('list tasks, newest first')
    .addOption(new Option('--status <status>').choices(TASK_STATUSES))
    .addOption(new Option('--type <challenge_type>').choices(CHALLENGE_TYPES))
    .option('--limit <n>', 'page size', parseInteger('--limit'))
    .option('--offset <n>', 'page start', parseInteger('--offset'))
    .action(
      async (opts: { status?: TaskStatus; type?: string; limit?: number; offset?: number }, cmd: Command) => {
        print(
          await clientOf(cmd).listTasks({
            ...(opts.status ? { status: opts.status } : {}),
            ...(opts.type ? { challenge_type: opts.type } : {}),
            ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
            ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
          }),
        );
      },
    );
  task
    .command('cancel <task_id>')
    .description('cancel an open task and refund its escrow')
    .action(async (id: string, _o, cmd: Command) => {
      const res = await clientOf(cmd).cancelTask(id);
      process.stdout.write(`cancelled task ${res.task_id}\n`);
    });

  root
    .command('ledger')
    .description('the books')
    .command('verify')
    .description('check the ledger invariants (operator); exits 1 when violated')
    .action(async (_o, cmd: Command) => {
      const report = await clientOf(cmd).verifyLedger();
      print(report);
      if (!report.ok) process.exitCode = EXIT.failure;
    });

  registerWorkerCommands(root);
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
      process.stderr.write(`${err.message}\n`);
      if (err.details && err.code === 'validation_error')
        process.stderr.write(`${JSON.stringify(err.details)}\n`);
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
