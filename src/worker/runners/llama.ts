// The embedded llama.cpp engine (node-llama-cpp) that runs GGUF models inside the worker: no
// server to install, CUDA offload when the machine has it, the CPU otherwise. node-llama-cpp is
// imported on first use, so a worker without GGUF models (and `taskmarket --help`) never loads
// the native library.
//
// Replication is the market's check on inference, so a completion must be reproducible: each job
// gets a fresh context with one sequence (never batched with another job, whose presence would
// change the arithmetic), a fixed batch size, greedy decoding at temperature 0 and, above it, a
// sampler seeded from the job's own payload. Two workers with the same model file and the same
// kind of device then return the same text.

import type { Llama, LlamaModel } from 'node-llama-cpp';
import { JobFailure } from './types.js';

export interface GgufModelSpec {
  modelPath: string;
  /** "auto" offloads as many layers as fit on the GPU (none without one); 0 keeps all on the CPU. */
  gpuLayers: 'auto' | number;
  contextSize: number;
}

export interface LlamaEngineOptions {
  models: ReadonlyMap<string, GgufModelSpec>;
  /** "auto": CUDA (or Vulkan, Metal) when present, else the CPU. "cpu": never a GPU. */
  gpu: 'auto' | 'cpu';
  /** CPU threads per generation. */
  threads: number;
  /** llama.cpp's warnings and errors, for the worker's log. */
  log?: (level: 'warn' | 'error', message: string) => void;
}

export interface CompletionRequest {
  prompt: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  signal: AbortSignal;
}

/** Tokens evaluated per batch: fixed, so the prompt is always split the same way. */
const BATCH_SIZE = 512;

export class LlamaEngine {
  private llama: Promise<Llama> | null = null;
  private readonly loaded = new Map<string, Promise<LlamaModel>>();
  private closed = false;

  constructor(private readonly opts: LlamaEngineOptions) {}

  has(modelId: string): boolean {
    return this.opts.models.has(modelId);
  }

  /** The compute backend in use ("cuda", "vulkan", "metal" or "cpu"), loading llama.cpp if needed. */
  async backend(): Promise<string> {
    const llama = await this.runtime();
    return llama.gpu === false ? 'cpu' : llama.gpu;
  }

  async complete(modelId: string, req: CompletionRequest): Promise<string> {
    const spec = this.opts.models.get(modelId);
    if (!spec) throw new JobFailure('unsupported', `model ${modelId} is not served by this worker`);
    const model = await this.model(modelId, spec);
    if (req.signal.aborted) throw req.signal.reason;
    const { LlamaCompletion } = await import('node-llama-cpp');
    const contextSize = Math.min(spec.contextSize, model.trainContextSize);
    let context;
    try {
      context = await model.createContext({
        contextSize,
        batchSize: Math.min(BATCH_SIZE, contextSize),
        sequences: 1,
        threads: this.opts.threads,
      });
    } catch (err) {
      throw new JobFailure(
        'runner_error',
        `cannot create a context for ${modelId}: ${(err as Error).message}`,
      );
    }
    try {
      const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
      return await completion.generateCompletion(req.prompt, {
        maxTokens: req.maxTokens,
        temperature: req.temperature,
        seed: req.seed,
        repeatPenalty: false,
        signal: req.signal,
      });
    } catch (err) {
      if (req.signal.aborted) throw req.signal.reason;
      throw new JobFailure('runner_error', `generation failed on ${modelId}: ${(err as Error).message}`);
    } finally {
      await context.dispose();
    }
  }

  /** Frees the models and llama.cpp; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const models = [...this.loaded.values()];
    this.loaded.clear();
    for (const m of models) await m.then((model) => model.dispose()).catch(() => undefined);
    const llama = this.llama;
    this.llama = null;
    await llama?.then((l) => l.dispose()).catch(() => undefined);
  }

  private runtime(): Promise<Llama> {
    if (this.closed) return Promise.reject(new JobFailure('runner_error', 'the llama.cpp engine is closed'));
    this.llama ??= (async () => {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      return getLlama({
        gpu: this.opts.gpu === 'cpu' ? false : 'auto',
        // Prebuilt binaries only: a worker never downloads or compiles llama.cpp behind its
        // operator's back.
        build: 'never',
        logLevel: LlamaLogLevel.warn,
        logger: (level, message) => {
          const text = message.trim();
          if (!text) return;
          this.opts.log?.(level === LlamaLogLevel.warn ? 'warn' : 'error', text);
        },
      });
    })();
    const pending = this.llama;
    pending.catch(() => {
      if (this.llama === pending) this.llama = null;
    });
    return pending.catch((err: unknown) => {
      throw new JobFailure('runner_error', `cannot load llama.cpp: ${(err as Error).message}`);
    });
  }

  private model(modelId: string, spec: GgufModelSpec): Promise<LlamaModel> {
    let pending = this.loaded.get(modelId);
    if (!pending) {
      pending = this.runtime().then(async (llama) => {
        try {
          return await llama.loadModel({ modelPath: spec.modelPath, gpuLayers: spec.gpuLayers });
        } catch (err) {
          throw new JobFailure(
            'runner_error',
            `cannot load model ${modelId} from ${spec.modelPath}: ${(err as Error).message}`,
          );
        }
      });
      this.loaded.set(modelId, pending);
      // A failed load is retried by the next job rather than remembered.
      pending.catch(() => {
        if (this.loaded.get(modelId) === pending) this.loaded.delete(modelId);
      });
    }
    return pending;
  }
}
