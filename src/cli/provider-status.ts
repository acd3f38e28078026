// `taskmarket worker status`: what the market knows of this provider — balances, earnings,
// reputation, recent jobs — read with a signature of the worker's own key (or the operator key
// and --address).

import type { Command } from 'commander';
import { unixSeconds, systemClock } from '../domain/clock.js';
import { utf8 } from '../domain/hash.js';
import { signMessage } from '../domain/identity.js';
import {
  PROVIDER_AUTH_HEADERS,
  providerViewMessage,
  type ProviderView,
} from '../domain/schemas/providers.js';
import { loadKeyFile } from '../worker/keyfile.js';
import type { ClientOf } from './client-of.js';
import { forPeople, formatTable, printJson, short, UsageError, type FormatOpts } from './output.js';

export async function workerStatus(
  clientOf: ClientOf,
  opts: FormatOpts & { key?: string; address?: string },
  cmd: Command,
): Promise<void> {
  const client = clientOf(cmd);
  let view: ProviderView;
  if (opts.key) {
    const { key } = loadKeyFile(opts.key);
    const address = opts.address ?? key.address;
    const t = unixSeconds(systemClock);
    view = await client.getProvider(address, {
      [PROVIDER_AUTH_HEADERS.publicKey]: key.public_key,
      [PROVIDER_AUTH_HEADERS.timestamp]: String(t),
      [PROVIDER_AUTH_HEADERS.signature]: signMessage(key.private_key, utf8(providerViewMessage(address, t))),
    });
  } else if (opts.address) view = await client.getProvider(opts.address);
  else throw new UsageError('give the worker key file with --key, or --address with the operator key');
  if (!forPeople(opts)) return printJson(view);
  const money = view.balances.map((b) => {
    const earned = view.earned.find((e) => e.asset === b.asset)?.amount ?? '0';
    return `${b.asset} balance ${b.balance}, earned ${earned}`;
  });
  const j = view.jobs;
  process.stdout.write(
    [
      `provider ${view.address} (${view.connected ? 'connected' : 'not connected'})`,
      ...(money.length > 0 ? money : ['no ledger account yet: nothing earned']),
      `reputation ${view.reputation.score} (price × ${(view.reputation.multiplier_ppm / 1e6).toFixed(3)})`,
      `jobs: ${j.completed} completed, ${j.failed} failed, ${j.lease_expiries} leases expired, ${j.running} running`,
      '',
    ].join('\n'),
  );
  if (view.recent_jobs.length > 0)
    process.stdout.write(
      formatTable(
        [
          { header: 'JOB ID', get: (r) => r.job_id },
          { header: 'TASK', get: (r) => short(r.task_id) },
          { header: 'TYPE', get: (r) => r.challenge_type },
          { header: 'STATUS', get: (r) => r.status },
          { header: 'UNITS', get: (r) => r.units, right: true },
          { header: 'NOTE', get: (r) => r.failure_reason },
        ],
        view.recent_jobs,
      ),
    );
}
