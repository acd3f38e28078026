// The worker config: TOML and flags layered over defaults, frozen, with unknown keys and bad
// values refused by name; the gateway URL derived from a node URL.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  gatewayUrl,
  loadWorkerConfig,
  servedModels,
  threadCount,
  WorkerConfigError,
} from '../../src/worker/config.js';

const dir = mkdtempSync(join(tmpdir(), 'taskmarket-wcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function toml(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(file, text);
  return file;
}

describe('worker config', () => {
  it('has working defaults', () => {
    const c = loadWorkerConfig();
    expect(c).toMatchObject({
      url: 'ws://127.0.0.1:8080/worker',
      slots: 1,
      shutdown_grace_ms: 30_000,
      log_level: 'info',
    });
    expect(c.reconnect).toEqual({ initial_delay_ms: 500, max_delay_ms: 30_000 });
    expect(c.offer).toBeUndefined();
    expect(Object.isFrozen(c.reconnect)).toBe(true);
  });

  it('reads every section from TOML, and flags win', () => {
    const file = toml(`
url = "ws://market:8080/worker"
key_file = "worker.json"
slots = 4
shutdown_grace_ms = 5000
[offer]
units = 1000
price_per_unit = "0.01"
[capability]
gpu_model = "RTX4090"
frameworks = ["pytorch"]
[runners.inference]
url = "http://127.0.0.1:8000"
models = ["llama-3-8b"]
[runners.rendering]
command = ["blender", "--background"]
timeout_ms = 60000
[runners.transcode]
command = ["ffmpeg", "-i", "pipe:0", "-f", "null", "pipe:1"]
`);
    const c = loadWorkerConfig({ file, flags: { slots: '2', price_per_unit: '0.02' } });
    expect(c.slots).toBe(2);
    expect(c.offer).toEqual({ units: 1000, price_per_unit: '0.02', fee_pct_ct: 100 });
    expect(c.capability).toEqual({ gpu_model: 'RTX4090', frameworks: ['pytorch'] });
    expect(c.runners.inference).toEqual({
      url: 'http://127.0.0.1:8000',
      models: ['llama-3-8b'],
      endpoint: 'completions',
      timeout_ms: 300_000,
      gpu: 'auto',
      threads: 0,
      gguf: {},
    });
    expect(c.runners.rendering).toEqual({
      command: ['blender', '--background'],
      deterministic: false,
      timeout_ms: 60_000,
      max_output_bytes: 8 << 20,
    });
    expect(c.runners.transcode?.command?.[0]).toBe('ffmpeg');
  });

  it('builds an offer from flags alone, and refuses half an offer', () => {
    expect(
      loadWorkerConfig({ flags: { units: '10', price_per_unit: '1.5', fee_pct_ct: '25' } }).offer,
    ).toEqual({
      units: 10,
      price_per_unit: '1.5',
      fee_pct_ct: 25,
    });
    expect(() => loadWorkerConfig({ flags: { price_per_unit: '1.5' } })).toThrow(/offer.*units/s);
  });

  it('names unknown keys and bad values', () => {
    const cases: [string, RegExp][] = [
      ['slot = 2', /slot: unknown key/],
      ['[runners.trainng]\ncommand = ["x"]', /runners\.trainng: unknown key/],
      ['[runners.training]\ncommand = "python train.py"', /runners\.training\.command/],
      ['[runners.training]\ncommand = []', /runners\.training\.command/],
      ['slots = 0', /slots/],
      ['[offer]\nunits = 1\nprice_per_unit = 0.5', /offer\.price_per_unit/],
      ['[capability]\ngpu_count = 2\ncolor = "red"', /capability\.color: unknown key/],
      ['url = "ftp://x"', /url/],
      ['[reconnect]\ninitial_delay_ms = 1000\nmax_delay_ms = 10', /max_delay_ms/],
      ['log_level = "loud"', /log_level/],
      ['this is = not toml', /c.*\.toml/],
    ];
    for (const [text, pattern] of cases) {
      const file = toml(text);
      expect(() => loadWorkerConfig({ file }), text).toThrow(WorkerConfigError);
      expect(() => loadWorkerConfig({ file }), text).toThrow(pattern);
    }
    expect(() => loadWorkerConfig({ file: join(dir, 'missing.toml') })).toThrow(/does not exist/);
  });

  it('resolves the file’s relative paths against its directory, and leaves flags and programs alone', () => {
    const file = toml(`
key_file = "keys/worker.json"
[runners.rendering]
command = ["python3", "./render.py", "--scene", "../scenes/a.blend", "plain", "/abs/x"]
[runners.training]
command = ["bin/train.sh", "--epochs"]
[runners.transcode]
command = ["ffmpeg", "-i", "pipe:0"]
[runners.inference.gguf.tiny]
model_path = "models/tiny.gguf"
[runners.inference.gguf."org/model:q4"]
model_path = "/models/m.gguf"
gpu_layers = 0
context_size = 1024
`);
    const c = loadWorkerConfig({ file });
    expect(c.key_file).toBe(join(dir, 'keys/worker.json'));
    expect(c.runners.rendering?.command).toEqual([
      'python3',
      join(dir, 'render.py'),
      '--scene',
      join(dir, '../scenes/a.blend'),
      'plain',
      '/abs/x',
    ]);
    expect(c.runners.training?.command).toEqual([join(dir, 'bin/train.sh'), '--epochs']);
    expect(c.runners.transcode?.command).toEqual(['ffmpeg', '-i', 'pipe:0']);
    expect(c.runners.inference?.gguf).toEqual({
      tiny: { model_path: join(dir, 'models/tiny.gguf'), gpu_layers: 'auto', context_size: 4096 },
      'org/model:q4': { model_path: '/models/m.gguf', gpu_layers: 0, context_size: 1024 },
    });
    expect(servedModels(c)).toEqual(['tiny', 'org/model:q4']);
    // A flag is the user's own path, relative to where they are.
    expect(loadWorkerConfig({ file, flags: { key_file: 'mine.json' } }).key_file).toBe('mine.json');
  });

  it('needs a server with its models, or a GGUF model, for inference', () => {
    const cases: [string, RegExp][] = [
      ['[runners.inference]\nmodels = ["m"]', /set url/],
      ['[runners.inference]\nurl = "http://127.0.0.1:1"', /needs models/],
      ['[runners.inference]\ntimeout_ms = 5', /needs a server .* or a GGUF model/],
      ['[runners.inference]\nendpoint = "edit"\nurl = "http://x"\nmodels = ["m"]', /endpoint/],
      ['[runners.inference.gguf."bad id!"]\nmodel_path = "m.gguf"', /gguf/],
      ['[runners.inference.gguf.m]\nmodel_path = "m.gguf"\ngpu_layers = "all"', /gpu_layers/],
      ['[runners.inference.gguf.m]\nmodelpath = "m.gguf"', /modelpath: unknown key/],
      [
        '[runners.inference]\nurl = "http://x"\nmodels = ["m"]\n[runners.inference.gguf.m]\nmodel_path = "m.gguf"',
        /both/,
      ],
    ];
    for (const [text, pattern] of cases)
      expect(() => loadWorkerConfig({ file: toml(text) }), text).toThrow(pattern);
  });

  it('maps a node URL to its worker gateway', () => {
    expect(gatewayUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/worker');
    expect(gatewayUrl('https://market.example/')).toBe('wss://market.example/worker');
    expect(gatewayUrl('ws://127.0.0.1:9/worker')).toBe('ws://127.0.0.1:9/worker');
  });

  it('uses one thread per slot up to the cores, unless told', () => {
    expect(threadCount(loadWorkerConfig({ flags: { slots: 4 } }), 2)).toBe(2);
    expect(threadCount(loadWorkerConfig({ flags: { slots: 1 } }), 16)).toBe(1);
    expect(threadCount({ ...loadWorkerConfig(), threads: 3 }, 16)).toBe(3);
  });
});
