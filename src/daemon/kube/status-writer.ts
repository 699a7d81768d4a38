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
import type { CustomObjectsApi, KubernetesObject } from '@kubernetes/client-node';
import { AppError } from '../../lib/errors.js';

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
 * Sets the status of `ref` to `compute(latest)`: skipped when compute returns undefined or a
 * status deep-equal to the current one; else PUT to `/status` with the latest resourceVersion,
 * retried from a fresh GET on 409 Conflict.
 *
 * @throws KubeConflictError `KUBE_CONFLICT` (retryable) when every attempt met a conflict;
 *   KubeApiError for any other API failure (status code kept).
 */
export async function updateStatus<T extends CustomObject>(
  api: CustomObjectsApi,
  ref: CustomObjectRef,
  compute: (latest: T) => T['status'] | undefined,
  options: WriteOptions = {},
): Promise<WriteOutcome<T>> {
  void api;
  void ref;
  void compute;
  void options;
  await Promise.resolve();
  throw new AppError('INTERNAL', 'not yet');
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
  compute: (latest: T) => MetadataChange | undefined,
  options: WriteOptions = {},
): Promise<WriteOutcome<T>> {
  void api;
  void ref;
  void compute;
  void options;
  await Promise.resolve();
  throw new AppError('INTERNAL', 'not yet');
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
