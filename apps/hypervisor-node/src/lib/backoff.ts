// Retry pacing for the agent's loops: exponential with jitter, and a failure streak logged at
// 1, 2, 4, 8 … tries instead of once per try.
export class Backoff {
  private failures = 0;

  constructor(private readonly firstMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {}

  /** Counts a failure; returns how long to wait before the next try. `say` is called at powers of two. */
  failed(say?: (failuresInARow: number) => void): number {
    this.failures++;
    if (say && (this.failures & (this.failures - 1)) === 0) say(this.failures);
    const base = Math.min(this.maxMs, this.firstMs * 2 ** Math.min(this.failures - 1, 30));
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  /** A success ends the streak; `say` hears how long it was when there was one. */
  succeeded(say?: (failuresInARow: number) => void): void {
    if (this.failures > 0 && say) say(this.failures);
    this.failures = 0;
  }

  get streak(): number { return this.failures; }
}
