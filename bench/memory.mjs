// bench/memory: how much memory an idle `taskmarket serve` node holds, on PGlite and PostgreSQL.
//
// For each database, a real node process is started twice:
//   empty   on a fresh data directory (PGlite) or a fresh schema (PostgreSQL);
//   settled on a database holding --tasks settled tasks (100,000 by default), made beforehand
//           through the real completion and settlement path (store.completeTasks and
//           SettlementService in Real mode, as bench/settlement does), then delivered: a node is
//           started on it once and stopped when its courier has nothing left to send or confirm
//           (as a node that settled those tasks over time would have sent them), and then the
//           node restarted on it is measured. With --backlog the node is restarted straight on the
//           seeded database instead, so its first minute is the courier's catch-up (the peak of a
//           node restarted after a long outage), not idle.
// Figures read from /proc/<pid>/status: VmRSS when the node says it is listening, its peak
// (VmHWM, the most it ever held) and VmRSS after --idle seconds with nothing connected.
// Targets (issue #15): PGlite empty idle ≤ 200 MB and peak ≤ 300 MB; settled idle ≤ 250 MB.
//
// Each start is made twice, `tuned` (with the opt-in memory settings of README "Memory",
// NODE_TUNING in lib.mjs) and `bare` (plain `node dist/cli/main.js serve`, the default), unless
// --tuning on|off picks one. On PGlite both start from a
// copy of the same seeded data directory; on PostgreSQL the bare start follows the tuned one on
// the same schema.
//
// Writes bench/results/memory.json (with --backlog, memory-backlog.json).
//
//   npm run build && node bench/memory.mjs [--tasks 100000] [--idle 20] [--db both|pglite|postgres]
//       [--tuning both|on|off] [--runs 1] [--seeded-dir DIR]
//
// --seeded-dir DIR (PGlite): seeds into DIR and keeps it when DIR does not exist, else starts the
// settled node on a copy of DIR (what it holds is taken as --tasks settled tasks, unchecked). DIR
// keeps the database as seeded, before delivery, so it serves --backlog runs as well.
//
// --runs N starts each (PGlite: on a fresh copy each time) N times and records every run and the
// range of each figure: the machine's load moves these figures by tens of MB.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { systemClock } from '../dist/domain/clock.js';
import { MarketEventBus } from '../dist/market/events.js';
import { OutboxWriter } from '../dist/market/outbox.js';
import { SettlementService } from '../dist/market/settlement.js';
import { openDatabase } from '../dist/store/open.js';
import { completeTasks } from '../dist/store/tasks.js';
import { nodeLaunch, OPERATOR_KEY, PG_URL, seedCompleted, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '100000' },
    idle: { type: 'string', default: '20' },
    db: { type: 'string', default: 'both' },
    tuning: { type: 'string', default: 'both' },
    runs: { type: 'string', default: '1' },
    'seeded-dir': { type: 'string' },
    backlog: { type: 'boolean', default: false },
  },
});
const TASKS = Number(values.tasks);
const IDLE_S = Number(values.idle);
const BACKENDS = values.db === 'both' ? ['pglite', 'postgres'] : [values.db];
const RUNS = Number(values.runs);
// PGlite only: a settled data directory kept between bench runs. Seeded (and kept) when the folder
// does not exist yet; otherwise copied as is, so a settled start can be repeated without reseeding.
const SEEDED_DIR = values['seeded-dir'];
const BACKLOG = values.backlog;
/** Outbox statuses the courier still works on: a delivered database has none. */
const UNDELIVERED = ['pending', 'sent', 'checking', 'included'];
const VARIANTS = values.tuning === 'both' ? ['tuned', 'bare'] : [values.tuning === 'off' ? 'bare' : 'tuned'];
const CHAIN_KEY = '00000000000000000000000000000000000000000000000000000000000c4a17';
const BATCH = 256;

function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(text.match(new RegExp(`${key}:\\s+(\\d+)`))[1]);
  return { rss_mb: Math.round(kb('VmRSS') / 1024), peak_mb: Math.round(kb('VmHWM') / 1024) };
}

/** Starts `taskmarket serve` on dataDir (and schema, for PostgreSQL); resolves once it listens. */
async function startNode(backend, dataDir, schema, variant) {
  const launch = nodeLaunch(variant === 'tuned');
  const args = [...launch.args, 'dist/cli/main.js', 'serve', '--port', '0', '--data-dir', dataDir];
  if (backend === 'postgres') args.push('--database-url', PG_URL);
  const started = Date.now();
  const proc = spawn(process.execPath, args, {
    env: {
      ...process.env,
      ...launch.env,
      TASKMARKET_OPERATOR_KEY: OPERATOR_KEY,
      TASKMARKET_DATABASE_SCHEMA: backend === 'postgres' ? schema : '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'market node listening') resolve(entry.url);
        else if (entry.level >= 40) console.error(line);
      } catch {
        /* not a log line */
      }
    });
  });
  return {
    proc,
    url,
    listeningMs: Date.now() - started,
    stop: async () => {
      // SIGKILL: the figures are taken; a graceful stop of a node with a courier backlog takes
      // minutes and measures nothing here.
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts a node on the seeded database and stops it (gracefully) once its courier delivered everything. */
async function deliver(backend, dataDir, schema) {
  const node = await startNode(backend, dataDir, schema, 'bare');
  const started = Date.now();
  try {
    for (;;) {
      const res = await fetch(`${node.url}/rpc`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ method: 'compute.courier_status', params: {} }),
      });
      const status = await res.json();
      if (!res.ok) throw new Error(`compute.courier_status: ${res.status} ${JSON.stringify(status)}`);
      const left = UNDELIVERED.reduce((n, st) => n + (status.outbox?.[st] ?? 0), 0);
      if (left === 0) break;
      if (Date.now() - started > 30 * 60_000)
        throw new Error(`courier still has ${left} entries after 30 min`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    const exited = new Promise((resolve) => node.proc.once('exit', resolve));
    node.proc.kill('SIGTERM');
    await exited;
  }
  return Date.now() - started;
}

/** One node start: memory at listening, after IDLE_S seconds idle, and the peak. */
async function measure(backend, dataDir, schema, variant) {
  const node = await startNode(backend, dataDir, schema, variant);
  const atListen = procStatus(node.proc.pid);
  await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000));
  const idle = procStatus(node.proc.pid);
  await node.stop();
  return {
    listening_ms: node.listeningMs,
    rss_at_listening_mb: atListen.rss_mb,
    idle_rss_mb: idle.rss_mb,
    peak_mb: idle.peak_mb,
  };
}

/** One run's figures, or with several runs each figure's range ("min–max") and every run. */
function summarise(runs) {
  if (runs.length === 1) return runs[0];
  const range = (key) => {
    const xs = runs.map((r) => r[key]);
    return `${Math.min(...xs)}–${Math.max(...xs)}`;
  };
  return { ...Object.fromEntries(Object.keys(runs[0]).map((k) => [k, range(k)])), runs };
}

/** Writes TASKS tasks, completed and settled through the real path, into the node's database. */
async function seedSettled(backend, dataDir, schema) {
  const db = await openDatabase(
    backend === 'postgres' ? { databaseUrl: PG_URL, schema, poolSize: 4 } : { dataDir },
  );
  try {
    const { done } = await seedCompleted(db, { tasks: TASKS });
    const now = Math.floor(Date.now() / 1000);
    const events = new MarketEventBus();
    const settlement = new SettlementService(db, systemClock, events, pino({ level: 'silent' }));
    await settlement.load({ checkReceipts: false });
    await settlement.command({ type: 'arm', delayMs: 0 });
    const outbox = new OutboxWriter(CHAIN_KEY, systemClock);
    settlement.attachOutbox(outbox);
    for (let i = 0; i < done.length; i += BATCH) {
      await db.transaction(async (tx) => {
        const completed = await completeTasks(tx, done.slice(i, i + BATCH), now);
        await settlement.settle(
          tx,
          completed.map((c) => ({ taskId: c.task_id, escrowHeld: BigInt(c.escrow_held) })),
        );
      });
    }
    if (settlement.mode() !== 'Real') throw new Error(`settlement fell back to ${settlement.mode()}`);
  } finally {
    await db.close();
  }
}

async function dropSchema(schema) {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

const results = {
  tasks: TASKS,
  idle_s: IDLE_S,
  runs: RUNS,
  settled: BACKLOG ? 'restarted on the courier backlog' : 'delivered, then restarted',
  tuning: nodeLaunch(true),
};
for (const backend of BACKENDS) {
  const figures = {};
  for (const part of ['empty', 'settled']) {
    if (part === 'settled' && TASKS === 0) continue;
    const dataDir = mkdtempSync(join(tmpdir(), 'taskmarket-memory-'));
    const schema = `bench_memory_${process.pid}_${Date.now()}`;
    try {
      if (part === 'settled' && backend === 'pglite' && SEEDED_DIR && existsSync(SEEDED_DIR)) {
        cpSync(SEEDED_DIR, dataDir, { recursive: true });
        console.log(`${backend}: settled tasks copied from ${SEEDED_DIR}`);
      } else if (part === 'settled') {
        const t = Date.now();
        await seedSettled(backend, dataDir, schema);
        console.log(
          `${backend}: ${TASKS} settled tasks written in ${((Date.now() - t) / 1000).toFixed(1)} s`,
        );

        if (backend === 'pglite' && SEEDED_DIR) cpSync(dataDir, SEEDED_DIR, { recursive: true });
      }
      if (part === 'settled' && !BACKLOG) {
        const ms = await deliver(backend, dataDir, schema);
        console.log(`${backend}: the courier delivered them in ${(ms / 1000).toFixed(1)} s`);
      }
      figures[part] = {};
      const copies = backend === 'pglite' && VARIANTS.length * RUNS > 1;
      const runs = Object.fromEntries(VARIANTS.map((v) => [v, []]));
      for (let run = 0; run < RUNS; run++) {
        for (const variant of VARIANTS) {
          // PGlite: each start on its own copy, so every start finds what the first found.
          const dir = copies ? `${dataDir}-${variant}-${run}` : dataDir;
          if (copies) cpSync(dataDir, dir, { recursive: true });
          try {
            runs[variant].push(await measure(backend, dir, schema, variant));
          } finally {
            if (copies) rmSync(dir, { recursive: true, force: true });
          }
          console.log(`${backend} ${part} ${variant}: ${JSON.stringify(runs[variant].at(-1))}`);
        }
      }
      for (const variant of VARIANTS) figures[part][variant] = summarise(runs[variant]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      if (backend === 'postgres') await dropSchema(schema);
    }
  }
  results[backend] = { at: new Date().toISOString(), ...figures };
}
// A run on one database keeps the other's figures from the file's last run.
const name = BACKLOG ? 'memory-backlog' : 'memory';
const earlier = existsSync(`bench/results/${name}.json`)
  ? JSON.parse(readFileSync(`bench/results/${name}.json`, 'utf8'))
  : {};
writeResults(name, {
  ...Object.fromEntries(['pglite', 'postgres'].filter((b) => earlier[b]).map((b) => [b, earlier[b]])),
  ...results,
});
