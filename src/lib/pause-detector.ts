/**
 * This process's own pauses, told apart from another party's silence. A periodic tick that comes
 * far later than scheduled means this process was not running (stopped with SIGSTOP, its machine
 * suspended, its event loop held): that time is not the server's or the storage's. The server
 * watch and the storage stall guard measure silence by their own ticks, and both use this.
 */
export class PauseDetector {
  /** A gap between ticks at least this long (ms) is a pause. */
  readonly thresholdMs: number;
  private lastTickAt: number;

  /** `tickMs`: the interval the caller ticks at. */
  constructor(tickMs: number, now = Date.now()) {
    this.thresholdMs = Math.max(5_000, tickMs * 10);
    this.lastTickAt = now;
  }

  /** Call at every tick: how long (ms) this process was not running since the last one, or 0. */
  tick(now = Date.now()): number {
    const gap = this.pending(now);
    this.lastTickAt = now;
    return gap;
  }

  /** Between ticks: how long (ms) this process has not been running, should the next tick be that late, or 0. */
  pending(now = Date.now()): number {
    const gap = now - this.lastTickAt;
    return gap >= this.thresholdMs ? gap : 0;
  }
}
