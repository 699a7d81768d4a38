/**
 * Wires informers to work queues and reconcile functions, and runs the reconcilers only while
 * this replica leads.
 *
 * - Informers start at once and stay warm whether leading or not, so a standby that takes over
 *   has its caches ready (and `/readyz` says ready once every informer has synced).
 * - Each leadership term gets fresh queues: every cached object's keys are enqueued (a full
 *   resync, since a standby ignored changes), then informer events enqueue the keys each watch
 *   maps them to. Losing the Lease ends the term: the reconciles' signal fires, the queues are
 *   shut down and drained.
 * - Without leader election (one replica, tests) the controller leads from the start.
 * - `run(signal)` returns after `signal` fires: the term ends, the Lease is released, informers
 *   stop.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { LogFields, Logger } from '../../lib/log.js';
import type { InformerEventType, InformerLike } from './informer.js';
import { LeaderElector, type LeaderElectionConfig } from './leader-election.js';
import { WorkQueue, type ReconcileFn, type RunningWorkers, type WorkQueueOptions } from './work-queue.js';

/** Which of a reconciler's keys a change to one watched object concerns. */
export interface WatchSpec<T extends KubernetesObject = KubernetesObject> {
  informer: InformerLike<T>;
  /** Keys ("namespace/name" of the reconciler's primary objects) to enqueue; [] for none. */
  keysFor(obj: T, type: InformerEventType): string[];
}

/** Helper keeping `keysFor`'s parameter typed by the informer's. */
export function watch<T extends KubernetesObject>(informer: InformerLike<T>, keysFor: (obj: T, type: InformerEventType) => string[]): WatchSpec {
  return { informer, keysFor };
}

export interface ReconcilerSpec {
  /** For logs: `mysqlfailovergroup`, `mysqlbackup`. */
  name: string;
  /** Parallel workers (different keys only). Default 2. */
  workers?: number;
  reconcile: ReconcileFn;
  watches: WatchSpec[];
  queue?: WorkQueueOptions;
}

export interface ControllerOptions {
  /** Every informer to run (several reconcilers may share one). */
  informers: InformerLike[];
  reconcilers: ReconcilerSpec[];
  /** Lease settings; omit to lead from the start. onStartedLeading/onStoppedLeading are the controller's. */
  leaderElection?: Omit<LeaderElectionConfig, 'onStartedLeading' | 'onStoppedLeading' | 'logger'> & {
    onStartedLeading?: LeaderElectionConfig['onStartedLeading'];
    onStoppedLeading?: LeaderElectionConfig['onStoppedLeading'];
  };
  logger: Logger;
}

/** One reconciler's queue and workers during a leadership term. */
interface Term {
  queues: Map<string, WorkQueue>;
  workers: RunningWorkers[];
}

export class Controller {
  private readonly options: ControllerOptions;
  private term: Term | undefined;
  /** Ends the current term and waits for its workers (set while a term runs). */
  private endingTerm: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.options = options;
    const names = new Set<string>();
    for (const r of options.reconcilers) {
      if (names.has(r.name)) throw new Error(`two reconcilers are named ${r.name}`);
      names.add(r.name);
      for (const w of r.watches) {
        w.informer.on((type, obj) => {
          const queue = this.term?.queues.get(r.name);
          if (!queue) return;
          for (const key of w.keysFor(obj, type)) queue.add(key);
        });
      }
    }
  }

  /** Runs until `signal` fires; resolves once everything has stopped. */
  async run(signal: AbortSignal): Promise<void> {
    const { logger } = this.options;
    const synced = Promise.all(this.options.informers.map((i) => i.start()));
    try {
      await Promise.race([synced, aborted(signal)]);
      if (signal.aborted) return;
      logger.info('informers synced', { informers: this.options.informers.length });
      const le = this.options.leaderElection;
      if (!le) {
        this.startTerm();
        await aborted(signal);
        await this.endTerm();
        return;
      }
      const elector = new LeaderElector({
        ...le,
        logger,
        onStartedLeading: (termSignal) => {
          this.startTerm();
          termSignal.addEventListener('abort', () => void this.endTerm(), { once: true });
          return le.onStartedLeading?.(termSignal);
        },
        onStoppedLeading: async () => {
          await this.endTerm();
          await le.onStoppedLeading?.();
        },
      });
      await elector.run(signal);
      await this.endTerm();
    } finally {
      await this.endTerm();
      await Promise.all(this.options.informers.map((i) => i.stop()));
      synced.catch(() => undefined);
    }
  }

  /** Every informer has synced (ready, whether leading or standing by). */
  get ready(): boolean {
    return this.options.informers.every((i) => i.synced);
  }

  /** This replica is in a leadership term (its workers run). */
  get leading(): boolean {
    return this.term !== undefined;
  }

  /** Enqueues `key` for reconciler `name` now (or after `afterMs`); ignored when not leading. */
  enqueue(name: string, key: string, afterMs?: number): void {
    const queue = this.term?.queues.get(name);
    if (!queue) return;
    if (afterMs === undefined) queue.add(key);
    else queue.addAfter(key, afterMs);
  }

  /** Fresh queues, every cached object's keys enqueued, workers started. */
  private startTerm(): void {
    const { logger } = this.options;
    const queues = new Map<string, WorkQueue>();
    const workers: RunningWorkers[] = [];
    for (const r of this.options.reconcilers) {
      const queue = new WorkQueue(r.queue);
      queues.set(r.name, queue);
      for (const w of r.watches) for (const obj of w.informer.list()) for (const key of w.keysFor(obj, 'add')) queue.add(key);
    }
    this.term = { queues, workers };
    for (const r of this.options.reconcilers) {
      const queue = queues.get(r.name);
      if (queue) workers.push(queue.run(r.workers ?? 2, r.reconcile, withFields(logger, { reconciler: r.name })));
    }
    logger.info('reconcilers started', { reconcilers: this.options.reconcilers.map((r) => r.name) });
  }

  /** Stops the term's workers (their signal fires) and waits for running reconciles to return. */
  private endTerm(): Promise<void> {
    if (this.endingTerm) return this.endingTerm;
    const term = this.term;
    if (!term) return Promise.resolve();
    this.term = undefined;
    this.endingTerm = Promise.all(term.workers.map((w) => w.stop())).then(() => {
      this.endingTerm = undefined;
      this.options.logger.info('reconcilers stopped');
    });
    return this.endingTerm;
  }
}

/** `logger` with `fields` added to every entry. */
function withFields(logger: Logger, fields: LogFields): Logger {
  return {
    debug: (m, f) => logger.debug(m, { ...fields, ...f }),
    info: (m, f) => logger.info(m, { ...fields, ...f }),
    warn: (m, f) => logger.warn(m, { ...fields, ...f }),
    error: (m, f) => logger.error(m, { ...fields, ...f }),
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
