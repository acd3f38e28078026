// What this machine offers the market (the Capability descriptor of domain/schemas/capability.ts):
// detected CPU, memory and NVIDIA GPUs, the challenge types this agent has runners for, the
// models it serves, then the provider's overrides from the config, checked against the schema.
// When the self-test has run (self-test.ts), only the types and models that passed it are
// offered: a runner that cannot work must not collect failures and lose the provider its
// reputation.
//
// GPUs come from `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`. No
// nvidia-smi, a failing one or unparsable output all mean a CPU-only machine, never an error:
// the agent still does hash and synthetic work. The model is nvidia-smi's own name ("NVIDIA
// GeForce RTX 4090"), not a shortened one: the market compares names without case, spaces or
// punctuation and by containment, so a requirement "RTX4090" matches it, and the full name keeps
// what a short one would lose ("H100 80GB HBM3" vs "H100 NVL"). A provider sets
// capability.gpu_model to advertise another name.

import { execFile } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import { basename } from 'node:path';
import { blake3Hex, utf8 } from '../domain/hash.js';
import { Capability } from '../domain/schemas/capability.js';
import type { ChallengeType } from '../domain/schemas/payloads.js';
import { servedModels, WorkerConfigError, type WorkerConfig } from './config.js';
import { schemaProblems } from './schema-check.js';

export interface GpuInfo {
  model: string;
  count: number;
  /** Memory of each GPU (the smallest, when they differ), MiB. */
  memoryMb: number;
}

export interface Hardware {
  cpuCores: number;
  memoryMb: number;
  gpu: GpuInfo | null;
}

export const NVIDIA_SMI_ARGS = ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'];

/** Characters the capability's Name pattern allows (after a leading letter or digit). */
const NOT_NAME = /[^A-Za-z0-9 ._:/@+-]/g;

/** An nvidia-smi GPU name as a capability Name: single spaces, allowed characters, ≤ 64 long. */
export function cleanGpuName(name: string): string {
  const cleaned = name
    .replace(NOT_NAME, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .trim();
  return cleaned || 'unknown';
}

/**
 * Parses nvidia-smi CSV lines ("NAME, MEMORY_MIB"). Machines with mixed GPUs advertise the model
 * they have most of (ties: the first listed), with that model's count and smallest memory: a
 * capability promises what every GPU of the job gets. Null when no line parses.
 */
export function parseNvidiaSmi(text: string): GpuInfo | null {
  const gpus: { model: string; memoryMb: number }[] = [];
  for (const line of text.split(/\r?\n/)) {
    const comma = line.lastIndexOf(',');
    if (comma <= 0) continue;
    const name = line.slice(0, comma).trim();
    const memText = line.slice(comma + 1).trim();
    if (!name) continue;
    const memoryMb = /^\d+$/.test(memText) ? Number(memText) : 0;
    gpus.push({ model: cleanGpuName(name), memoryMb });
  }
  if (gpus.length === 0) return null;
  const byModel = new Map<string, number[]>();
  for (const g of gpus) byModel.set(g.model, [...(byModel.get(g.model) ?? []), g.memoryMb]);
  let best: [string, number[]] | null = null;
  for (const entry of byModel) if (!best || entry[1].length > best[1].length) best = entry;
  const [model, memories] = best as [string, number[]];
  return { model, count: memories.length, memoryMb: Math.min(...memories) };
}

/** nvidia-smi's output, or null when it is missing, fails or hangs. */
export function queryNvidiaSmi(timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', NVIDIA_SMI_ARGS, { timeout: timeoutMs, windowsHide: true }, (err, stdout) =>
      resolve(err ? null : stdout),
    );
  });
}

export async function detectHardware(
  query: () => Promise<string | null> = queryNvidiaSmi,
): Promise<Hardware> {
  const smi = await query().catch(() => null);
  return {
    cpuCores: Math.min(4096, availableParallelism()),
    memoryMb: Math.floor(totalmem() / (1024 * 1024)),
    gpu: smi === null ? null : parseNvidiaSmi(smi),
  };
}

/** The challenge types this config has runners for. */
export function runnableTypes(config: WorkerConfig): ChallengeType[] {
  const types: ChallengeType[] = [];
  if (config.runners.inference) types.push('inference');
  if (config.runners.training) types.push('training');
  if (config.runners.rendering) types.push('rendering');
  types.push('synthetic', 'transcode', 'gpuhash');
  return types;
}

/**
 * Which runner does each type: the reference runners by name, a command by a hash of its program's
 * name and arguments (not its path, which differs between machines), so that the market re-runs
 * a job only on a provider that runs the same program.
 */
export function runnerInfo(config: WorkerConfig, types: readonly ChallengeType[]): Capability['runners'] {
  const out: NonNullable<Capability['runners']> = {};
  const commandId = (argv: readonly string[]) =>
    `command:${blake3Hex(utf8([basename(argv[0] as string), ...argv.slice(1)].join('\0'))).slice(0, 16)}`;
  for (const t of types) {
    if (t === 'synthetic') out[t] = { id: 'synthetic-v1', deterministic: true };
    else if (t === 'transcode' || t === 'gpuhash') {
      const cmd = config.runners[t]?.command;
      out[t] = { id: cmd ? commandId(cmd) : 'blake3', deterministic: true };
    } else if (t === 'inference') {
      const inf = config.runners.inference;
      const gguf = Object.keys(inf?.gguf ?? {}).length > 0;
      out[t] = {
        id: gguf && !inf?.url ? 'llama.cpp' : inf?.url && !gguf ? 'openai' : 'mixed',
        deterministic: true,
      };
    } else {
      const r = config.runners[t];
      if (r) out[t] = { id: commandId(r.command), deterministic: r.deterministic === true };
    }
  }
  return out;
}

/** What passed the self-test: the types and the models the worker can be trusted with. */
export interface Passed {
  types: readonly ChallengeType[];
  models: readonly string[];
}

/**
 * The capability to advertise: detected hardware, the runners, then the config's overrides;
 * with `passed`, less what failed its self-test (an override naming a failed type or model is
 * dropped, not an error: the self-test's log says why).
 */
export function buildCapability(hw: Hardware, config: WorkerConfig, passed?: Passed): Capability {
  const configured = runnableTypes(config);
  const runnable = passed ? configured.filter((t) => passed.types.includes(t)) : configured;
  const served = servedModels(config).filter((m) => !passed || passed.models.includes(m));
  const detected: Capability = {
    cpu_cores: hw.cpuCores,
    memory_mb: hw.memoryMb,
    gpu_model: hw.gpu?.model ?? null,
    gpu_count: hw.gpu?.count ?? 0,
    gpu_memory_mb: hw.gpu?.memoryMb ?? 0,
    accelerator: null,
    accelerator_memory_mb: 0,
    frameworks: [],
    challenge_types: runnable,
    models: [...served],
    runners: runnerInfo(config, runnable),
  };
  const cap = { ...detected, ...structuredClone(config.capability ?? {}) } as Capability;
  const problems: string[] = [];
  for (const t of cap.challenge_types)
    if (!configured.includes(t)) problems.push(`challenge type ${t} has no runner configured (runners.${t})`);
  const allModels = servedModels(config);
  for (const m of cap.models)
    if (!allModels.includes(m))
      problems.push(`model ${m} is not in runners.inference.models nor runners.inference.gguf`);
  if (passed) {
    cap.challenge_types = cap.challenge_types.filter((t) => runnable.includes(t));
    cap.runners = runnerInfo(config, cap.challenge_types);
    cap.models = cap.models.filter((m) => served.includes(m));
    if (problems.length === 0 && cap.challenge_types.length === 0)
      problems.push('no runner passed its self-test: there is nothing to offer');
  }
  if (cap.gpu_model === null && cap.gpu_count > 0) problems.push('gpu_count > 0 needs a gpu_model');
  problems.push(...schemaProblems(Capability, cap));
  if (problems.length > 0)
    throw new WorkerConfigError(`invalid capability:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return cap;
}
