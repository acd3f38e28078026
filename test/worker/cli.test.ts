// The provider's CLI as an operator uses it (TypeScript sources through tsx, so no build is
// needed): keygen, capability printing, run-workload, refusing bad input with exit 2, and a
// worker that connects, drains on SIGTERM and exits at once on a second signal.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isValidAddress, verifySignature } from '../../src/domain/identity.js';
import { loadKeyFile } from '../../src/worker/keyfile.js';
import { helloMessage, type Hello } from '../../src/domain/schemas/worker.js';
import { FakeMarket, type Sent } from './fake-market.js';
import { bytes, bytesJob, job, syntheticJob } from './fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SLICE = fileURLToPath(new URL('../../examples/workloads/transcode.slice', import.meta.url));
// Every test waits on process exits and messages, never on a clock; but each process compiles the
// CLI through tsx, seconds of CPU on a loaded machine, so the limit is generous.
vi.setConfig({ testTimeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'taskmarket-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

interface Run {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  stderr: () => string;
}

function start(args: string[]): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, TASKMARKET_URL: '', TASKMARKET_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      resolve({ code, stdout, stderr });
    }),
  );
  return { proc, exited, stderr: () => stderr };
}

const cli = (args: string[]) => start(args).exited;

describe('taskmarket worker keygen', () => {
  it('writes a 0600 key file, prints its address, and never overwrites', async () => {
    const out = join(dir, 'w1.json');
    const res = await cli(['worker', 'keygen', '--out', out, '--name', 'rig-7']);
    expect(res.code, res.stderr).toBe(0);
    // created_at is written as the chain's CLI writes it (an ISO string); loadKeyFile reads either.
    const key = loadKeyFile(out).key;
    expect(res.stdout).toBe(`${key.address}\n`);
    expect(isValidAddress(key.address)).toBe(true);
    expect(key.name).toBe('rig-7');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const again = await cli(['worker', 'keygen', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    expect(loadKeyFile(out).key).toEqual(key);
  });
});

describe('taskmarket worker (one-shot)', () => {
  it('prints the capability with config overrides', async () => {
    const config = join(dir, 'cap.toml');
    writeFileSync(
      config,
      '[capability]\ngpu_model = "RTX4090"\ngpu_count = 1\ngpu_memory_mb = 24564\nframeworks = ["pytorch"]\n',
    );
    const res = await cli(['worker', '--config', config, '--print-capability']);
    expect(res.code, res.stderr).toBe(0);
    const cap = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(cap).toMatchObject({
      gpu_model: 'RTX4090',
      gpu_count: 1,
      gpu_memory_mb: 24564,
      frameworks: ['pytorch'],
    });
    expect(cap.challenge_types).toEqual(['synthetic', 'transcode', 'gpuhash']);
  });

  it('refuses a bad key file, a missing key and a bad config with exit 2', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'x', private_key: '00'.repeat(32) }), { mode: 0o600 });
    const config = join(dir, 'typo.toml');
    writeFileSync(config, 'slotz = 3\n');
    // Four processes that each compile the CLI: run together, waited on by their exits.
    const [res, noKey, typo, slots] = await Promise.all([
      cli(['worker', '--key', bad]),
      cli(['worker']),
      cli(['worker', '--config', config, '--print-capability']),
      cli(['worker', '--slots', 'many', '--print-capability']),
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: .*bad\.json: key file: private_key/m);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/key file is required/);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/slotz: unknown key/);
    expect(slots.code).toBe(2);
  });
});

describe('taskmarket worker make-test-model and --self-test', () => {
  it('writes a tiny GGUF model, and the self-test runs it and names what fails (exit 1)', async () => {
    const model = join(dir, 'models', 'tiny.gguf');
    const made = await cli(['worker', 'make-test-model', '--out', model]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain('[runners.inference.gguf.tiny]');
    expect(readFileSync(model).subarray(0, 4).toString('latin1')).toBe('GGUF');
    const config = join(dir, 'selftest.toml');
    writeFileSync(
      config,
      [
        '[runners.inference.gguf.tiny]',
        'model_path = "models/tiny.gguf"',
        '[runners.rendering]',
        'command = ["./no-such-renderer"]',
      ].join('\n'),
    );
    const res = await cli(['worker', '--self-test', '--config', config]);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout).toMatch(/^ok {4}inference tiny \(\d+ ms\)$/m);
    expect(res.stdout).toMatch(/^FAIL {2}rendering: cannot start .*no-such-renderer/m);
    expect(res.stdout).toMatch(/^ok {4}synthetic/m);
    expect(res.stdout).toContain('1 of 5 checks failed');
  });
});

describe('taskmarket run-workload', () => {
  it('prints the BLAKE3 proof hash of a .slice file', async () => {
    const res = await cli(['run-workload', SLICE]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe(`${bytesToHex(blake3(readFileSync(SLICE)))}\n`);
    const missing = await cli(['run-workload', join(dir, 'missing.slice')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/ENOENT/);
  });
});

describe('taskmarket worker (running)', () => {
  let market: FakeMarket;
  let keyPath: string;
  beforeEach(async () => {
    market = await FakeMarket.start();
    keyPath = join(dir, `k${Math.random().toString(36).slice(2)}.json`);
    expect((await cli(['worker', 'keygen', '--out', keyPath])).code).toBe(0);
  });
  afterEach(() => market.close());

  it('connects, works, and drains then exits 0 on SIGTERM', async () => {
    const w = start([
      '--url',
      market.url,
      'worker',
      '--key',
      keyPath,
      '--slots',
      '2',
      '--price',
      '0.5',
      '--units',
      '100',
    ]);
    const conn = await market.nextConnection();
    const hello = await conn.next<Hello & Sent>('hello');
    expect(
      verifySignature(hello.public_key, utf8ToBytes(helloMessage(conn.challenge)), hello.signature),
    ).toBe(true);
    expect(hello.free_slots).toBe(2);
    conn.welcome(hello.address, 100);
    expect(await conn.next('offer')).toMatchObject({ units: 100, price_per_unit: '0.5' });
    const job = syntheticJob({ seed: '0a', matrix_size: 8, iterations: 2 });
    conn.send(job);
    await conn.next('job_result', (m) => m.job_id === job.job_id);
    w.proc.kill('SIGTERM');
    expect(await conn.closed).toEqual({ code: 1000, reason: 'worker shutting down' });
    const res = await w.exited;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/"msg":"connected"/);
    expect(res.stderr).toMatch(/"msg":"worker stopped"/);
  });

  it('offers what passed its self-test, runs the tiny model alike twice, and logs a summary', async () => {
    const model = join(dir, 'running-tiny.gguf');
    expect((await cli(['worker', 'make-test-model', '--out', model])).code).toBe(0);
    const config = join(dir, `running-${Math.random().toString(36).slice(2)}.toml`);
    writeFileSync(
      config,
      [
        'summary_interval_ms = 100',
        '[runners.inference.gguf.tiny]',
        `model_path = "${model}"`,
        'context_size = 256',
        '[runners.rendering]',
        'command = ["./no-such-renderer"]',
      ].join('\n'),
    );
    const w = start([
      '--url',
      market.url,
      'worker',
      '--key',
      keyPath,
      '--config',
      config,
      '--price',
      '0.5',
      '--units',
      '100',
    ]);
    const conn = await market.nextConnection();
    const hello = await conn.next<Hello & Sent>('hello');
    expect(hello.capability.challenge_types).toEqual(['inference', 'synthetic', 'transcode', 'gpuhash']);
    expect(hello.capability.models).toEqual(['tiny']);
    expect(w.stderr()).toMatch(/"msg":"self-test failed: not offering rendering"/);
    conn.welcome(hello.address, 100);
    const payload = { model_id: 'tiny', prompt: 'Hello from the market', max_tokens: 8, temperature: 0 };
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const msg = job('inference', payload, [{ index: 0, units: 3, kind: 'whole' }]);
      conn.send(msg);
      const result = await conn.next<Sent & { output: { text: string } }>(
        'job_result',
        (m) => m.job_id === msg.job_id,
      );
      texts.push(result.output.text);
      conn.send({ type: 'result_accepted', job_id: msg.job_id });
    }
    expect(texts[1]).toBe(texts[0]);
    // 2 jobs × 3 units at 0.5: the summary line (JSON, as stdout is not a terminal) says 3.0.
    await expect
      .poll(
        () =>
          /"msg":"summary"/.test(w.stderr()) &&
          /"total":\{"jobs_done":2,"jobs_failed":0,"units":6,"earned":"3.0"\}/.test(w.stderr()),
        {
          timeout: 60_000,
          interval: 100,
        },
      )
      .toBe(true);
    w.proc.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });

  it('exits at once on a second signal while draining', async () => {
    const w = start(['--url', market.url, 'worker', '--key', keyPath]);
    const conn = await market.nextConnection();
    const hello = await conn.next<Hello & Sent>('hello');
    conn.welcome(hello.address, 100);
    await conn.next('heartbeat');
    conn.send(syntheticJob({ seed: '0b', matrix_size: 256, iterations: 100_000 }));
    await conn.next('heartbeat', (m) => (m.jobs as string[]).length === 1);
    w.proc.kill('SIGTERM');
    await conn.next('heartbeat', (m) => m.free_slots === 0);
    w.proc.kill('SIGTERM');
    const res = await w.exited;
    expect(res.code).toBe(143);
    expect(res.stderr).toMatch(/second signal/);
  });
});

/** True when file exists and is newer than every .ts file under dir. */
function builtAfter(file: string, dir: string): boolean {
  if (!existsSync(file)) return false;
  const built = statSync(file).mtimeMs;
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .every((f) => statSync(join(dir, f)).mtimeMs <= built);
}

describe('the built binary', () => {
  const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
  const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
  let market: FakeMarket;
  beforeEach(async () => {
    market = await FakeMarket.start();
  });
  afterEach(() => market.close());

  // `npm test` builds first; this checks the compiled pool loads pool-thread.js without tsx. A
  // build older than the worker's sources would test old code, so it is skipped then.
  it.skipIf(!builtAfter(BIN, SRC))('hashes slices on its thread pool from dist/', async () => {
    const keyPath = join(dir, 'dist-key.json');
    rmSync(keyPath, { force: true });
    expect((await cli(['worker', 'keygen', '--out', keyPath])).code).toBe(0);
    const proc = spawn(process.execPath, [BIN, '--url', market.url, 'worker', '--key', keyPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(proc);
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
    const conn = await market.nextConnection();
    const hello = await conn.next<Hello & Sent>('hello');
    conn.welcome(hello.address, 100);
    const input = bytes(1.25 * 1024 * 1024, 9);
    const job = bytesJob(input, 'gpuhash');
    conn.send(job);
    const result = await conn.next<Sent & { proof: string[] }>('job_result', (m) => m.job_id === job.job_id);
    expect(result.proof).toEqual(
      [input.subarray(0, 1 << 20), input.subarray(1 << 20)].map((b) => bytesToHex(blake3(b))),
    );
    proc.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
  });
});
