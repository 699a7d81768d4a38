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
import type { Logger } from '../../lib/log.js';
import type { Informer, InformerEventType } from './informer.js';
import type { LeaderElectionConfig } from './leader-election.js';
import type { ReconcileFn, WorkQueueOptions } from './work-queue.js';

/** Which of a reconciler's keys a change to one watched object concerns. */
export interface WatchSpec<T extends KubernetesObject = KubernetesObject> {
  informer: Informer<T>;
  /** Keys ("namespace/name" of the reconciler's primary objects) to enqueue; [] for none. */
  keysFor(obj: T, type: InformerEventType): string[];
}

/** Helper keeping `keysFor`'s parameter typed by the informer's. */
export function watch<T extends KubernetesObject>(informer: Informer<T>, keysFor: (obj: T, type: InformerEventType) => string[]): WatchSpec {
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
  informers: Array<Informer<KubernetesObject>>;
  reconcilers: ReconcilerSpec[];
  /** Lease settings; omit to lead from the start. onStartedLeading/onStoppedLeading are the controller's. */
  leaderElection?: Omit<LeaderElectionConfig, 'onStartedLeading' | 'onStoppedLeading' | 'logger'> & {
    onStartedLeading?: LeaderElectionConfig['onStartedLeading'];
    onStoppedLeading?: LeaderElectionConfig['onStoppedLeading'];
  };
  logger: Logger;
}

export class Controller {
  constructor(options: ControllerOptions) {
    void options;
  }

  /** Runs until `signal` fires; resolves once everything has stopped. */
  run(signal: AbortSignal): Promise<void> {
    void signal;
    throw new Error('not yet');
  }

  /** Every informer has synced (ready, whether leading or standing by). */
  get ready(): boolean {
    throw new Error('not yet');
  }

  /** This replica is in a leadership term (its workers run). */
  get leading(): boolean {
    throw new Error('not yet');
  }

  /** Enqueues `key` for reconciler `name` now (or after `afterMs`); ignored when not leading. */
  enqueue(name: string, key: string, afterMs?: number): void {
    void name;
    void key;
    void afterMs;
    throw new Error('not yet');
  }
}
