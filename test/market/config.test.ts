import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, paymentSplit } from '../../src/market/config.js';

function tomlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tm-config-')), 'config.toml');
  writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('layers defaults < file < environment < flags, and freezes the result', () => {
    const file = tomlFile('port = 9000\nlog_level = "warn"\ndata_dir = "/srv/tm"\n');
    const config = loadConfig({
      file,
      env: { TASKMARKET_PORT: '9100', DATABASE_URL: 'postgres://db/x' },
      flags: { port: '9200' },
    });
    expect(config).toMatchObject({
      port: 9200,
      log_level: 'warn',
      data_dir: '/srv/tm',
      database_url: 'postgres://db/x',
      host: '127.0.0.1',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(loadConfig({ file, env: { TASKMARKET_PORT: '9100' } }).port).toBe(9100);
  });

  it('names unknown keys, bad values and broken files', () => {
    expect(() => loadConfig({ file: tomlFile('prot = 1\n') })).toThrow(/prot/);
    expect(() => loadConfig({ flags: { port: 70000 } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { TASKMARKET_LOG_LEVEL: 'loud' } })).toThrow(/log_level/);
    expect(() => loadConfig({ flags: { database_url: 'mysql://x' } })).toThrow(/database_url/);
    expect(() => loadConfig({ file: tomlFile('port = \n') })).toThrow(/config file/);
    expect(() => loadConfig({ file: '/nonexistent/config.toml' })).toThrow(/does not exist/);
  });

  it('takes the payment split in basis points, 60/25/10/5 by default, and refuses one not summing to 10000', () => {
    expect(paymentSplit(loadConfig())).toEqual({ burn: 6000, worker: 2500, validators: 1000, treasury: 500 });
    const other = loadConfig({
      env: { TASKMARKET_SPLIT_BURN_BPS: '5000', TASKMARKET_SPLIT_WORKER_BPS: '3500' },
    });
    expect(paymentSplit(other)).toEqual({ burn: 5000, worker: 3500, validators: 1000, treasury: 500 });
    expect(() => loadConfig({ flags: { split_burn_bps: 7000 } })).toThrow(ConfigError);
    expect(() => loadConfig({ flags: { split_burn_bps: 7000 } })).toThrow(/split_\*_bps: .*10000/);
  });
});
