/**
 * Writing a custom resource's status and metadata the way controllers must: from the latest
 * object, only when something changes, and again after a conflict.
 *
 * - `updateStatus` GETs the object, asks `compute` for the next status, writes nothing when it is
 *   deep-equal to the current one (a no-op write would still wake every watcher on a real server
 *   that does not skip it), else PUTs `/status` with the fetched resourceVersion. A 409 Conflict
 *   (someone wrote in between) runs the cycle again with a fresh GET, a bounded number of times.
 * - `updateMetadata` does the same for labels, annotations and finalizers, with a JSON merge
 *   patch that carries the resourceVersion (so it is conditional too; merge patch replaces arrays
 *   whole, which is only safe because of that precondition).
 */
import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { abortError } from '../../lib/errors.js';
import { isStatus, KubeApiError, toKubeApiError } from './errors.js';

/** Identifies one namespaced custom resource. */
export interface CustomObjectRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}

/** A custom resource as CustomObjectsApi returns it (plain JSON). */
export interface CustomObject<Spec = unknown, Status = unknown> extends KubernetesObject {
  spec?: Spec;
  status?: Status;
}

export interface WriteOptions {
  /** Attempts in all (first + retries after 409). Default 5. */
  maxAttempts?: number;
  signal?: AbortSignal;
}

export type WriteOutcome<T> =
  /** The object was written; `object` is the server's answer. */
  | { written: true; object: T }
  /** Nothing to write (compute returned undefined, or the same); `object` is the latest read. */
  | { written: false; object: T }
  /** The object no longer exists (404 on GET or write). */
  | { written: false; object: undefined };

/**
 * Sets the status of `ref` to `compute(latest)` (which may be async): skipped when compute returns undefined or a
 * status deep-equal to the current one; else PUT to `/status` with the latest resourceVersion,
 * retried from a fresh GET on 409 Conflict.
 *
 * @throws KubeConflictError `KUBE_CONFLICT` (retryable) when every attempt met a conflict;
 *   KubeApiError for any other API failure (status code kept).
 */
export async function updateStatus<T extends CustomObject>(
  api: CustomObjectsApi,
  ref: CustomObjectRef,
  compute: (latest: T) => T['status'] | undefined | Promise<T['status'] | undefined>,
  options: WriteOptions = {},
): Promise<WriteOutcome<T>> {
  return writeCycle<T>(api, ref, options, 'status', async (latest) => {
    const next = await compute(latest);
    if (next === undefined || isDeepStrictEqual(stripUndefined(next), latest.status)) return undefined;
    return () =>
      api.replaceNamespacedCustomObjectStatus({ ...params(ref), body: { ...latest, status: next } }) as Promise<T>;
  });
}

/** The metadata fields `updateMetadata` may change; undefined leaves a field as it is. */
export interface MetadataChange {
  finalizers?: string[];
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}

/**
 * Changes `ref`'s metadata to `compute(latest)` with a merge patch carrying the latest
 * resourceVersion; skipped when compute returns undefined or nothing differs; retried from a fresh
 * GET on 409. A label or annotation set to null is removed.
 *
 * @throws as updateStatus.
 */
export async function updateMetadata<T extends CustomObject>(
  api: CustomObjectsApi,
  ref: CustomObjectRef,
  compute: (latest: T) => MetadataChange | undefined | Promise<MetadataChange | undefined>,
  options: WriteOptions = {},
): Promise<WriteOutcome<T>> {
  return writeCycle<T>(api, ref, options, 'metadata', async (latest) => {
    const change = await compute(latest);
    const patch = change && metadataPatch(latest, change);
    if (!patch) return undefined;
    return () =>
      api.patchNamespacedCustomObject(
        { ...params(ref), body: { metadata: { resourceVersion: latest.metadata?.resourceVersion, ...patch } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ) as Promise<T>;
  });
}

function params(ref: CustomObjectRef): CustomObjectRef {
  return { group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, name: ref.name };
}

function describe(ref: CustomObjectRef, what: string): string {
  return `${ref.plural}.${ref.group} ${ref.namespace}/${ref.name} (${what})`;
}

/**
 * GET, decide, write; again from a fresh GET after a 409 Conflict, up to maxAttempts times.
 * `decide` returns the write to make, or undefined when there is nothing to write.
 */
async function writeCycle<T extends CustomObject>(
  api: CustomObjectsApi,
  ref: CustomObjectRef,
  options: WriteOptions,
  what: string,
  decide: (latest: T) => Promise<(() => Promise<T>) | undefined>,
): Promise<WriteOutcome<T>> {
  const maxAttempts = options.maxAttempts ?? 5;
  let lastConflict: unknown;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (options.signal?.aborted) throw abortError(options.signal);
    let latest: T;
    try {
      latest = (await api.getNamespacedCustomObject(params(ref))) as T;
    } catch (err) {
      if (isStatus(err, 404)) return { written: false, object: undefined };
      throw toKubeApiError(err, `GET ${describe(ref, what)}`);
    }
    const write = await decide(latest);
    if (!write) return { written: false, object: latest };
    try {
      return { written: true, object: await write() };
    } catch (err) {
      if (isStatus(err, 404)) return { written: false, object: undefined };
      if (!isStatus(err, 409)) throw toKubeApiError(err, `write ${describe(ref, what)}`);
      lastConflict = err;
    }
  }
  const last = toKubeApiError(lastConflict, `write ${describe(ref, what)}`);
  throw new KubeApiError(409, 'Conflict', `${last.message} (gave up after ${maxAttempts} attempts, each meeting a newer version)`, { cause: lastConflict });
}

/**
 * Drops undefined members (JSON has none), so a computed status compares equal to the stored
 * one it would serialize to.
 */
function stripUndefined(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** The merge patch's metadata members for `change`, or undefined when nothing would change. */
function metadataPatch(latest: CustomObject, change: MetadataChange): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  const meta = latest.metadata ?? {};
  if (change.finalizers !== undefined && !isDeepStrictEqual(change.finalizers, meta.finalizers ?? [])) {
    patch.finalizers = change.finalizers;
  }
  for (const field of ['labels', 'annotations'] as const) {
    const wanted = change[field];
    if (!wanted) continue;
    const current = meta[field] ?? {};
    const diff = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => (v === null ? k in current : current[k] !== v)));
    if (Object.keys(diff).length > 0) patch[field] = diff;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** Adds `finalizer` unless present (and unless the object is being deleted: the server refuses it then). */
export function addFinalizer<T extends CustomObject>(api: CustomObjectsApi, ref: CustomObjectRef, finalizer: string, options: WriteOptions = {}): Promise<WriteOutcome<T>> {
  return updateMetadata<T>(
    api,
    ref,
    (latest) => {
      const current = latest.metadata?.finalizers ?? [];
      if (current.includes(finalizer) || latest.metadata?.deletionTimestamp) return undefined;
      return { finalizers: [...current, finalizer] };
    },
    options,
  );
}

/** Removes `finalizer` if present (the server then deletes an object being deleted with no finalizer left). */
export function removeFinalizer<T extends CustomObject>(api: CustomObjectsApi, ref: CustomObjectRef, finalizer: string, options: WriteOptions = {}): Promise<WriteOutcome<T>> {
  return updateMetadata<T>(
    api,
    ref,
    (latest) => {
      const current = latest.metadata?.finalizers ?? [];
      if (!current.includes(finalizer)) return undefined;
      return { finalizers: current.filter((f) => f !== finalizer) };
    },
    options,
  );
}
