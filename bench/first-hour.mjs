// A newcomer's first hour, timed: clone the repository into a temporary folder and run the
// commands of the README's "Quick start" section, in order, as they are written there (the
// commands are read from the README of the clone, not copied here, so this bench follows the
// README as it changes). Long-running commands (`npm start`, the worker) run in the background
// until they say they are ready; placeholders (<account_id>, <alice's api_key>, <task_id>) take
// what the commands before printed, as a newcomer copies them.
//
//   node bench/first-hour.mjs [REPO]        (default: this repository; its committed HEAD)
//
// Prints one line per step and the milestones (first completed task, every challenge type
// completed), measured from the start of the clone and from the end of `npm install`, and writes
// them to bench/results/first-hour.json. FIRST_HOUR_PORT=N runs the node on port N instead of
// the README's 8080 (when 8080 is taken), passing it as TASKMARKET_PORT and TASKMARKET_URL.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { clearTimeout } from 'node:timers';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(process.argv[2] ?? join(here, '..'));
const port = Number(process.env.FIRST_HOUR_PORT ?? 8080);
const url = `http://127.0.0.1:${port}`;
const TYPES = ['synthetic', 'inference', 'training', 'rendering', 'transcode', 'gpuhash'];
/** A step that takes longer than this is stopped: the README's path is broken. */
const STEP_LIMIT_MS = 10 * 60_000;

const root = mkdtempSync(join(tmpdir(), 'taskmarket-first-hour-'));
const dir = join(root, 'taskmarket');
const env = {
  ...process.env,
  ...(port !== 8080 ? { TASKMARKET_PORT: String(port), TASKMARKET_URL: url } : {}),
  TASKMARKET_API_KEY: '',
};
delete env.TASKMARKET_OPERATOR_KEY;
delete env.TASKMARKET_CONFIG;

const loadAtStart = loadavg().map((l) => +l.toFixed(2));
const t0 = performance.now();
const now = () => performance.now() - t0;
const secs = (ms) => (ms / 1000).toFixed(1);
const steps = [];
const background = [];
let installedAt = 0;
const vars = { account_id: '', api_key: '', task_id: '' };
const completedAt = new Map();

function record(command, startMs, extra = {}) {
  const step = { command, start_s: +secs(startMs), took_s: +secs(now() - startMs), ...extra };
  steps.push(step);
  const cpu = typeof extra.cpu_s === 'number' ? `  [CPU ${extra.cpu_s} s]` : '';
  console.log(
    `${secs(step.took_s * 1000).padStart(6)} s  ${command}${cpu}${extra.note ? `  (${extra.note})` : ''}`,
  );
  return step;
}

/** CPU seconds a step's processes used (user + system, its children included), from bash's `times`. */
let lastCpuS = null;
const timesFile = join(root, 'times');

/**
 * Runs a command to its end (bash, in the clone); its stdout, or a thrown error with its output.
 * Leaves the CPU seconds it used in lastCpuS: a figure the machine's load barely moves, unlike
 * the wall time (this machine is shared).
 */
function run(command, cwd = dir) {
  return new Promise((resolveRun, reject) => {
    const script = `${command}\nrc=$?\ntimes > ${JSON.stringify(timesFile)}\nexit $rc`;
    const proc = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGTERM'), STEP_LIMIT_MS);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      lastCpuS = childCpuSeconds();
      if (code === 0) resolveRun(out);
      else reject(new Error(`\`${command}\` exited ${code}\n${out.slice(-2000)}\n${err.slice(-4000)}`));
    });
  });
}

/** The second line of `times`: the children's user and system time, e.g. "0m12.5s 0m1.2s". */
function childCpuSeconds() {
  try {
    const line = readFileSync(timesFile, 'utf8').split('\n')[1] ?? '';
    const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map(([, m, sec]) => Number(m) * 60 + Number(sec));
    return secs.length === 2 ? +(secs[0] + secs[1]).toFixed(1) : null;
  } catch {
    return null;
  }
}

/** Starts a long-running command and resolves once a line of its output matches `ready`. */
function start(command, ready) {
  return new Promise((resolveStart, reject) => {
    const proc = spawn('bash', ['-c', `exec ${command}`], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    background.push(proc);
    let log = '';
    const timer = setTimeout(
      () => reject(new Error(`\`${command}\` not ready:\n${log.slice(-4000)}`)),
      STEP_LIMIT_MS,
    );
    const look = (d) => {
      log += d;
      if (ready.test(log)) {
        clearTimeout(timer);
        resolveStart(proc);
      }
    };
    proc.stdout.on('data', look);
    proc.stderr.on('data', look);
    proc.on('exit', (code) => reject(new Error(`\`${command}\` exited ${code}:\n${log.slice(-4000)}`)));
  });
}

/** The shell commands of the README's Quick start: continuation lines joined, comments cut. */
function quickStartCommands(readme) {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Quick start'));
  if (!section) throw new Error('the README has no "Quick start" section');
  const commands = [];
  for (const [, block] of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = block.replace(/\\\n\s*/g, '');
    for (const line of joined.split('\n')) {
      // A comment starts with `#` after two spaces (none of the commands has one inside quotes).
      const command = line.replace(/\s{2,}#.*$/, '').trim();
      if (command && !command.startsWith('#')) commands.push(command);
    }
  }
  return commands;
}

/** The ended tasks of alice, read straight from the API (not a step of the README). */
async function noteCompleted() {
  if (!vars.api_key) return;
  const res = await fetch(`${url}/tasks?status=completed&limit=100`, {
    headers: { authorization: `Bearer ${vars.api_key}` },
  });
  if (!res.ok) return;
  for (const t of (await res.json()).tasks)
    if (!completedAt.has(t.challenge_type)) completedAt.set(t.challenge_type, now());
}

function substitute(command) {
  return command
    .replaceAll('<account_id>', vars.account_id)
    .replaceAll("<alice's api_key>", vars.api_key)
    .replaceAll('<task_id>', vars.task_id);
}

async function main() {
  console.log(`first hour: cloning ${repo} into ${dir}`);
  let s = now();
  execFileSync('git', ['clone', '--quiet', repo, dir], { stdio: 'inherit' });
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir }).toString().trim();
  record(`git clone (${head})`, s);

  const commands = quickStartCommands(readFileSync(join(dir, 'README.md'), 'utf8'));
  for (const raw of commands) {
    const command = substitute(raw);
    s = now();
    if (/^npm start\b/.test(command)) {
      await start(command, /market node listening/);
      record(command, s, { note: 'until listening' });
    } else if (/^(npx |\.\/)taskmarket( --url \S+)? worker (?!keygen|make-test-model|status)/.test(command)) {
      await start(command, /offer accepted/);
      record(command, s, { note: 'until its offer is accepted' });
    } else if (/^export /.test(command)) {
      const [, name, value] = /^export (\w+)=(.*)$/.exec(command);
      env[name] = value;
    } else {
      // A refusal that says when to retry is retried then, as its message tells a newcomer to.
      let out;
      let retries = 0;
      for (;;) {
        try {
          out = await run(command);
          break;
        } catch (err) {
          const wait = /retry in (\d+) s/.exec(err.message);
          if (!wait || retries >= 5) throw err;
          retries += 1;
          console.log(`         refused, retrying in ${wait[1]} s: ${err.message.trim().split('\n').pop()}`);
          await new Promise((r) => setTimeout(r, Number(wait[1]) * 1000));
        }
      }
      if (/ account create /.test(command)) {
        const account = JSON.parse(out);
        vars.account_id = account.account_id;
        vars.api_key = account.api_key;
      }
      if (/ task create /.test(command)) {
        const created = JSON.parse(out);
        vars.task_id = created.task?.task_id ?? created.task_id;
      }
      await noteCompleted();
      record(command, s, {
        cpu_s: lastCpuS,
        ...(retries > 0 ? { retries, note: `refused ${retries}× first, then retried` } : {}),
      });
      if (/^npm install\b/.test(command)) installedAt = now();
    }
  }
  await noteCompleted();

  // Not a step of the README: how much of `npm install` is the build (its `prepare` script).
  s = now();
  await run('npm run build');
  const build = { took_s: +secs(now() - s), cpu_s: lastCpuS };
  console.log(`(diagnostic: npm run build alone took ${build.took_s} s, CPU ${build.cpu_s} s)`);

  const first = Math.min(...completedAt.values());
  const missing = TYPES.filter((t) => !completedAt.has(t));
  const all = missing.length === 0 ? Math.max(...completedAt.values()) : null;
  const figures = {
    bench: 'first-hour',
    date: new Date().toISOString(),
    commit: head,
    node: process.version,
    cpus: cpus().length,
    load_average_at_start: loadAtStart,
    load_average_at_end: loadavg().map((l) => +l.toFixed(2)),
    build_alone: build,
    npm_cache: 'warm (packages already in ~/.npm on this machine)',
    steps,
    npm_install_s: +secs(steps.find((x) => /^npm install/.test(x.command))?.took_s * 1000 || 0),
    first_completed_from_clone_s: Number.isFinite(first) ? +secs(first) : null,
    first_completed_after_install_s: Number.isFinite(first) ? +secs(first - installedAt) : null,
    every_type_from_clone_s: all === null ? null : +secs(all),
    every_type_after_install_s: all === null ? null : +secs(all - installedAt),
    types_completed_s: Object.fromEntries([...completedAt].map(([k, v]) => [k, +secs(v)])),
    types_missing: missing,
  };
  console.log(
    `first task completed ${figures.first_completed_from_clone_s} s after the clone began ` +
      `(${figures.first_completed_after_install_s} s after npm install); every type ` +
      (all === null
        ? `NOT completed (missing: ${missing.join(', ')})`
        : `${figures.every_type_from_clone_s} s (${figures.every_type_after_install_s} s after npm install)`),
  );
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'first-hour.json'), `${JSON.stringify(figures, null, 2)}\n`);
  return missing.length === 0;
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  console.error(err.message);
} finally {
  for (const proc of background.reverse()) {
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const killer = setTimeout(() => {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 15_000);
    await new Promise((r) => (proc.exitCode === null ? proc.once('exit', r) : r()));
    clearTimeout(killer);
  }
  if (!process.env.FIRST_HOUR_KEEP) rmSync(root, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
