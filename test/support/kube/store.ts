/**
 * The test API server's storage: every object of every resource, one global resourceVersion
 * counter (as etcd's revision), and a bounded history of watch events for replay.
 */

export type JsonObject = Record<string, unknown>;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as watches see it. `previous` is the state before a MODIFIED (for selectors). */
export interface StoredEvent {
  resourceVersion: number;
  type: WatchEventType;
  /** `<group>/<plural>` of the resource. */
  resourceKey: string;
  object: JsonObject;
  previous?: JsonObject;
}

export interface ObjectMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  managedFields?: unknown[];
}

export function metadataOf(object: JsonObject): ObjectMetadata {
  const metadata = object.metadata;
  return metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) ? (metadata) : {};
}

export function resourceKeyOf(group: string, plural: string): string {
  return `${group}/${plural}`;
}

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** In-memory objects plus the event history watches replay from. */
export class ObjectStore {
  private revision = 0;
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private history: StoredEvent[] = [];
  /** Events after this revision are all in `history`; a watch from before it gets 410. */
  private historyStart = 0;
  private readonly listeners = new Set<(event: StoredEvent) => void>();

  constructor(private readonly historyLimit = 10_000) {}

  /** The current global resourceVersion. */
  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch can start from without 410 Expired. */
  get oldestWatchable(): number {
    return this.historyStart;
  }

  nextResourceVersion(): number {
    return ++this.revision;
  }

  get(resourceKey: string, namespace: string | undefined, name: string): JsonObject | undefined {
    return this.objects.get(resourceKey)?.get(objectKey(namespace, name));
  }

  /** Objects of a resource, in one namespace or all, in creation order. */
  list(resourceKey: string, namespace?: string): JsonObject[] {
    const all = [...(this.objects.get(resourceKey)?.values() ?? [])];
    return namespace === undefined ? all : all.filter((o) => metadataOf(o).namespace === namespace);
  }

  /** Every stored object with its resource key. */
  *all(): Generator<{ resourceKey: string; object: JsonObject }> {
    for (const [resourceKey, byName] of this.objects) {
      for (const object of byName.values()) yield { resourceKey, object };
    }
  }

  /** Stores an object (its metadata.resourceVersion already set to `resourceVersion`) and records the event. */
  put(resourceKey: string, object: JsonObject, type: 'ADDED' | 'MODIFIED', previous?: JsonObject): void {
    const metadata = metadataOf(object);
    let byName = this.objects.get(resourceKey);
    if (!byName) {
      byName = new Map();
      this.objects.set(resourceKey, byName);
    }
    byName.set(objectKey(metadata.namespace, metadata.name ?? ''), object);
    this.record({ resourceVersion: Number(metadata.resourceVersion), type, resourceKey, object, ...(previous ? { previous } : {}) });
  }

  /** Removes an object; `last` is its final state carrying the deletion's resourceVersion. */
  remove(resourceKey: string, last: JsonObject): void {
    const metadata = metadataOf(last);
    this.objects.get(resourceKey)?.delete(objectKey(metadata.namespace, metadata.name ?? ''));
    this.record({ resourceVersion: Number(metadata.resourceVersion), type: 'DELETED', resourceKey, object: last });
  }

  private record(event: StoredEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.historyStart = dropped.at(-1)?.resourceVersion ?? this.historyStart;
    }
    for (const listener of this.listeners) listener(event);
  }

  /** Events after `resourceVersion`, or undefined when they are no longer held (→ 410). */
  eventsSince(resourceVersion: number): StoredEvent[] | undefined {
    if (resourceVersion < this.historyStart) return undefined;
    return this.history.filter((e) => e.resourceVersion > resourceVersion);
  }

  /** Forgets all history: a watch from any past resourceVersion now gets 410 Expired. */
  compact(): void {
    this.history = [];
    this.historyStart = this.revision;
  }

  subscribe(listener: (event: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
