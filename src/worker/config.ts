// The provider agent's configuration: defaults < TOML file (`--config worker.toml`) < flags,
// validated once against one schema and frozen. Unknown keys are errors at every level, so a
// typo never silently turns a runner off.
//
//   url                  market worker endpoint: ws(s)://host:port/worker, or the node's
//                        http(s):// URL (the agent then connects to ws(s)://…/worker)
//   key_file             the worker's key file (`taskmarket worker keygen --out FILE`)
//   slots                jobs run at once (credit announced to the market), default 1
//   threads              CPU threads for hashing and synthetic work; 0 = min(slots, cores)
//   shutdown_grace_ms    on SIGINT/SIGTERM, how long running jobs may finish, default 30000
//   log_level            fatal|error|warn|info|debug|trace|silent, default info
//   cache_max_bytes      slice cache size in bytes, 0 turns it off, default 64 MiB
//   [offer]              units, price_per_unit (decimal string), fee_pct_ct (0–100, default 100)
//   [capability]         overrides of detected fields: cpu_cores, memory_mb, gpu_model,
//                        gpu_count, gpu_memory_mb, accelerator, accelerator_memory_mb,
//                        frameworks, challenge_types, models
//   [reconnect]          initial_delay_ms (500), max_delay_ms (30000)
//   [runners.inference]  url (OpenAI-compatible server, without /v1), models = [..],
//                        timeout_ms (300000), api_key
//   [runners.training]   command = ["argv", ...], timeout_ms (3600000), max_output_bytes (8 MiB)
//   [runners.rendering]  same keys as training
//   [runners.transcode]  command = [...] (stdin: slice bytes, proof: BLAKE3 of stdout),
//   [runners.gpuhash]    timeout_ms (600000), max_output_bytes (1 GiB)

import { existsSync, readFileSync } from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { parse as parseToml } from 'smol-toml';
import { Capability } from '../domain/schemas/capability.js';
import { Amount, StringEnum } from '../domain/schemas/common.js';
import { schemaProblems } from './schema-check.js';

const MIB = 1024 * 1024;
/**
 * Artifacts travel base64 inside one job_result, capped at MAX_MESSAGE_BYTES (16 MiB): 11 MiB of
 * files is about 14.7 MiB of base64, which leaves room for names and the rest of the message.
 */
export const MAX_ARTIFACT_BYTES = 11 * MIB;

function Strict<T extends Record<string, TSchema>>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

const Argv = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 256 });

const CommandRunnerConfig = Strict({
  command: Argv,
  timeout_ms: Type.Integer({ minimum: 1, maximum: 7 * 24 * 3_600_000, default: 3_600_000 }),
  max_output_bytes: Type.Integer({ minimum: 1, maximum: MAX_ARTIFACT_BYTES, default: 8 * MIB }),
});

const HashRunnerConfig = Strict({
  command: Type.Optional(Argv),
  timeout_ms: Type.Integer({ minimum: 1, maximum: 24 * 3_600_000, default: 600_000 }),
  max_output_bytes: Type.Integer({ minimum: 1, maximum: 2 ** 50, default: 1024 * MIB }),
});

const InferenceRunnerConfig = Strict({
  url: Type.String({ pattern: '^https?://[^\\s]+$' }),
  models: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
    minItems: 1,
    maxItems: 256,
    uniqueItems: true,
  }),
  timeout_ms: Type.Integer({ minimum: 1, maximum: 24 * 3_600_000, default: 300_000 }),
  api_key: Type.Optional(Type.String({ minLength: 1 })),
});

export const WorkerConfigSchema = Strict({
  url: Type.String({ pattern: '^(wss?|https?)://[^\\s]+$', default: 'ws://127.0.0.1:8080/worker' }),
  key_file: Type.Optional(Type.String({ minLength: 1 })),
  slots: Type.Integer({ minimum: 1, maximum: 1024, default: 1 }),
  threads: Type.Integer({ minimum: 0, maximum: 256, default: 0 }),
  shutdown_grace_ms: Type.Integer({ minimum: 0, maximum: 24 * 3_600_000, default: 30_000 }),
  log_level: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
    default: 'info',
  }),
  cache_max_bytes: Type.Integer({ minimum: 0, maximum: 2 ** 40, default: 64 * MIB }),
  offer: Type.Optional(
    Strict({
      units: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
      price_per_unit: Amount,
      fee_pct_ct: Type.Integer({ minimum: 0, maximum: 100, default: 100 }),
    }),
  ),
  capability: Type.Optional(Type.Partial(Strict(Capability.properties))),
  reconnect: Strict({
    initial_delay_ms: Type.Integer({ minimum: 1, maximum: 600_000, default: 500 }),
    max_delay_ms: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 30_000 }),
  }),
  runners: Strict({
    inference: Type.Optional(InferenceRunnerConfig),
    training: Type.Optional(CommandRunnerConfig),
    rendering: Type.Optional(CommandRunnerConfig),
    transcode: Type.Optional(HashRunnerConfig),
    gpuhash: Type.Optional(HashRunnerConfig),
  }),
});

export type WorkerConfig = Readonly<Static<typeof WorkerConfigSchema>>;
export type RunnersConfig = WorkerConfig['runners'];

export class WorkerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerConfigError';
  }
}

/** Flags as the CLI collects them; undefined means "not given". */
export interface WorkerFlags {
  url?: string | undefined;
  key_file?: string | undefined;
  slots?: string | number | undefined;
  log_level?: string | undefined;
  price_per_unit?: string | undefined;
  units?: string | number | undefined;
  fee_pct_ct?: string | number | undefined;
}

export function loadWorkerConfig(
  sources: { file?: string | undefined; flags?: WorkerFlags } = {},
): WorkerConfig {
  const merged: Record<string, unknown> = { reconnect: {}, runners: {} };
  if (sources.file) Object.assign(merged, readToml(sources.file));
  const f = sources.flags ?? {};
  for (const key of ['url', 'key_file', 'log_level'] as const) if (f[key] !== undefined) merged[key] = f[key];
  if (f.slots !== undefined) merged.slots = integerFlag('--slots', f.slots);
  const offerFlags = {
    units: f.units === undefined ? undefined : integerFlag('--units', f.units),
    price_per_unit: f.price_per_unit,
    fee_pct_ct: f.fee_pct_ct === undefined ? undefined : integerFlag('--fee-pct-ct', f.fee_pct_ct),
  };
  if (Object.values(offerFlags).some((v) => v !== undefined)) {
    const offer = { ...(isObject(merged.offer) ? merged.offer : {}) };
    for (const [k, v] of Object.entries(offerFlags)) if (v !== undefined) offer[k] = v;
    merged.offer = offer;
  }
  return validate(merged, sources.file);
}

function readToml(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new WorkerConfigError(`config file ${file} does not exist`);
  try {
    return parseToml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new WorkerConfigError(`config file ${file}: ${(err as Error).message}`);
  }
}

/** Flags arrive as text; only plain decimal integers are numbers here. */
function integerFlag(name: string, value: string | number): number {
  if (typeof value === 'number') return value;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(value))
    throw new WorkerConfigError(`${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

function validate(merged: Record<string, unknown>, file: string | undefined): WorkerConfig {
  const problems = schemaProblems(WorkerConfigSchema, merged);
  if (problems.length > 0) {
    const lines = problems.slice(0, 10).map((p) => `  ${p}`);
    throw new WorkerConfigError(
      `invalid worker configuration${file ? ` in ${file}` : ''}:\n${lines.join('\n')}`,
    );
  }
  const config = merged as Static<typeof WorkerConfigSchema>;
  if (config.reconnect.max_delay_ms < config.reconnect.initial_delay_ms)
    throw new WorkerConfigError('reconnect.max_delay_ms must be at least reconnect.initial_delay_ms');
  return deepFreeze(config);
}

/** The WebSocket URL of the market's worker gateway for a configured url. */
export function gatewayUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (u.pathname === '/' || u.pathname === '') u.pathname = '/worker';
  }
  return u.toString();
}

/** The CPU threads to use: the configured number, or one per slot up to the core count. */
export function threadCount(config: WorkerConfig, cores: number): number {
  return config.threads > 0 ? config.threads : Math.max(1, Math.min(config.slots, cores));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
