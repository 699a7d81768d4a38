/**
 * A typed informer: client-node's ListWatch (list, then watch from the list's resourceVersion,
 * keep a cache keyed by namespace/name) made safe to run for days.
 *
 * client-node already: re-watches from the last resourceVersion when a watch ends (2.x aborts
 * every watch after 30 s without data); relists on 410 Gone, firing `delete` for objects that
 * vanished; fires no callback for an object whose resourceVersion did not change (so a replay
 * after a re-watch is not seen twice). What it does not do, this does: after any other error
 * (a failed list, a 5xx, a refused connection) ListWatch stays stopped, so this restarts it with
 * exponential backoff and logs each restart (resuming from its resourceVersion, or relisting if
 * that expired meanwhile); `start()` resolves only once the first list is in (the cache is synced),
 * retrying until then; watch objects of built-in kinds are turned into the same model classes the
 * typed list returns; and no watch is opened after `stop()` (ListWatch would open one if stopped
 * during its reconnect delay).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1CronJob,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
// The generated models' (de)serializer is not re-exported by the package index; it is the one
// the typed list calls use, so watch events are turned into the same model classes with it.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { statusOf } from './errors.js';

/** What an informer lists and watches. */
export interface InformerSource<T extends KubernetesObject> {
  /** For logs: `mysqlbackups.shipstream.io`, `jobs`… */
  resource: string;
  /** The list path the watch uses, e.g. `/apis/batch/v1/namespaces/ns/jobs` or `/apis/batch/v1/jobs`. */
  path: string;
  /** Lists the objects, with the same selector as `labelSelector` (ListWatch does not add it). */
  list(): Promise<KubernetesListObject<T>>;
  labelSelector?: string | undefined;
  /**
   * Turns a watch event's object (plain JSON) into what `list` returns: the typed lists of
   * built-in kinds give model objects (Date fields as Date), so their watch objects must be
   * deserialized alike, or the cache would hold both shapes. Identity for custom resources.
   */
  fromWatch?: (raw: unknown) => T;
}

export type InformerEventType = 'add' | 'update' | 'delete';

/** Called for each change; `delete` gets the object's last known state. Must not throw. */
export type InformerHandler<T> = (type: InformerEventType, obj: T) => void;

/** What the controller needs of an informer (methods, so an Informer<V1Job> is one of KubernetesObject). */
export interface InformerLike<T extends KubernetesObject = KubernetesObject> {
  on(handler: InformerHandler<T>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly synced: boolean;
  list(namespace?: string): readonly T[];
}

export interface InformerOptions {
  logger: Logger;
  /** Delay before restarting after an error: baseMs × 2^(n−1), capped at maxMs. Default 1 s … 30 s. */
  restartBackoff?: { baseMs: number; maxMs: number };
  /**
   * client-node 2.x ends a watch that brought no data for 30 s (and ListWatch re-watches from its
   * resourceVersion at once). Tests shorten it to go through many re-watches quickly.
   */
  watchInactivityTimeoutMs?: number;
}

/** Where to list from: one namespace, or all namespaces when `namespace` is undefined. */
export interface SourceScope {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
}

function scopedPath(prefix: string, plural: string, namespace: string | undefined): string {
  return namespace ? `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${prefix}/${plural}`;
}

function deserializer<T>(type: string): (raw: unknown) => T {
  return (raw) => ObjectSerializer.deserialize(raw, type, '') as T;
}

/** Custom resources of one kind (plain JSON objects, as CustomObjectsApi returns them). */
export function customResourceSource<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  resource: { group: string; version: string; plural: string },
  scope: SourceScope = {},
): InformerSource<T> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { group, version, plural } = resource;
  const { namespace, labelSelector } = scope;
  return {
    resource: `${plural}.${group}`,
    path: scopedPath(`/apis/${group}/${version}`, plural, namespace),
    labelSelector,
    list: () =>
      (namespace
        ? api.listNamespacedCustomObject({ group, version, plural, namespace, labelSelector })
        : api.listClusterCustomObject({ group, version, plural, labelSelector })) as Promise<KubernetesListObject<T>>,
  };
}

/** batch/v1 Jobs. */
export function jobSource(kubeConfig: KubeConfig, scope: SourceScope = {}): InformerSource<V1Job> {
  const api = kubeConfig.makeApiClient(BatchV1Api);
  const { namespace, labelSelector } = scope;
  return {
    resource: 'jobs.batch',
    path: scopedPath('/apis/batch/v1', 'jobs', namespace),
    labelSelector,
    list: () => (namespace ? api.listNamespacedJob({ namespace, labelSelector }) : api.listJobForAllNamespaces({ labelSelector })),
    fromWatch: deserializer<V1Job>('V1Job'),
  };
}

/** batch/v1 CronJobs. */
export function cronJobSource(kubeConfig: KubeConfig, scope: SourceScope = {}): InformerSource<V1CronJob> {
  const api = kubeConfig.makeApiClient(BatchV1Api);
  const { namespace, labelSelector } = scope;
  return {
    resource: 'cronjobs.batch',
    path: scopedPath('/apis/batch/v1', 'cronjobs', namespace),
    labelSelector,
    list: () => (namespace ? api.listNamespacedCronJob({ namespace, labelSelector }) : api.listCronJobForAllNamespaces({ labelSelector })),
    fromWatch: deserializer<V1CronJob>('V1CronJob'),
  };
}

/** v1 Pods (a Job's pods carry `batch.kubernetes.io/job-name`). */
export function podSource(kubeConfig: KubeConfig, scope: SourceScope = {}): InformerSource<V1Pod> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const { namespace, labelSelector } = scope;
  return {
    resource: 'pods',
    path: scopedPath('/api/v1', 'pods', namespace),
    labelSelector,
    list: () => (namespace ? api.listNamespacedPod({ namespace, labelSelector }) : api.listPodForAllNamespaces({ labelSelector })),
    fromWatch: deserializer<V1Pod>('V1Pod'),
  };
}

/** client-node's Watch, handing the informer each event's object converted by `fromWatch`. */
class ConvertingWatch extends Watch {
  constructor(
    kubeConfig: KubeConfig,
    private readonly convert: (raw: unknown) => unknown,
    inactivityTimeoutMs: number | undefined,
    private readonly isStopped: () => boolean,
  ) {
    super(kubeConfig);
    // A private field of client-node's Watch (30 000 in 2.0.x), only ever changed by tests.
    if (inactivityTimeoutMs !== undefined) (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = inactivityTimeoutMs;
  }

  override watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    // ListWatch does not look at its stopped flag again after its reconnect delay: a stop()
    // during that delay would still open a watch. Open none once the informer is stopped.
    if (this.isStopped()) {
      const never = new AbortController();
      never.abort();
      return Promise.resolve(never);
    }
    return super.watch(path, queryParams, (phase, obj, raw) => callback(phase, phase === 'ERROR' ? obj : this.convert(obj), raw), done);
  }
}

export class Informer<T extends KubernetesObject> implements InformerLike<T> {
  private readonly source: InformerSource<T>;
  private readonly logger: Logger;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly listWatch: ListWatch<T>;
  private readonly handlers: Array<InformerHandler<T>> = [];
  private isSynced = false;
  private stopped = false;
  private started = false;
  /** Errors in a row without a successful list or an event in between. */
  private failures = 0;
  private restarting = false;
  private readonly stopping = new AbortController();
  private syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(kubeConfig: KubeConfig, source: InformerSource<T>, options: InformerOptions) {
    this.source = source;
    this.logger = options.logger;
    this.backoff = options.restartBackoff ?? { baseMs: 1000, maxMs: 30_000 };
    const watch = new ConvertingWatch(kubeConfig, source.fromWatch ?? ((raw) => raw), options.watchInactivityTimeoutMs, () => this.stopped);
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await source.list();
      // ListWatch fills its cache synchronously once this promise settles: the cache is synced
      // when the macrotask queue comes round.
      setImmediate(() => this.markListed());
      return result;
    };
    // Its reconnect delay ends at once on stop(), so stopping does not wait for it.
    const delayFn = (ms: number): Promise<void> => sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    this.listWatch = new ListWatch<T>(source.path, watch, list, false, source.labelSelector, undefined, { delayFn });
    this.listWatch.on('add', (obj) => this.emit('add', obj));
    this.listWatch.on('update', (obj) => this.emit('update', obj));
    this.listWatch.on('delete', (obj) => this.emit('delete', obj));
    this.listWatch.on('error', (err) => this.onError(err));
  }

  /** Registers a handler; register before `start()` to see the initial list as `add`s. */
  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /**
   * Starts listing and watching. Resolves once the first list is in the cache (retrying a failed
   * list with backoff meanwhile); rejects only if `stop()` is called before that.
   */
  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error(`informer for ${this.source.resource} was stopped`));
    const synced = this.isSynced ? Promise.resolve() : new Promise<void>((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
    if (!this.started) {
      this.started = true;
      this.runListWatch();
    }
    return synced;
  }

  /** Stops watching for good (no restart); the cache keeps its last contents. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    for (const w of this.syncWaiters.splice(0)) w.reject(new Error(`informer for ${this.source.resource} stopped before it synced`));
    await this.listWatch.stop();
  }

  /** Whether the first list is in. */
  get synced(): boolean {
    return this.isSynced;
  }

  /** The cached object, or undefined. Treat it as read-only: it is the cache's own copy. */
  get(namespace: string, name: string): T | undefined {
    return this.listWatch.get(name, namespace);
  }

  /** Cached objects, of one namespace or of all. */
  list(namespace?: string): readonly T[] {
    return this.listWatch.list(namespace);
  }

  /** The resourceVersion the watch resumes from ('' before the first list or after a 410). */
  get resourceVersion(): string {
    return this.listWatch.latestResourceVersion();
  }

  private markListed(): void {
    this.failures = 0;
    if (this.isSynced || this.stopped) return;
    this.isSynced = true;
    this.logger.debug('informer synced', { resource: this.source.resource, objects: this.listWatch.list().length });
    for (const w of this.syncWaiters.splice(0)) w.resolve();
  }

  private emit(type: InformerEventType, obj: T): void {
    this.failures = 0;
    for (const h of this.handlers) {
      try {
        h(type, obj);
      } catch (err) {
        this.logger.error('informer handler threw', { resource: this.source.resource, error: errorMessage(err) });
      }
    }
  }

  /** (Re)starts ListWatch; a failure to start at all counts as an error. */
  private runListWatch(): void {
    this.listWatch.start().catch((err: unknown) => this.onError(err));
  }

  /**
   * ListWatch stays stopped after an error other than 410 or the client-side watch timeout;
   * restart it after a backoff. It keeps its resourceVersion, so the new watch resumes where the
   * old one stopped (or relists, if that version has expired meanwhile: 410).
   */
  private onError(err: unknown): void {
    if (this.stopped || this.restarting) return;
    this.restarting = true;
    this.failures++;
    const delayMs = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(this.failures - 1, 30));
    this.logger.warn('watch failed, restarting', {
      resource: this.source.resource,
      status: statusOf(err),
      error: errorMessage(err),
      resourceVersion: this.listWatch.latestResourceVersion(),
      retryInMs: delayMs,
      failures: this.failures,
    });
    sleep(delayMs, undefined, { signal: this.stopping.signal }).then(
      () => {
        this.restarting = false;
        if (!this.stopped) this.runListWatch();
      },
      () => {
        this.restarting = false;
      },
    );
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
