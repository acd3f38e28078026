// The external-command runner with tiny `node -e` scripts as the provider's command: what the
// command is given, how its files become artifacts and the proof, and the limits (timeout kills
// the whole process group, output size, exit status, symlinks, cancel).

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, describe, expect, it } from 'vitest';
import { SliceCache } from '../../src/worker/cache.js';
import { ThreadPool } from '../../src/worker/pool.js';
import { outputListing } from '../../src/worker/runners/artifacts.js';
import { commandRunner, type CommandRunnerOptions } from '../../src/worker/runners/command.js';
import { job, run } from './fixtures.js';

const pool = new ThreadPool(2);
const workRoot = mkdtempSync(join(tmpdir(), 'taskmarket-cmd-'));
const pidDir = mkdtempSync(join(tmpdir(), 'taskmarket-pids-'));
afterAll(async () => {
  await pool.close();
  rmSync(workRoot, { recursive: true, force: true });
  rmSync(pidDir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const hex = (b: Uint8Array | string) => bytesToHex(blake3(typeof b === 'string' ? utf8ToBytes(b) : b));

function runner(script: string, opts: Partial<CommandRunnerOptions> = {}) {
  return commandRunner({
    argv: [process.execPath, '-e', script],
    timeoutMs: 20_000,
    maxOutputBytes: 1 << 20,
    pool,
    cache: null,
    workRoot,
    watchIntervalMs: 20,
    ...opts,
  });
}

const training = () =>
  job(
    'training',
    { model_architecture: 'resnet50', dataset_url: 'https://data.example/set', epochs: 2, batch_size: 32 },
    [{ index: 0, units: 2, kind: 'whole' }],
  );
const rendering = (frames: number[]) =>
  job(
    'rendering',
    { scene_file: 'https://data.example/scene.blend', resolution: '64x32', frames: 10 },
    frames.map((frame, index) => ({ index, units: 1, kind: 'frame' as const, frame })),
  );

describe('command runner', () => {
  it('passes payload, output dir and slice by environment; the files are the artifacts and the proof', async () => {
    const script = `
      const fs = require('fs'), path = require('path'), env = process.env;
      const out = env.TASKMARKET_OUTPUT_DIR;
      const payload = JSON.parse(fs.readFileSync(env.TASKMARKET_PAYLOAD, 'utf8'));
      fs.writeFileSync(path.join(out, 'model.txt'), payload.model_architecture + ' x' + payload.epochs);
      fs.mkdirSync(path.join(out, 'metrics'));
      fs.writeFileSync(path.join(out, 'metrics', 'env.json'), JSON.stringify({
        slice: JSON.parse(env.TASKMARKET_SLICE), type: env.TASKMARKET_CHALLENGE_TYPE, job: env.TASKMARKET_JOB_ID,
        cwdInsideWork: process.cwd().startsWith(${JSON.stringify(workRoot)}),
      }));
      console.log('training done');`;
    const msg = training();
    const result = await run(runner(script), msg);
    const envJson = JSON.stringify({
      slice: msg.slices[0],
      type: 'training',
      job: msg.job_id,
      cwdInsideWork: true,
    });
    expect(result.output?.artifacts).toEqual([
      { name: 'metrics/env.json', data: Buffer.from(envJson).toString('base64') },
      { name: 'model.txt', data: Buffer.from('resnet50 x2').toString('base64') },
    ]);
    const listing = outputListing([
      { name: 'metrics/env.json', digest: hex(envJson) },
      { name: 'model.txt', digest: hex('resnet50 x2') },
    ]);
    expect(listing).toBe(`${hex(envJson)}  metrics/env.json\n${hex('resnet50 x2')}  model.txt\n`);
    expect(result.proofs).toEqual([hex(listing)]);
    // The working directory is gone afterwards.
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('runs rendering once per frame, with artifacts under frame-<n>/', async () => {
    const script = `require('fs').writeFileSync(process.env.TASKMARKET_OUTPUT_DIR + '/image.ppm', 'frame ' + process.env.TASKMARKET_FRAME)`;
    const cache = new SliceCache(1 << 20);
    const result = await run(runner(script, { cache }), rendering([3, 4, 5]));
    expect(result.output?.artifacts?.map((a) => a.name)).toEqual([
      'frame-3/image.ppm',
      'frame-4/image.ppm',
      'frame-5/image.ppm',
    ]);
    expect(result.proofs).toEqual([3, 4, 5].map((f) => hex(`${hex(`frame ${f}`)}  image.ppm\n`)));
    expect(result.reported.map(([i]) => i)).toEqual([0, 1, 2]);
    // Frame 5 again, now first in its job: computed once.
    const again = await run(runner(script, { cache }), rendering([5, 6]));
    expect(again.proofs[0]).toBe(result.proofs[2]);
    expect(cache.hits).toBe(1);
  });

  it('kills the whole process group on timeout', async () => {
    const pidFile = join(pidDir, 'grandchild.pid');
    const script = `
      const { spawn } = require('child_process');
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
      setInterval(() => {}, 1000);`;
    // The time limit leaves a loaded machine room to start the script and its child first.
    await expect(run(runner(script, { timeoutMs: 4000 }), training())).rejects.toMatchObject({
      reason: 'timeout',
    });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => alive(pid), { timeout: 20_000 }).toBe(false);
  });

  it('refuses too much output, a failing command, no files and symlinks', async () => {
    const big = `require('fs').writeFileSync(process.env.TASKMARKET_OUTPUT_DIR + '/big.bin', Buffer.alloc(2 << 20))`;
    await expect(run(runner(big), training())).rejects.toMatchObject({
      reason: 'runner_error',
      message: expect.stringContaining(`more than ${1 << 20} bytes`),
    });
    const endless = `const fs = require('fs'); let i = 0; setInterval(() => fs.writeFileSync(process.env.TASKMARKET_OUTPUT_DIR + '/f' + i++, Buffer.alloc(256 << 10)), 5)`;
    await expect(run(runner(endless), training())).rejects.toMatchObject({ reason: 'runner_error' });
    const failing = `console.error('CUDA out of memory'); process.exit(3)`;
    await expect(run(runner(failing), training())).rejects.toMatchObject({
      reason: 'runner_error',
      message: 'command exited with code 3: CUDA out of memory',
    });
    await expect(run(runner(`console.log('nothing')`), training())).rejects.toMatchObject({
      message: expect.stringContaining('no files'),
    });
    const link = `require('fs').symlinkSync('/etc/passwd', process.env.TASKMARKET_OUTPUT_DIR + '/passwd')`;
    await expect(run(runner(link), training())).rejects.toMatchObject({
      message: expect.stringContaining('symlinks'),
    });
    const missing = commandRunner({
      argv: ['/nonexistent/renderer'],
      timeoutMs: 1000,
      maxOutputBytes: 1,
      pool,
      cache: null,
    });
    await expect(run(missing, training())).rejects.toMatchObject({
      message: expect.stringContaining('cannot start'),
    });
  });

  it('stops the command when the job is cancelled', async () => {
    const pidFile = join(pidDir, 'cancelled.pid');
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`;
    const cancel = new AbortController();
    const pending = run(runner(script), training(), cancel.signal);
    await expect.poll(() => existsSync(pidFile)).toBe(true);
    cancel.abort(new Error('cancelled'));
    await expect(pending).rejects.toThrow('cancelled');
    expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });
});
