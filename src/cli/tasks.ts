// `taskmarket task …`: create (with --input that uploads a large file as a blob, --wait to follow
// it to its end), get, list, jobs, cancel, watch and result (the inference text and artifacts,
// written to a folder with --out).

import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { DisputeList, JobView, TaskMarketClient, TaskOutcome } from '../client/client.js';
import { blake3HexLarge } from '../domain/hash.js';
import { PRIORITIES, type Priority } from '../domain/priority.js';
import { CHALLENGE_TYPES, MAX_INLINE_INPUT_BASE64 } from '../domain/challenge-types.js';
import type { CreateTaskBody } from '../domain/schemas/tasks.js';
import { FINAL_STATUSES, TASK_STATUSES, type TaskStatus } from '../domain/task-state.js';
import { readJsonObject, type ClientOf } from './client-of.js';
import { EXIT } from './exit-codes.js';
import {
  forPeople,
  formatOptions,
  parseInteger,
  printJson,
  printList,
  short,
  UsageError,
  type FormatOpts,
} from './output.js';
import { exitOf, followTask } from './watch.js';

/** Seconds, as --timeout takes them, to the milliseconds waitForTask takes. */
const timeoutOption = () =>
  new Option('--timeout <seconds>', 'give up waiting after this long (exit 8)').argParser(
    parseInteger('--timeout'),
  );

interface CreateOpts {
  type: CreateTaskBody['challenge_type'];
  payload?: string;
  input?: string;
  reward: string;
  feePctCt?: number;
  deadline?: number;
  priority?: Priority;
  requirements?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  idempotencyKey?: string;
  wait?: boolean;
  timeout?: number;
  quiet?: boolean;
}

export function registerTaskCommands(root: Command, clientOf: ClientOf): void {
  const task = root.command('task').description('tasks');
  task
    .command('create')
    .description('create a task; its reward moves into escrow')
    .addOption(
      new Option('--type <challenge_type>', 'challenge type').choices(CHALLENGE_TYPES).makeOptionMandatory(),
    )
    .option('--payload <json>', 'payload as JSON, or @file.json (default {} with --input)')
    .option(
      '--input <file>',
      'transcode/gpuhash: the input bytes from a file; uploaded as a blob when over the inline limit',
    )
    .requiredOption('--reward <amount>', 'reward, e.g. "10.0" (CPC, or CPC and IT by --fee-pct-ct)')
    .option(
      '--fee-pct-ct <pct>',
      'the CPC percentage of the reward (0–100, default 100); the rest is escrowed in IT',
      parseInteger('--fee-pct-ct'),
    )
    .option('--deadline <unix_seconds>', 'deadline, unix seconds', parseInteger('--deadline'))
    .addOption(
      new Option('--priority <priority>', 'scheduling priority (default normal)').choices(PRIORITIES),
    )
    .option('--requirements <json>', 'what a provider must have, JSON or @file.json, e.g. {"gpu_count":1}')
    .option('--webhook-url <url>', 'an http(s) URL told (signed POST) when the task ends')
    .option('--webhook-secret <secret>', 'the HMAC key of the webhook signature (16+ characters)')
    .option('--idempotency-key <key>', 'retry-safe key')
    .option('--wait', 'follow the task to its end (progress on stderr) and print its result')
    .addOption(timeoutOption())
    .option('--quiet', 'with --wait: no progress, only the result')
    .action(async (opts: CreateOpts, cmd: Command) => {
      const client = clientOf(cmd);
      const body = await createBody(client, opts);
      const created = await client.createTask(
        body,
        opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {},
      );
      if (!opts.wait) return printJson(created);
      if (!opts.quiet) process.stderr.write(`created task ${created.task_id}\n`);
      const outcome = await followTask(client, created.task_id, waitOpts(opts));
      printJson(outcome);
      process.exitCode = exitOf(outcome);
    });

  task
    .command('get <task_id>')
    .description('show a task')
    .action(async (id: string, _o, cmd: Command) => printJson(await clientOf(cmd).getTask(id)));

  formatOptions(
    task
      .command('list')
      .description('list tasks, newest first')
      .addOption(new Option('--status <status>').choices(TASK_STATUSES))
      .addOption(new Option('--type <challenge_type>').choices(CHALLENGE_TYPES))
      .option('--limit <n>', 'page size', parseInteger('--limit'))
      .option('--offset <n>', 'page start', parseInteger('--offset')),
  ).action(
    async (
      opts: FormatOpts & { status?: TaskStatus; type?: string; limit?: number; offset?: number },
      cmd: Command,
    ) => {
      const res = await clientOf(cmd).listTasks({
        ...(opts.status ? { status: opts.status } : {}),
        ...(opts.type ? { challenge_type: opts.type } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
      });
      printList(
        opts,
        res,
        res.tasks,
        [
          { header: 'TASK ID', get: (t) => t.task_id },
          { header: 'TYPE', get: (t) => t.challenge_type },
          { header: 'STATUS', get: (t) => t.status },
          { header: 'REWARD', get: (t) => t.reward, right: true },
        ],
        `${res.offset + 1}–${res.offset + res.tasks.length} of ${res.total}`,
      );
    },
  );

  formatOptions(
    task.command('jobs <task_id>').description("a task's jobs: status, worker, attempts, why one waits"),
  ).action(async (id: string, opts: FormatOpts, cmd: Command) => {
    const res = await clientOf(cmd).taskJobs(id);
    printList(opts, res, res.jobs, [
      { header: '#', get: (j) => j.index, right: true },
      { header: 'JOB ID', get: (j) => j.job_id },
      { header: 'STATUS', get: (j) => j.status },
      { header: 'UNITS', get: (j) => j.units, right: true },
      { header: 'ATTEMPTS', get: (j) => j.attempts, right: true },
      { header: 'WORKER', get: (j) => short(j.worker_address, 12) },
      { header: 'NOTE', get: (j) => j.failure_reason ?? j.waiting_reason ?? (j.output?.text ? 'text' : '') },
    ]);
  });

  task
    .command('cancel <task_id>')
    .description('cancel an open task and refund its escrow')
    .action(async (id: string, _o, cmd: Command) => {
      const res = await clientOf(cmd).cancelTask(id);
      process.stdout.write(`cancelled task ${res.task_id}\n`);
    });

  formatOptions(
    task
      .command('dispute <task_id>')
      .description(
        "dispute a completed task's unchecked results: re-derivable work is audited by independent providers, other work is recorded against its provider",
      )
      .requiredOption('--reason <text>', 'what is wrong with the result')
      .option('--job <job_id>', 'one job of the task (default: every job the market did not check)'),
  ).action(async (id: string, opts: FormatOpts & { reason: string; job?: string }, cmd: Command) => {
    const res = await clientOf(cmd).disputeTask(id, {
      reason: opts.reason,
      ...(opts.job === undefined ? {} : { job_id: opts.job }),
    });
    printDisputes(opts, res);
  });

  formatOptions(
    task.command('disputes <task_id>').description("a task's disputes and their verdicts"),
  ).action(async (id: string, opts: FormatOpts, cmd: Command) => {
    printDisputes(opts, await clientOf(cmd).taskDisputes(id));
  });

  task
    .command('watch <task_id>')
    .description('follow a task live until it ends: a progress bar on a terminal, plain lines otherwise')
    .addOption(timeoutOption())
    .action(async (id: string, opts: { timeout?: number }, cmd: Command) => {
      const outcome = await followTask(clientOf(cmd), id, waitOpts(opts));
      process.stdout.write(`${summary(outcome)}\n`);
      process.exitCode = exitOf(outcome);
    });

  formatOptions(
    task
      .command('result <task_id>')
      .description("an ended task's result: inference text and artifacts (written to --out DIR)")
      .option('--out <dir>', 'write result.json, each text output and each artifact under this folder'),
  ).action(async (id: string, opts: FormatOpts & { out?: string }, cmd: Command) => {
    const client = clientOf(cmd);
    const t = await client.getTask(id);
    if (!FINAL_STATUSES.includes(t.status)) {
      process.stderr.write(
        `error: task ${id} is ${t.status} — follow it with \`taskmarket task watch ${id}\`\n`,
      );
      process.exitCode = EXIT.conflict;
      return;
    }
    const outcome: TaskOutcome = { task: t, jobs: (await client.taskJobs(id)).jobs };
    if (opts.out) {
      for (const file of await writeOutcome(client, outcome, opts.out)) process.stdout.write(`${file}\n`);
    } else if (!forPeople(opts)) printJson(outcome);
    else printOutcome(outcome);
    process.exitCode = exitOf(outcome);
  });
}

function waitOpts(opts: { timeout?: number; quiet?: boolean }): { timeoutMs?: number; quiet?: boolean } {
  return {
    ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
    ...(opts.quiet ? { quiet: true } : {}),
  };
}

async function createBody(client: TaskMarketClient, opts: CreateOpts): Promise<CreateTaskBody> {
  if (opts.payload === undefined && opts.input === undefined)
    throw new UsageError('give the work with --payload <json> (or --input <file> for transcode and gpuhash)');
  const payload = opts.payload !== undefined ? readJsonObject('--payload', opts.payload) : {};
  if (opts.input !== undefined) {
    if (opts.type !== 'transcode' && opts.type !== 'gpuhash')
      throw new UsageError(`--input is for transcode and gpuhash tasks, not ${opts.type}`);
    let bytes: Buffer;
    try {
      bytes = readFileSync(opts.input);
    } catch (err) {
      throw new UsageError(`--input: cannot read ${opts.input} (${(err as NodeJS.ErrnoException).code})`);
    }
    const base64Length = Math.ceil(bytes.length / 3) * 4;
    if (base64Length <= MAX_INLINE_INPUT_BASE64) payload.input = bytes.toString('base64');
    else {
      const blob = await client.putBlob(bytes);
      if (!opts.quiet)
        process.stderr.write(`uploaded ${opts.input} as blob ${blob.hash} (${blob.size} bytes)\n`);
      payload.input_blob = blob.hash;
    }
  }
  const body: CreateTaskBody = { challenge_type: opts.type, payload, reward: opts.reward };
  if (opts.deadline !== undefined) body.deadline = opts.deadline;
  if (opts.feePctCt !== undefined) body.fee_pct_ct = opts.feePctCt;
  if (opts.priority !== undefined) body.priority = opts.priority;
  if (opts.requirements !== undefined)
    body.requirements = readJsonObject('--requirements', opts.requirements) as CreateTaskBody['requirements'];
  if (opts.webhookUrl !== undefined) body.webhook_url = opts.webhookUrl;
  if (opts.webhookSecret !== undefined) body.webhook_secret = opts.webhookSecret;
  return body;
}

function summary(o: TaskOutcome): string {
  const t = o.task;
  if (t.status === 'completed')
    return `task ${t.task_id} completed: ${t.result?.result_hash ?? ''}`.trimEnd();
  return `task ${t.task_id} ${t.status}${t.failure_reason ? `: ${t.failure_reason}` : ''}`;
}

/** For a person: the summary, each text output, each artifact by name and hash. */
function printDisputes(opts: FormatOpts, res: DisputeList): void {
  printList(opts, res, res.disputes, [
    { header: 'JOB ID', get: (d) => d.job_id },
    { header: 'KIND', get: (d) => d.kind },
    { header: 'STATUS', get: (d) => d.status },
    { header: 'PROVIDER', get: (d) => short(d.provider, 12) },
    { header: 'REASON', get: (d) => d.reason },
  ]);
}

function printOutcome(o: TaskOutcome): void {
  process.stdout.write(`${summary(o)}\n`);
  for (const j of o.jobs) {
    const text = j.output?.text;
    if (text !== undefined)
      process.stdout.write(`${o.jobs.length > 1 ? `--- job ${j.index}\n` : ''}${text}\n`);
    for (const a of j.output?.artifacts ?? [])
      process.stdout.write(`artifact ${a.name} ${a.blob} ${a.size} bytes\n`);
  }
}

/**
 * Writes result.json, each job's text (output.txt, or job-N.txt when the task has many jobs) and
 * each artifact (by its name; under job-N/ when many), checked against its hash. Answers the paths.
 */
async function writeOutcome(client: TaskMarketClient, o: TaskOutcome, dir: string): Promise<string[]> {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  if (!statSync(root).isDirectory()) throw new UsageError(`--out ${dir} is not a folder`);
  const written: string[] = [];
  const write = (rel: string, data: string | Uint8Array) => {
    const path = resolve(root, rel);
    if (!path.startsWith(root + sep)) throw new Error(`an artifact name leaves the --out folder: ${rel}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
    written.push(path);
  };
  write('result.json', JSON.stringify(o, null, 2) + '\n');
  const many = o.jobs.length > 1;
  for (const j of o.jobs) await writeJob(client, j, many ? `job-${j.index}` : '', write);
  return written;
}

async function writeJob(
  client: TaskMarketClient,
  j: JobView,
  prefix: string,
  write: (rel: string, data: string | Uint8Array) => void,
): Promise<void> {
  if (j.output?.text !== undefined) write(prefix ? `${prefix}.txt` : 'output.txt', j.output.text);
  for (const a of j.output?.artifacts ?? []) {
    const bytes = await client.getBlob(a.blob);
    if ((await blake3HexLarge(bytes)) !== a.blob)
      throw new Error(`artifact ${a.name}: the bytes downloaded do not match its hash ${a.blob}`);
    write(prefix ? join(prefix, a.name) : a.name, bytes);
  }
}
