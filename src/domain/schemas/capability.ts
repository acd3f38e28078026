// Capability descriptors (what a provider's machine has) and requirements (what a job needs),
// per spec/compute-market.md "Capability-Based Scheduling", "GPU Memory Matching" and
// "Accelerator Requests".

import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Strict, StringEnum } from './common.js';
import { CHALLENGE_TYPES } from './payloads.js';

export const ACCELERATORS = ['TPU', 'FPGA'] as const;
export type Accelerator = (typeof ACCELERATORS)[number];

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._:/@+-]*$' });
const MiB = Type.Integer({ minimum: 0, maximum: 16_777_216, description: 'MiB' });

/** Which program runs a challenge type, and whether it gives the same answer every time. */
export const RunnerInfo = Strict({
  id: Type.String({ minLength: 1, maxLength: 128 }),
  deterministic: Type.Boolean({ description: 'the same job always gives the same result' }),
});
export type RunnerInfo = Static<typeof RunnerInfo>;

export const Capability = Strict(
  {
    cpu_cores: Type.Integer({ minimum: 1, maximum: 4096 }),
    memory_mb: Type.Optional(MiB),
    gpu_model: Nullable(Name),
    gpu_count: Type.Integer({ minimum: 0, maximum: 64 }),
    gpu_memory_mb: { ...MiB, description: 'memory of each GPU, MiB' },
    accelerator: Nullable(StringEnum(ACCELERATORS)),
    accelerator_memory_mb: MiB,
    frameworks: Type.Array(Name, { maxItems: 32, uniqueItems: true }),
    challenge_types: Type.Array(StringEnum(CHALLENGE_TYPES), {
      maxItems: 16,
      uniqueItems: true,
      description: 'work this agent has runners for',
    }),
    models: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
      maxItems: 256,
      uniqueItems: true,
      description: 'inference model ids the agent serves',
    }),
    runners: Type.Optional(
      Type.Partial(
        Strict(
          Object.fromEntries(CHALLENGE_TYPES.map((t) => [t, RunnerInfo])) as Record<
            (typeof CHALLENGE_TYPES)[number],
            typeof RunnerInfo
          >,
        ),
        {
          description:
            'per challenge type, the runner that does it: only a provider with the same runner id re-runs its jobs to check them',
        },
      ),
    ),
  },
  { description: 'what a provider machine offers' },
);
export type Capability = Static<typeof Capability>;

export const Requirements = Strict(
  {
    cpu_cores: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
    gpu_model: Type.Optional(Name),
    gpu_count: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    gpu_memory_mb: Type.Optional({ ...MiB, minimum: 1 }),
    accelerator: Type.Optional(StringEnum(ACCELERATORS)),
    accelerator_memory_mb: Type.Optional({ ...MiB, minimum: 1 }),
    frameworks: Type.Optional(Type.Array(Name, { maxItems: 32, uniqueItems: true })),
  },
  { description: 'the least a provider must have to run the job' },
);
export type Requirements = Static<typeof Requirements>;
