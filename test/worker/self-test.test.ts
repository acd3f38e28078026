// The worker's self-test: every configured runner on a tiny job, each inference model its own;
// what passes is offered, what fails is named with its reason (a command that cannot start, one
// that fails, a server that is down, a GGUF file that is missing, a runner that hangs).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCapability } from '../../src/worker/capability.js';
import { loadWorkerConfig } from '../../src/worker/config.js';
import { ThreadPool } from '../../src/worker/pool.js';
import { createLlamaEngine } from '../../src/worker/runners/registry.js';
import { formatCheck, runSelfTest, type SelfTestCheck } from '../../src/worker/self-test.js';
import { tinyModelDir } from './tiny-model.js';

const models = tinyModelDir();
const pool = new ThreadPool(1);

beforeAll(async () => {
  await models.model('tiny.gguf');
});
afterAll(async () => {
  await pool.close();
  models.remove();
});

/** A command (node -e) that writes a file, and says whether it saw TASKMARKET_SELF_TEST. */
const writes = (name: string) =>
  JSON.stringify([
    process.execPath,
    '-e',
    `require('fs').writeFileSync(require('path').join(process.env.TASKMARKET_OUTPUT_DIR, '${name}'), 'self test ' + process.env.TASKMARKET_SELF_TEST)`,
  ]);

describe('self-test', () => {
  it('passes the built-in runners with the reference answers', async () => {
    const report = await runSelfTest(loadWorkerConfig(), { pool, llama: null, timeoutMs: 60_000 });
    expect(report.checks.map((c) => [c.type, c.ok])).toEqual([
      ['synthetic', true],
      ['transcode', true],
      ['gpuhash', true],
    ]);
    expect(report.passed).toEqual({ types: ['synthetic', 'transcode', 'gpuhash'], models: [] });
  });

  it('offers only what passes, and says why the rest failed', async () => {
    const file = join(models.dir, 'worker.toml');
    writeFileSync(
      file,
      [
        '[runners.inference]',
        'url = "http://127.0.0.1:1"',
        'models = ["served-elsewhere"]',
        '[runners.inference.gguf.tiny]',
        'model_path = "tiny.gguf"',
        'context_size = 256',
        '[runners.inference.gguf.gone]',
        'model_path = "missing.gguf"',
        '[runners.training]',
        `command = ${writes('model.txt')}`,
        '[runners.rendering]',
        'command = ["./no-such-renderer"]',
        '[runners.transcode]',
        `command = ${JSON.stringify([process.execPath, '-e', 'process.exit(3)'])}`,
      ].join('\n'),
    );
    const config = loadWorkerConfig({ file });
    const llama = createLlamaEngine(config.runners.inference, 1);
    const seen: SelfTestCheck[] = [];
    try {
      const report = await runSelfTest(config, {
        pool,
        llama,
        timeoutMs: 120_000,
        onCheck: (c) => seen.push(c),
      });
      expect(seen).toEqual(report.checks);
      const byName = new Map(report.checks.map((c) => [c.model ?? c.type, c]));
      expect(byName.get('tiny')?.ok).toBe(true);
      expect(byName.get('served-elsewhere')).toMatchObject({
        ok: false,
        problem: expect.stringContaining('inference request failed'),
      });
      expect(byName.get('gone')).toMatchObject({
        ok: false,
        problem: expect.stringContaining('missing.gguf'),
      });
      expect(byName.get('training')?.ok).toBe(true);
      expect(byName.get('rendering')).toMatchObject({
        ok: false,
        problem: expect.stringContaining('no-such-renderer'),
      });
      expect(byName.get('transcode')).toMatchObject({
        ok: false,
        problem: expect.stringContaining('exited with code 3'),
      });
      expect(byName.get('gpuhash')?.ok).toBe(true);
      expect(report.passed).toEqual({
        types: ['inference', 'training', 'synthetic', 'gpuhash'],
        models: ['tiny'],
      });
      expect(formatCheck(byName.get('rendering')!)).toMatch(/^FAIL {2}rendering: cannot start/);
      expect(formatCheck(byName.get('tiny')!)).toMatch(/^ok {4}inference tiny \(\d+ ms\)$/);

      const cap = buildCapability({ cpuCores: 2, memoryMb: 4096, gpu: null }, config, report.passed);
      expect(cap.challenge_types).toEqual(['inference', 'training', 'synthetic', 'gpuhash']);
      expect(cap.models).toEqual(['tiny']);
    } finally {
      await llama?.close();
    }
  });

  it('fails a runner that gives no answer in time', async () => {
    const file = join(models.dir, 'slow.toml');
    writeFileSync(
      file,
      [
        '[runners.training]',
        `command = ${JSON.stringify([process.execPath, '-e', 'setTimeout(() => {}, 600000)'])}`,
      ].join('\n'),
    );
    const report = await runSelfTest(loadWorkerConfig({ file }), { pool, llama: null, timeoutMs: 300 });
    expect(report.checks.find((c) => c.type === 'training')).toMatchObject({
      ok: false,
      problem: expect.stringContaining('no answer within 300 ms'),
    });
  });
});
