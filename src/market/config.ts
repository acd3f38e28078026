// Node configuration: defaults < TOML file < environment (TASKMARKET_*) < flags, validated once
// against one schema and frozen. Unknown keys are errors, so a typo never silently does nothing.

import { existsSync, readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { splitProblems, type SplitShares } from '../domain/settlement.js';

/** One party's share of every settled amount, in basis points; the four must sum to 10,000. */
function splitShare(fallback: number, what: string) {
  return Type.Integer({
    default: fallback,
    minimum: 0,
    maximum: 10_000,
    description: `basis points of each settled amount ${what} (the four split_* keys sum to 10000)`,
  });
}

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', minLength: 1 }),
    port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535 }),
    data_dir: Type.String({ default: './data', minLength: 1 }),
    database_url: Type.String({ default: '', pattern: '^(|postgres(ql)?://.*)$' }),
    database_schema: Type.String({
      default: '',
      pattern: '^([a-z_][a-z0-9_]{0,62})?$',
      description: 'PostgreSQL schema for this market (created if missing); empty: the default search path',
    }),
    db_pool_size: Type.Integer({ default: 10, minimum: 1, maximum: 200 }),
    pglite_wasm_optimizer: Type.Boolean({
      default: true,
      description:
        "false: PGlite's WebAssembly runs on V8's baseline compiler only (45-65 MB less memory, reads about 40% slower)",
    }),
    memory_trim_interval_s: Type.Integer({
      default: 5,
      minimum: 0,
      maximum: 3600,
      description:
        "how often an idle node gives freed memory back (a full GC when it turns idle, glibc's malloc_trim); 0: never",
    }),
    log_level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
    body_limit_bytes: Type.Integer({ default: 1_048_576, minimum: 1024, maximum: 64 * 1_048_576 }),
    group_commit_max_batch: Type.Integer({ default: 256, minimum: 1, maximum: 10_000 }),
    deadline_sweep_interval_ms: Type.Integer({ default: 1000, minimum: 10, maximum: 3_600_000 }),
    sweep_fallback_interval_ms: Type.Integer({
      default: 5000,
      minimum: 100,
      maximum: 3_600_000,
      description:
        'on a shared database (PostgreSQL), how often the deadline sweep and webhook rounds read although this node knows of nothing due (work of other nodes); unused on PGlite',
    }),
    ledger_check_interval_s: Type.Integer({ default: 300, minimum: 0, maximum: 86_400 }),
    frames_per_job: Type.Integer({
      default: 10,
      minimum: 1,
      maximum: 100_000,
      description: 'rendering frames per job',
    }),
    lease_ms: Type.Integer({
      default: 30_000,
      minimum: 100,
      maximum: 3_600_000,
      description: 'how long a job lease lasts without a heartbeat',
    }),
    heartbeat_interval_ms: Type.Integer({ default: 5_000, minimum: 50, maximum: 600_000 }),
    max_job_attempts: Type.Integer({
      default: 3,
      minimum: 1,
      maximum: 100,
      description: 'leases a job gets before it fails',
    }),
    dispatch_interval_ms: Type.Integer({
      default: 200,
      minimum: 5,
      maximum: 60_000,
      description: 'backstop tick of the dispatcher',
    }),
    worker_messages_per_second: Type.Integer({
      default: 5000,
      minimum: 1,
      maximum: 1_000_000,
      description: 'flood limit per worker',
    }),
    blob_max_bytes: Type.Integer({ default: 64 * 1_048_576, minimum: 1024, maximum: 1024 * 1_048_576 }),
    blob_dir: Type.String({
      default: '',
      description:
        'where blob files live; empty: "blobs" in data_dir. Nodes sharing one database must share this directory',
    }),
    blob_uploads_per_account: Type.Integer({
      default: 4,
      minimum: 1,
      maximum: 1000,
      description: 'blob uploads one account may have in flight; the next is 429 rate_limited',
    }),
    blob_sweep_interval_ms: Type.Integer({
      default: 10_000,
      minimum: 10,
      maximum: 3_600_000,
      description:
        'how often one folder of the blob directory is checked for files no row names (256 folders: a pass about every 43 minutes)',
    }),
    rate_limit_per_second: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 1_000_000,
      description: 'requests per second per API key (0: unlimited)',
    }),
    webhook_allow_private: Type.Boolean({
      default: false,
      description:
        'let tasks name webhook URLs on loopback, private and link-local addresses (refused by default: the node would call its own network)',
    }),
    price_board_path: Type.String({
      default: 'state/price_board.v2.bin',
      minLength: 1,
      description: 'price board file, relative to data_dir unless absolute',
    }),
    price_board_window: Type.Integer({
      default: 100,
      minimum: 1,
      maximum: 1_000_000,
      description: 'prices kept per lane',
    }),
    price_board_save_interval: Type.Integer({
      default: 30,
      minimum: 1,
      maximum: 86_400,
      description: 'seconds between price board saves (also saved on shutdown)',
    }),
    peers: Type.String({
      default: '',
      pattern: '^\\s*(|https?://[^\\s,]+(\\s*,\\s*https?://[^\\s,]+)*)\\s*$',
      description: 'comma-separated base URLs of peer markets that receive reputation gossip',
    }),
    peer_key: Type.String({
      default: '',
      pattern: '^(|[A-Za-z0-9_\\-.~+/]{32,200})$',
      description:
        'shared secret of the peer group (32+ chars): sent to peers, accepted for reputation.gossip',
    }),
    reputation_gossip_interval_s: Type.Integer({
      default: 60,
      minimum: 0,
      maximum: 86_400,
      description: 'seconds between automatic gossip rounds to peers (0: off)',
    }),
    chain: Type.String({
      default: 'dev',
      pattern: '^(dev|off|https?://\\S+)$',
      description:
        '"dev": an embedded dev chain in the market database; "off": nothing sent; or the http(s) URL of a CPC node',
    }),
    chain_block_interval_ms: Type.Integer({
      default: 5000,
      minimum: 10,
      maximum: 3_600_000,
      description: 'how often the embedded dev chain seals a block',
    }),
    courier_interval_ms: Type.Integer({
      default: 1000,
      minimum: 10,
      maximum: 3_600_000,
      description: 'how often the courier delivers due outbox entries to the chain',
    }),
    courier_batch: Type.Integer({
      default: 500,
      minimum: 1,
      maximum: 100_000,
      description: 'outbox entries read per page (memory stays flat however long the queue)',
    }),
    courier_backoff_base_ms: Type.Integer({
      default: 1000,
      minimum: 1,
      maximum: 3_600_000,
      description: 'first retry delay after a retryable failure; doubles per attempt',
    }),
    courier_backoff_max_ms: Type.Integer({
      default: 300_000,
      minimum: 1,
      maximum: 86_400_000,
      description: 'the most a retry waits',
    }),
    chain_confirmations: Type.Integer({
      default: 2,
      minimum: 0,
      maximum: 1000,
      description: 'blocks on top of the block holding an outbox entry before it is final',
    }),
    chain_tx_ttl_ms: Type.Integer({
      default: 3_600_000,
      minimum: 1000,
      maximum: 604_800_000,
      description:
        "the node's pool time-to-live: a sent entry no block holds after this is looked for, and sent again only if absent with its nonce free",
    }),
    payout_interval_ms: Type.Integer({
      default: 60_000,
      minimum: 10,
      maximum: 86_400_000,
      description: 'how often accumulated worker payouts go out as one TRANSFER per provider',
    }),
    receipt_check_on_start: Type.Boolean({
      default: true,
      description: 'check stored receipts at start and count damaged ones (receipt_corrupt_total)',
    }),
    split_burn_bps: splitShare(6000, 'burned'),
    split_worker_bps: splitShare(2500, "paid to the job's provider"),
    split_validators_bps: splitShare(1000, 'paid to validators'),
    split_treasury_bps: splitShare(500, 'paid to the treasury'),
    receipt_check_max: Type.Integer({
      default: 1_000_000,
      minimum: 0,
      maximum: 1_000_000_000,
      description: 'most stored receipts the start-up check reads (0: all)',
    }),
  },
  { additionalProperties: false },
);

export type Config = Readonly<Static<typeof ConfigSchema>>;

export const CONFIG_KEYS = Object.keys(ConfigSchema.properties) as (keyof Config)[];

export class ConfigError extends Error {}

export interface ConfigSources {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<Record<keyof Config, unknown>>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const merged: Record<string, unknown> = {};
  if (sources.file) {
    if (!existsSync(sources.file)) throw new ConfigError(`config file ${sources.file} does not exist`);
    let parsed: Record<string, unknown>;
    try {
      parsed = parseToml(readFileSync(sources.file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${sources.file}: ${(err as Error).message}`);
    }
    Object.assign(merged, parsed);
  }
  const env = sources.env ?? {};
  if (env.DATABASE_URL) merged.database_url = env.DATABASE_URL;
  for (const key of CONFIG_KEYS) {
    const value = env[`TASKMARKET_${key.toUpperCase()}`];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  for (const [key, value] of Object.entries(sources.flags ?? {}))
    if (value !== undefined) merged[key] = value;

  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, merged));
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  if (errors.length > 0) {
    const lines = errors
      .slice(0, 10)
      .map((e) => `  ${e.path.slice(1) || '(root)'}: ${e.message} (got ${JSON.stringify(e.value)})`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = withDefaults as Config;
  const split = splitProblems(paymentSplit(config));
  if (split.length > 0) throw new ConfigError(`invalid configuration:\n  split_*_bps: ${split.join('; ')}`);
  // Peers refuse gossip that carries no key, so a peer list without one could never deliver.
  if (peerList(config).length > 0 && config.peer_key === '')
    throw new ConfigError('invalid configuration:\n  peers: needs peer_key, the key the peers accept');
  return Object.freeze(config);
}

/** The payment split the split_*_bps keys configure (spec default 60/25/10/5). */
export function paymentSplit(
  config: Pick<Config, 'split_burn_bps' | 'split_worker_bps' | 'split_validators_bps' | 'split_treasury_bps'>,
): SplitShares {
  return {
    burn: config.split_burn_bps,
    worker: config.split_worker_bps,
    validators: config.split_validators_bps,
    treasury: config.split_treasury_bps,
  };
}

/** The `peers` key as a list of base URLs without trailing slashes. */
export function peerList(config: Pick<Config, 'peers'>): string[] {
  return config.peers
    .split(',')
    .map((p) => p.trim().replace(/\/+$/, ''))
    .filter((p) => p !== '');
}

export function configToToml(config: Config): string {
  return stringifyToml(config);
}
