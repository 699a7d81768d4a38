/**
 * A controller's work queue: keys (namespace/name) waiting to be synced, each at most once in
 * the queue, synced one at a time, with delayed adds for things time alone changes. A failed
 * sync is retried after a short pause, as client-go's rate-limited queue does.
 */
export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly sync: (key: string) => Promise<void>;
  private readonly retryMs: number;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(sync: (key: string) => Promise<void>, retryMs = 200) {
    this.sync = sync;
    this.retryMs = retryMs;
  }

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Adds `key` after `ms`; an earlier pending delayed add wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + Math.max(0, ms);
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, Math.max(0, ms));
    this.timers.set(key, { at, timer });
  }

  /** Resolves when nothing is queued or being synced (delayed adds aside). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Drops every queued key and timer, and waits for the sync under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending.clear();
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.idle();
  }

  private async drain(): Promise<void> {
    for (let key = this.next(); key !== undefined && !this.stopped; key = this.next()) {
      try {
        await this.sync(key);
      } catch {
        this.addAfter(key, this.retryMs);
      }
    }
  }

  private next(): string | undefined {
    const [key] = this.pending;
    if (key !== undefined) this.pending.delete(key);
    return key;
  }
}
