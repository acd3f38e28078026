// Splitting work: how a task becomes jobs (the unit matched to one provider) and slices (the
// unit a runner executes and proves), and how many compute units each is worth.
//
// Units, per challenge type: one per MiB of input, or the type's own measure.
// - transcode, gpuhash: one job; its slices are the 1 MiB ranges of the input; 1 unit a slice
//   (the last slice may be short and still costs 1). An empty input is one slice of 0 bytes and
//   1 unit: every job has at least one slice to prove and costs at least one unit, so nothing is
//   free to submit and a zero-byte job still has a proof (BLAKE3 of nothing).
// - rendering: jobs of `framesPerJob` consecutive frames (numbered from 1; the last job may be
//   smaller), one slice and 1 unit per frame, so a frame can be proved and re-rendered alone.
// - inference: one job of one slice; ceil(max_tokens / 1000) units — max_tokens is the customer's
//   own bound on the work, known before the run.
// - training: one job of one slice; one unit per epoch.
// - synthetic: one job of one slice; ceil(matrix_size³ × iterations / 10⁹) units, at least 1 —
//   one unit per 10⁹ multiply-adds of the matrix products the runner performs.

export const MIB = 1024 * 1024;
export const SLICE_BYTES = MIB;
export const DEFAULT_FRAMES_PER_JOB = 10;
export const TOKENS_PER_UNIT = 1000;
export const SYNTHETIC_MULADDS_PER_UNIT = 1_000_000_000n;

export type WorkType = 'transcode' | 'gpuhash' | 'rendering' | 'inference' | 'training' | 'synthetic';

/** What planning needs from each type's payload; field names match the payloads'. */
export interface WorkInfo {
  transcode: { input_bytes: number };
  gpuhash: { input_bytes: number };
  rendering: { frames: number };
  inference: { max_tokens: number };
  training: { epochs: number };
  synthetic: { matrix_size: number; iterations: number };
}

/** A byte range [start, end) of the input. */
export interface ByteRange {
  index: number;
  start: number;
  end: number;
}

/** Frames firstFrame..lastFrame inclusive, numbered from 1. */
export interface FrameRange {
  index: number;
  firstFrame: number;
  lastFrame: number;
}

export type SlicePlan =
  | { index: number; units: number; kind: 'bytes'; start: number; end: number }
  | { index: number; units: number; kind: 'frame'; frame: number }
  | { index: number; units: number; kind: 'whole' };

export interface JobPlan {
  index: number;
  /** The sum of its slices' units. */
  units: number;
  slices: SlicePlan[];
}

export interface PlanOptions {
  framesPerJob?: number;
}

/** ceil(bytes / MiB), and 1 for an empty input: the number of slices sliceRanges returns. */
export function computeUnitsForBytes(bytes: number): number {
  count('bytes', bytes, 0);
  return Math.max(1, Math.ceil(bytes / SLICE_BYTES));
}

/** The 1 MiB ranges that cover [0, totalBytes) exactly, in order; one empty range for 0 bytes. */
export function sliceRanges(totalBytes: number): ByteRange[] {
  const n = computeUnitsForBytes(totalBytes);
  const out: ByteRange[] = [];
  for (let i = 0; i < n; i++)
    out.push({ index: i, start: i * SLICE_BYTES, end: Math.min(totalBytes, (i + 1) * SLICE_BYTES) });
  return out;
}

/** Groups frames 1..frames into runs of framesPerJob; the last run takes what is left. */
export function renderJobs(frames: number, framesPerJob: number = DEFAULT_FRAMES_PER_JOB): FrameRange[] {
  count('frames', frames, 1);
  count('framesPerJob', framesPerJob, 1);
  const out: FrameRange[] = [];
  for (let first = 1, index = 0; first <= frames; first += framesPerJob, index++)
    out.push({ index, firstFrame: first, lastFrame: Math.min(frames, first + framesPerJob - 1) });
  return out;
}

export function inferenceUnits(maxTokens: number): number {
  count('max_tokens', maxTokens, 1);
  return Math.ceil(maxTokens / TOKENS_PER_UNIT);
}

export function trainingUnits(epochs: number): number {
  count('epochs', epochs, 1);
  return epochs;
}

/** Exact in bigint: 8192³ × 100 000 is past 2^53. */
export function syntheticUnits(matrixSize: number, iterations: number): number {
  count('matrix_size', matrixSize, 1);
  count('iterations', iterations, 1);
  const n = BigInt(matrixSize);
  const muladds = n * n * n * BigInt(iterations);
  const units = (muladds + SYNTHETIC_MULADDS_PER_UNIT - 1n) / SYNTHETIC_MULADDS_PER_UNIT;
  return Number(units > 1n ? units : 1n);
}

/**
 * The jobs of a task, each with its slices and units, as the file's first comment describes.
 * Throws a RangeError when a count the plan needs is missing, fractional or out of range.
 */
export function planJobs<T extends WorkType>(type: T, info: WorkInfo[T], opts: PlanOptions = {}): JobPlan[] {
  switch (type) {
    case 'transcode':
    case 'gpuhash': {
      const bytes = (info as WorkInfo['transcode']).input_bytes;
      count('input_bytes', bytes, 0);
      const slices: SlicePlan[] = sliceRanges(bytes).map((r) => ({
        index: r.index,
        units: 1,
        kind: 'bytes',
        start: r.start,
        end: r.end,
      }));
      return [{ index: 0, units: slices.length, slices }];
    }
    case 'rendering':
      return renderJobs((info as WorkInfo['rendering']).frames, opts.framesPerJob).map((job) => {
        const slices: SlicePlan[] = [];
        for (let f = job.firstFrame; f <= job.lastFrame; f++)
          slices.push({ index: f - job.firstFrame, units: 1, kind: 'frame', frame: f });
        return { index: job.index, units: slices.length, slices };
      });
    case 'inference':
      return wholeJob(inferenceUnits((info as WorkInfo['inference']).max_tokens));
    case 'training':
      return wholeJob(trainingUnits((info as WorkInfo['training']).epochs));
    case 'synthetic': {
      const s = info as WorkInfo['synthetic'];
      return wholeJob(syntheticUnits(s.matrix_size, s.iterations));
    }
    default:
      throw new RangeError(`no work plan for challenge type ${String(type)}`);
  }
}

/** The units of a whole plan: what a task is priced and metered by. */
export function totalUnits(jobs: readonly JobPlan[]): number {
  return jobs.reduce((sum, j) => sum + j.units, 0);
}

function wholeJob(units: number): JobPlan[] {
  return [{ index: 0, units, slices: [{ index: 0, units, kind: 'whole' }] }];
}

function count(name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
}

/** The decoded length of padded base64 text, without decoding it. */
export function base64ByteLength(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor(b64.length / 4) * 3 - pad;
}

/**
 * Plans a task from its validated payload. Byte workloads need their input's size: inline
 * input is measured here; a blob's size comes from the caller (`inputBytes`).
 */
export function planTask(
  type: WorkType,
  payload: Record<string, unknown>,
  inputBytes?: number,
  opts: PlanOptions = {},
): JobPlan[] {
  if (type === 'transcode' || type === 'gpuhash') {
    const bytes = typeof payload.input === 'string' ? base64ByteLength(payload.input) : inputBytes;
    return planJobs(type, { input_bytes: bytes as number }, opts);
  }
  return planJobs(type, payload as never, opts);
}
