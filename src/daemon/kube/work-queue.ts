/**
 * A controller's work queue, as client-go's workqueue: items are keys ("namespace/name"); a key
 * waiting is queued once however often it is added; one key is never processed by two workers at
 * once, and a key added while it is being processed runs again once that run is done. Requeues
 * after a delay (`addAfter`) and per-key exponential backoff after failures (`addRateLimited`,
 * `forget`) use an injected timer so tests need not sleep.
 */
import type { Logger } from '../../lib/log.js';

/** The timer the queue waits with: node's by default; tests pass a fake one. */
export interface QueueTimer {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimer: QueueTimer = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface WorkQueueOptions {
  /** Backoff of `addRateLimited`: baseMs × 2^(failures−1), capped at maxMs (client-go: 5 ms … 1000 s). */
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

export class WorkQueue {
  constructor(options: WorkQueueOptions = {}) {
    void options;
  }

  /** Queues `key` unless it is already waiting; if it is being processed, it runs again after. */
  add(key: string): void {
    void key;
    throw new Error('not yet');
  }

  /** Adds `key` once `ms` has passed (at once when ms ≤ 0). An earlier pending addAfter wins. */
  addAfter(key: string, ms: number): void {
    void key;
    void ms;
    throw new Error('not yet');
  }

  /** Adds `key` after its backoff delay, which doubles with each call until `forget(key)`. */
  addRateLimited(key: string): void {
    void key;
    throw new Error('not yet');
  }

  /** Clears `key`'s failure count (after a success). */
  forget(key: string): void {
    void key;
    throw new Error('not yet');
  }

  /** How many times `key` has been rate-limited since it was last forgotten. */
  numRequeues(key: string): number {
    void key;
    throw new Error('not yet');
  }

  /** Keys waiting (not counting those being processed or delayed). */
  get length(): number {
    throw new Error('not yet');
  }

  /**
   * The next key, marked as being processed; waits while none is ready. Resolves `undefined` once
   * the queue is shut down. Every key returned must be passed to `done`.
   */
  get(): Promise<string | undefined> {
    throw new Error('not yet');
  }

  /** Marks `key` as processed; if it was added meanwhile it becomes ready again. */
  done(key: string): void {
    void key;
    throw new Error('not yet');
  }

  /**
   * Runs `workers` loops of get → reconcile → done until stopped. A reconcile that throws is
   * logged and requeued with backoff; one that returns is forgotten (and requeued after
   * `requeueAfterMs` if asked).
   */
  run(workers: number, reconcile: ReconcileFn, logger: Logger): RunningWorkers {
    void workers;
    void reconcile;
    void logger;
    throw new Error('not yet');
  }

  /**
   * Shuts the queue down: no new keys are handed out (get resolves undefined), delayed adds are
   * cancelled, and the returned promise resolves once every key being processed is done (drain).
   */
  shutDown(): Promise<void> {
    throw new Error('not yet');
  }
}
