// Batching: requests that arrive while a batch is in flight wait for the next one, which serves
// them all with one round trip. For writes this is group commit: one transaction per batch, each
// request still gets its own outcome and is answered only after its transaction has committed.
// For reads it is one `WHERE id IN (…)` query instead of one query per request.

export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = false;
  private idle: (() => void)[] = [];

  /** `run` gets a batch and returns one outcome per item, in order; if it throws, all fail. */
  constructor(
    private readonly run: (items: I[]) => Promise<Outcome<O>[]>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the requests already parsed in this turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Resolves once everything submitted so far is written. */
  flushed(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outcomes = await this.run(batch.map((p) => p.item));
        batch.forEach((p, i) => {
          const o = outcomes[i];
          if (!o) p.reject(new Error('batch returned too few outcomes'));
          else if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.running = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }
}
