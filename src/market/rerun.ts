// A job that runs again rather than twice: a kick while it runs makes one more run right after
// it, however many kicks came. What wakes webhook delivery and task followers.

export class Rerun {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.fn()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves once no run is in progress or due. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}
