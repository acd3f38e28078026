// bench/memory: how much memory an idle `taskmarket serve` node holds, on PGlite and PostgreSQL.
//
// For each database, a real node process is started twice:
//   empty   on a fresh data directory (PGlite) or a fresh schema (PostgreSQL);
//   settled on a database holding --tasks settled tasks (100,000 by default), made beforehand
//           through the real completion and settlement path (store.completeTasks and
//           SettlementService in Real mode, as bench/settlement does), then the node restarted on it.
// Figures read from /proc/<pid>/status: VmRSS when the node says it is listening, its peak
// (VmHWM, the most it ever held) and VmRSS after --idle seconds with nothing connected.
// Targets (issue #15): PGlite empty idle ≤ 200 MB and peak ≤ 300 MB; settled idle ≤ 250 MB.
//
// Writes bench/results/memory.json.
//
//   npm run build && node bench/memory.mjs [--tasks 100000] [--idle 20] [--db both|pglite|postgres]

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { systemClock } from '../dist/domain/clock.js';
import { generateKeyPair } from '../dist/domain/identity.js';
import { SYSTEM_ACCOUNTS, transfer } from '../dist/domain/ledger.js';
import { MarketEventBus } from '../dist/market/events.js';
import { OutboxWriter } from '../dist/market/outbox.js';
import { SettlementService } from '../dist/market/settlement.js';
import { appendJournals } from '../dist/store/ledger.js';
import { openDatabase } from '../dist/store/open.js';
import { completeTasks } from '../dist/store/tasks.js';
import { OPERATOR_KEY, PG_URL, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '100000' },
    idle: { type: 'string', default: '20' },
    db: { type: 'string', default: 'both' },
  },
});
const TASKS = Number(values.tasks);
const IDLE_S = Number(values.idle);
const BACKENDS = values.db === 'both' ? ['pglite', 'postgres'] : [values.db];
const CHAIN_KEY = '00000000000000000000000000000000000000000000000000000000000c4a17';
const CPC = 10n ** 18n;
const BATCH = 256;

function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(text.match(new RegExp(`${key}:\\s+(\\d+)`))[1]);
  return { rss_mb: Math.round(kb('VmRSS') / 1024), peak_mb: Math.round(kb('VmHWM') / 1024) };
}

/** Starts `taskmarket serve` on dataDir (and schema, for PostgreSQL); resolves once it listens. */
async function startNode(backend, dataDir, schema) {
  const args = ['dist/cli/main.js', 'serve', '--port', '0', '--data-dir', dataDir];
  if (backend === 'postgres') args.push('--database-url', PG_URL);
  const started = Date.now();
  const proc = spawn(process.execPath, args, {
    env: {
      ...process.env,
      TASKMARKET_OPERATOR_KEY: OPERATOR_KEY,
      TASKMARKET_DATABASE_SCHEMA: backend === 'postgres' ? schema : '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'market node listening') resolve();
        else if (entry.level >= 40) console.error(line);
      } catch {
        /* not a log line */
      }
    });
  });
  return {
    proc,
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

/** One node start: memory at listening, after IDLE_S seconds idle, and the peak. */
async function measure(backend, dataDir, schema) {
  const node = await startNode(backend, dataDir, schema);
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

/** Writes TASKS tasks, completed and settled through the real path, into the node's database. */
async function seedSettled(backend, dataDir, schema) {
  const db = await openDatabase(
    backend === 'postgres' ? { databaseUrl: PG_URL, schema, poolSize: 4 } : { dataDir },
  );
  try {
    const units = 2;
    const reward = BigInt(units) * CPC + CPC;
    const customers = Array.from({ length: Math.min(1000, TASKS) }, () => randomUUID());
    const providers = Array.from({ length: 100 }, () => generateKeyPair().address);
    const now = Math.floor(Date.now() / 1000);
    await db.query(
      `INSERT INTO accounts (account_id, name, kind, created_at)
       SELECT id, 'bench', 'customer', $2 FROM unnest($1::uuid[]) AS id`,
      [customers, now],
    );
    await db.query(
      `INSERT INTO balances (account_id, asset)
       SELECT id, asset FROM unnest($1::uuid[]) AS id, unnest($2::text[]) AS asset`,
      [customers, ['CPC', 'IT']],
    );
    await appendJournals(
      db,
      customers.flatMap((customer, c) => {
        const count = Math.floor(TASKS / customers.length) + (c < TASKS % customers.length ? 1 : 0);
        const total = reward * BigInt(count);
        return [
          {
            journalId: randomUUID(),
            kind: 'fund',
            ref: null,
            postings: transfer(SYSTEM_ACCOUNTS.external, customer, 'CPC', total),
          },
          {
            journalId: randomUUID(),
            kind: 'escrow_hold',
            ref: null,
            postings: transfer(customer, SYSTEM_ACCOUNTS.escrow, 'CPC', total),
          },
        ];
      }),
      now,
    );
    await db.query(
      `INSERT INTO tasks (task_id, account_id, challenge_type, payload, asset, reward, escrow_held, escrow_ct, status, result_hash,
                          worker_address, completed_at, created_at, updated_at, units, jobs_total, jobs_done)
       SELECT gen_random_uuid(), ($1::uuid[])[1 + i % $8::int], 'gpuhash', '{}', 'CPC', $2::numeric, $2::numeric, $2::numeric,
              'in_progress', encode(sha256(i::text::bytea), 'hex'), ($3::text[])[1 + i % $4::int], $5::bigint,
              $5::bigint, $5::bigint, $6::int, 1, 1
       FROM generate_series(0, $7::int - 1) AS i`,
      [customers, reward.toString(), providers, providers.length, now, units, TASKS, customers.length],
    );
    await db.query(
      `INSERT INTO jobs (job_id, task_id, idx, challenge_type, slices, units, status, worker_address, result_hash,
                         quote_price, queued_at, started_at, finished_at)
       SELECT gen_random_uuid(), t.task_id, 0, 'gpuhash', '[]', $1, 'completed', t.worker_address,
              encode(sha256((t.seq::text || ':0')::bytea), 'hex'), $2::numeric, $3::bigint, $3::bigint, $3::bigint
       FROM tasks t`,
      [units, CPC.toString(), now * 1000],
    );
    await db.query('ANALYZE');
    const done = await db.query('SELECT task_id, result_hash, worker_address FROM tasks ORDER BY seq');
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

const results = { tasks: TASKS, idle_s: IDLE_S };
for (const backend of BACKENDS) {
  const figures = {};
  for (const part of ['empty', 'settled']) {
    if (part === 'settled' && TASKS === 0) continue;
    const dataDir = mkdtempSync(join(tmpdir(), 'taskmarket-memory-'));
    const schema = `bench_memory_${process.pid}_${Date.now()}`;
    try {
      if (part === 'settled') {
        const t = Date.now();
        await seedSettled(backend, dataDir, schema);
        console.log(
          `${backend}: ${TASKS} settled tasks written in ${((Date.now() - t) / 1000).toFixed(1)} s`,
        );
      }
      figures[part] = await measure(backend, dataDir, schema);
      console.log(`${backend} ${part}: ${JSON.stringify(figures[part])}`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      if (backend === 'postgres') await dropSchema(schema);
    }
  }
  results[backend] = figures;
}
writeResults('memory', results);
