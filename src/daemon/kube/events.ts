/**
 * Kubernetes Events for what a person should see (`kubectl describe`, `kubectl get events`),
 * written as events.k8s.io/v1 Events by `shipstream.io/bloodraven`.
 *
 * The same event (same object, type, reason, action and note) repeated within `seriesWindowMs`
 * is not written again: the first Event's `series` is updated instead (count, lastObservedTime),
 * as client-go's events library does, so a retrying reconcile does not pile up Events.
 * Recording never throws: an Event is information, a failed write is logged and dropped.
 */
import type { EventsV1Api, V1ObjectReference } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';

/** `reportingController` of every Event the daemon writes. */
export const reportingController = 'shipstream.io/bloodraven';

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  /** The object the event is about; its namespace is where the Event is written. */
  regarding: V1ObjectReference;
  /** Optional second object (e.g. the Job for a MysqlBackup event). */
  related?: V1ObjectReference;
  type: EventType;
  /** UpperCamelCase, short, machine-readable: `BackupStarted`, `ArtifactCleanupFailed`. */
  reason: string;
  /** What the controller did or failed to do, UpperCamelCase: `CreateJob`, `Backup`, `Cleanup`. */
  action: string;
  /** Human-readable, ≤ 1 kB (longer is cut). */
  note: string;
}

export interface EventRecorderOptions {
  api: EventsV1Api;
  /** This replica's pod name. */
  reportingInstance: string;
  logger: Logger;
  now?: () => Date;
  /** How long a repeat joins the previous Event's series. Default 6 minutes (client-go's). */
  seriesWindowMs?: number;
}

export class EventRecorder {
  constructor(options: EventRecorderOptions) {
    void options;
  }

  /** Writes the event (or bumps its series). Resolves when written or given up; never rejects. */
  record(event: EventInput): Promise<void> {
    void event;
    return Promise.reject(new Error('not yet'));
  }
}

/** An ObjectReference to an object (apiVersion, kind, namespace, name, uid, resourceVersion). */
export function referenceTo(obj: {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata?: { namespace?: string | undefined; name?: string | undefined; uid?: string | undefined; resourceVersion?: string | undefined } | undefined;
}): V1ObjectReference {
  const ref: V1ObjectReference = {};
  if (obj.apiVersion) ref.apiVersion = obj.apiVersion;
  if (obj.kind) ref.kind = obj.kind;
  if (obj.metadata?.namespace) ref.namespace = obj.metadata.namespace;
  if (obj.metadata?.name) ref.name = obj.metadata.name;
  if (obj.metadata?.uid) ref.uid = obj.metadata.uid;
  if (obj.metadata?.resourceVersion) ref.resourceVersion = obj.metadata.resourceVersion;
  return ref;
}
