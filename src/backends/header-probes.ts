// The scheduler behind listings of an encrypted mount: entries whose header is not known yet
// are probed at most `concurrency` at a time and for at most `budgetMs` per listing; what is
// left over is probed later in the background, one batch at a time, so the next listing finds
// it cached. A cold cache on a large folder behind a slow backend never stalls a client. Knows
// nothing about headers or backends: it runs the probe it is handed.
export class ProbeScheduler {
  /** True while a background batch runs (one at a time). */
  private warming = false;

  constructor(
    private readonly concurrency: number,
    private readonly budgetMs: number,
  ) {}

  /**
   * Runs `probe` over `items` in order, within the budget. Resolves to the items not started
   * when the budget ran out; rejects as soon as a probe rejects.
   */
  async within<T>(items: readonly T[], probe: (item: T) => Promise<void>): Promise<T[]> {
    let next = 0;
    const deadline = Date.now() + this.budgetMs;
    const worker = async (): Promise<void> => {
      while (next < items.length && Date.now() < deadline) await probe(items[next++]!);
    };
    if (items.length > 0) await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    return items.slice(next);
  }

  /** Probes `items` in the background (errors ignored); dropped while an earlier batch still runs. */
  later<T>(items: readonly T[], probe: (item: T) => Promise<unknown>): void {
    if (this.warming) return;
    this.warming = true;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) await probe(items[next++]!).catch(() => undefined);
    };
    void Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker))
      .finally(() => { this.warming = false; });
  }
}
