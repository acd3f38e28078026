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
//   [runners.inference]  timeout_ms (300000);
//                        an OpenAI-compatible server (vLLM, Ollama): url (without /v1),
//                        models = [..], endpoint = "completions" | "chat", api_key;
//                        the embedded llama.cpp (GGUF files): gpu = "auto" | "cpu", threads
//                        (0 = the worker's threads), and one table per model id:
//   [runners.inference.gguf.MODEL_ID]  model_path, gpu_layers ("auto" | n; 0 = CPU only),
//                        context_size (4096)
//   [runners.training]   command = ["argv", ...], timeout_ms (3600000), max_output_bytes (8 MiB)
//   [runners.rendering]  same keys as training; both take deterministic = true when the command
//                        always gives the same output for the same job
//   [runners.transcode]  command = [...] (stdin: slice bytes, proof: BLAKE3 of stdout),
//   [runners.gpuhash]    timeout_ms (600000), max_output_bytes (1 GiB)
//   self_test            run every runner on a tiny job at start and offer only what passes
//                        (default true); self_test_timeout_ms (120000) per runner
//   summary_interval_ms  how often the worker prints its summary (jobs, units, earned), 60000;
//                        0 turns it off
//
// Paths in a config file are relative to the file's directory, not to where the worker starts:
// key_file, each model_path, a command's program when it holds a "/" and any command argument
// that starts with "./" or "../". Flags stay relative to the working directory.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
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
  // The command gives the same output for the same job (fixed seeds, no wall-clock): the market
  // may then check its results by re-running them elsewhere (docs/decisions.md "Verification").
  deterministic: Type.Boolean({ default: false }),
  timeout_ms: Type.Integer({ minimum: 1, maximum: 7 * 24 * 3_600_000, default: 3_600_000 }),
  max_output_bytes: Type.Integer({ minimum: 1, maximum: MAX_ARTIFACT_BYTES, default: 8 * MIB }),
});

const HashRunnerConfig = Strict({
  command: Type.Optional(Argv),
  timeout_ms: Type.Integer({ minimum: 1, maximum: 24 * 3_600_000, default: 600_000 }),
  max_output_bytes: Type.Integer({ minimum: 1, maximum: 2 ** 50, default: 1024 * MIB }),
});

/** The market's model_id pattern (domain/schemas/payloads.ts InferencePayload). */
export const MODEL_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$';
const ModelId = Type.String({ minLength: 1, maxLength: 256, pattern: MODEL_ID_PATTERN });

const GgufModelConfig = Strict({
  model_path: Type.String({ minLength: 1 }),
  gpu_layers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 0, maximum: 100_000 })], {
    default: 'auto',
  }),
  context_size: Type.Integer({ minimum: 64, maximum: 1 << 20, default: 4096 }),
});

const InferenceRunnerConfig = Strict({
  url: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  models: Type.Array(ModelId, { maxItems: 256, uniqueItems: true, default: [] }),
  endpoint: StringEnum(['completions', 'chat'] as const, { default: 'completions' }),
  timeout_ms: Type.Integer({ minimum: 1, maximum: 24 * 3_600_000, default: 300_000 }),
  api_key: Type.Optional(Type.String({ minLength: 1 })),
  gpu: StringEnum(['auto', 'cpu'] as const, { default: 'auto' }),
  threads: Type.Integer({ minimum: 0, maximum: 256, default: 0 }),
  // Ids the market would refuse are refused here, by name (additionalProperties).
  gguf: Type.Record(Type.String({ pattern: MODEL_ID_PATTERN }), GgufModelConfig, {
    default: {},
    additionalProperties: false,
    maxProperties: 256,
  }),
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
  self_test: Type.Boolean({ default: true }),
  self_test_timeout_ms: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 120_000 }),
  summary_interval_ms: Type.Integer({ minimum: 0, maximum: 24 * 3_600_000, default: 60_000 }),
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
export type InferenceConfig = NonNullable<RunnersConfig['inference']>;

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
  self_test?: boolean | undefined;
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
  if (f.self_test !== undefined) merged.self_test = f.self_test;
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
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new WorkerConfigError(`config file ${file}: ${(err as Error).message}`);
  }
  resolvePaths(parsed, dirname(resolve(file)));
  return parsed;
}

/**
 * Makes the file's relative paths absolute against its directory (see the header): commands run
 * in a fresh temporary directory, so a path relative to anything else would not be found there.
 * Values of the wrong type are left for the schema to report.
 */
function resolvePaths(raw: Record<string, unknown>, dir: string): void {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  if (typeof raw.key_file === 'string' && raw.key_file) raw.key_file = abs(raw.key_file);
  const runners = isObject(raw.runners) ? raw.runners : {};
  for (const [type, runner] of Object.entries(runners)) {
    if (!isObject(runner)) continue;
    if (Array.isArray(runner.command))
      runner.command = runner.command.map((arg: unknown, i) =>
        typeof arg !== 'string' || arg === ''
          ? arg
          : (i === 0 && arg.includes('/')) || arg.startsWith('./') || arg.startsWith('../')
            ? abs(arg)
            : arg,
      );
    if (type === 'inference' && isObject(runner.gguf))
      for (const model of Object.values(runner.gguf))
        if (isObject(model) && typeof model.model_path === 'string' && model.model_path)
          model.model_path = abs(model.model_path);
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
  const inference = config.runners.inference;
  if (inference) {
    if (inference.models.length > 0 && !inference.url)
      throw new WorkerConfigError(
        'runners.inference.models are served by an OpenAI-compatible server: set url',
      );
    if (inference.url && inference.models.length === 0)
      throw new WorkerConfigError('runners.inference.url needs models = [...], the model ids it serves');
    if (!inference.url && Object.keys(inference.gguf).length === 0)
      throw new WorkerConfigError(
        'runners.inference needs a server (url, models) or a GGUF model ([runners.inference.gguf.ID])',
      );
    for (const id of inference.models)
      if (id in inference.gguf)
        throw new WorkerConfigError(`model ${id} is both in runners.inference.models and in gguf`);
  }
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

/** Every model id the inference runner serves: the server's, then the GGUF files'. */
export function servedModels(config: WorkerConfig): string[] {
  const c = config.runners.inference;
  return c ? [...c.models, ...Object.keys(c.gguf)] : [];
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
