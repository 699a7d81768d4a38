/**
 * A controller's work queue, as client-go's workqueue: items are keys ("namespace/name"); a key
 * waiting is queued once however often it is added; one key is never processed by two workers at
 * once, and a key added while it is being processed runs again once that run is done. Requeues
 * after a delay (`addAfter`) and per-key exponential backoff after failures (`addRateLimited`,
 * `forget`) use an injected timer so tests need not sleep.
 */
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';

/** The timer the queue waits with: node's by default; tests pass a fake one. */
export interface QueueTimer {
  /** Milliseconds on any monotonic scale. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimer: QueueTimer = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface WorkQueueOptions {
  /** Backoff of `addRateLimited`: baseMs × 2^(failures−1), capped at maxMs. Default 1 s … 5 min. */
  backoff?: { baseMs: number; maxMs: number };
  timer?: QueueTimer;
}

/** What a reconcile asks for when it returns normally. */
export type ReconcileResult = void | undefined | { requeueAfterMs?: number };

/**
 * Processes one key. Throwing requeues the key with backoff (`addRateLimited`); returning forgets
 * its failures, and `requeueAfterMs` adds it again after that long. `signal` fires when the
 * workers are told to stop (shutDown, or leadership lost).
 */
export type ReconcileFn = (key: string, signal: AbortSignal) => Promise<ReconcileResult>;

export interface RunningWorkers {
  /** Stops taking keys, aborts the running reconciles' signal, and resolves when they have returned. */
  stop(): Promise<void>;
}

interface Delayed {
  at: number;
  handle: unknown;
}

export class WorkQueue {
  private readonly timer: QueueTimer;
  private readonly backoff: { baseMs: number; maxMs: number };
  /** Keys ready to hand out, in order. */
  private readonly ready: string[] = [];
  /** Keys that need processing (ready, or added again while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private drained: (() => void) | undefined;
  private drain: Promise<void> | undefined;
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.timer = options.timer ?? systemTimer;
    this.backoff = options.backoff ?? { baseMs: 1000, maxMs: 5 * 60_000 };
  }

  /** Queues `key` unless it is already waiting; if it is being processed, it runs again after. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.hand(key);
  }

  /**
   * Adds `key` once `ms` has passed (at once when ms ≤ 0). When the key already has a delayed add,
   * the earlier of the two is kept.
   */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.timer.now() + ms;
    const pending = this.delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      this.timer.clearTimeout(pending.handle);
    }
    const handle = this.timer.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Adds `key` after its backoff delay, which doubles with each call until `forget(key)`. */
  addRateLimited(key: string): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.addAfter(key, this.backoffDelay(n));
  }

  /** The delay `addRateLimited` uses for failure number `n` (1-based). */
  backoffDelay(n: number): number {
    return Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(n - 1, 52));
  }

  /** Clears `key`'s failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times `key` has been rate-limited since it was last forgotten. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys waiting (not counting those being processed or delayed). */
  get length(): number {
    return this.ready.length;
  }

  /** Whether `key` is being processed now. */
  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /**
   * The next key, marked as being processed; waits while none is ready. Resolves `undefined` once
   * the queue is shut down. Every key returned must be passed to `done`.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` as processed; if it was added meanwhile it becomes ready again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.hand(key);
    if (this.shuttingDown && this.processing.size === 0) this.drained?.();
  }

  /**
   * Runs `workers` loops of get → reconcile → done until stopped. A reconcile that throws is
   * logged and requeued with backoff; one that returns is forgotten (and requeued after
   * `requeueAfterMs` if asked). A reconcile that fails because `stop()` aborted it is not
   * requeued.
   */
  run(workers: number, reconcile: ReconcileFn, logger: Logger): RunningWorkers {
    const stopping = new AbortController();
    const loop = async (): Promise<void> => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          const result = await reconcile(key, stopping.signal);
          this.forget(key);
          if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        } catch (err) {
          if (!stopping.signal.aborted) {
            this.addRateLimited(key);
            logger.warn('reconcile failed, will retry', { key, error: errorMessage(err), retryInMs: this.backoffDelay(this.numRequeues(key)), failures: this.numRequeues(key) });
          }
        } finally {
          this.done(key);
        }
      }
    };
    const loops = Array.from({ length: Math.max(1, workers) }, () => loop());
    return {
      stop: async () => {
        stopping.abort(new Error('workers stopped'));
        await this.shutDown();
        await Promise.all(loops);
      },
    };
  }

  /**
   * Shuts the queue down: no new keys are handed out (get resolves undefined), adds are ignored,
   * delayed adds are cancelled, and the returned promise resolves once every key being processed
   * is done (drain).
   */
  shutDown(): Promise<void> {
    if (this.drain) return this.drain;
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.timer.clearTimeout(handle);
    this.delayed.clear();
    this.ready.length = 0;
    for (const w of this.waiters.splice(0)) w(undefined);
    this.drain =
      this.processing.size === 0
        ? Promise.resolve()
        : new Promise((resolve) => {
            this.drained = resolve;
          });
    return this.drain;
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  /** Gives a ready key to a waiting worker, or queues it. */
  private hand(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(this.take(key));
    else this.ready.push(key);
  }
}
