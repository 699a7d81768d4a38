/**
 * A typed informer: client-node's ListWatch (list, then watch from the list's resourceVersion,
 * keep a cache keyed by namespace/name) made safe to run for days.
 *
 * client-node already: re-watches from the last resourceVersion when a watch ends (2.x aborts
 * every watch after 30 s without data); relists on 410 Gone, firing `delete` for objects that
 * vanished; fires no callback for an object whose resourceVersion did not change (so a replay
 * after a re-watch is not seen twice). What it does not do, this does: after any other error
 * (a failed list, a 5xx, a refused connection) ListWatch stays stopped, so this restarts it with
 * exponential backoff and logs each restart; and `start()` resolves only once the first list is
 * in (the cache is synced), retrying until then.
 */
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1CronJob,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';

/** What an informer lists and watches. */
export interface InformerSource<T extends KubernetesObject> {
  /** For logs: `mysqlbackups.shipstream.io`, `jobs`… */
  resource: string;
  /** The list path the watch uses, e.g. `/apis/batch/v1/namespaces/ns/jobs` or `/apis/batch/v1/jobs`. */
  path: string;
  /** Lists the objects, with the same selector as `labelSelector` (ListWatch does not add it). */
  list(): Promise<KubernetesListObject<T>>;
  labelSelector?: string;
}

export type InformerEventType = 'add' | 'update' | 'delete';

/** Called for each change; `delete` gets the object's last known state. Must not throw. */
export type InformerHandler<T> = (type: InformerEventType, obj: T) => void;

export interface InformerOptions {
  logger: Logger;
  /** Delay before restarting after an error: baseMs × 2^(n−1), capped at maxMs; reset once synced. */
  restartBackoff?: { baseMs: number; maxMs: number };
}

/** Where to list from: one namespace, or all namespaces when `namespace` is undefined. */
export interface SourceScope {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
}

/** Custom resources of one kind (plain JSON objects, as CustomObjectsApi returns them). */
export function customResourceSource<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  resource: { group: string; version: string; plural: string },
  scope: SourceScope = {},
): InformerSource<T> {
  void kubeConfig;
  void resource;
  void scope;
  void CustomObjectsApi;
  throw new Error('not yet');
}

/** batch/v1 Jobs. */
export function jobSource(kubeConfig: KubeConfig, scope: SourceScope = {}): InformerSource<V1Job> {
  void kubeConfig;
  void scope;
  void BatchV1Api;
  throw new Error('not yet');
}

/** batch/v1 CronJobs. */
export function cronJobSource(kubeConfig: KubeConfig, scope: SourceScope = {}): InformerSource<V1CronJob> {
  void kubeConfig;
  void scope;
  throw new Error('not yet');
}

/** v1 Pods (a Job's pods carry `batch.kubernetes.io/job-name`). */
export function podSource(kubeConfig: KubeConfig, scope: SourceScope = {}): InformerSource<V1Pod> {
  void kubeConfig;
  void scope;
  void CoreV1Api;
  throw new Error('not yet');
}

export class Informer<T extends KubernetesObject> {
  constructor(kubeConfig: KubeConfig, source: InformerSource<T>, options: InformerOptions) {
    void kubeConfig;
    void source;
    void options;
  }

  /** Registers a handler; register before `start()` to see the initial list as `add`s. */
  on(handler: InformerHandler<T>): void {
    void handler;
    throw new Error('not yet');
  }

  /**
   * Starts listing and watching. Resolves once the first list is in the cache (retrying a failed
   * list with backoff meanwhile); rejects only if `stop()` is called before that.
   */
  start(): Promise<void> {
    throw new Error('not yet');
  }

  /** Stops watching for good (no restart); the cache keeps its last contents. */
  stop(): Promise<void> {
    throw new Error('not yet');
  }

  /** Whether the first list is in. */
  get synced(): boolean {
    throw new Error('not yet');
  }

  /** The cached object, or undefined. Treat it as read-only: it is the cache's own copy. */
  get(namespace: string, name: string): T | undefined {
    void namespace;
    void name;
    throw new Error('not yet');
  }

  /** Cached objects, of one namespace or of all. */
  list(namespace?: string): readonly T[] {
    void namespace;
    throw new Error('not yet');
  }

  /** The resourceVersion the watch resumes from ('' before the first list or after a 410). */
  get resourceVersion(): string {
    throw new Error('not yet');
  }
}

/** `namespace/name` (or `name` for a cluster-scoped object): the work-queue key of an object. */
export function keyOf(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** Splits a key made by `keyOf`. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
