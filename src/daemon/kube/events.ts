/**
 * Kubernetes Events for what a person should see (`kubectl describe`, `kubectl get events`),
 * written as events.k8s.io/v1 Events by `shipstream.io/bloodraven`.
 *
 * The same event (same object, type, reason, action and note) repeated within `seriesWindowMs`
 * is not written again: the first Event's `series` is updated instead (count, lastObservedTime),
 * as client-go's events library does, so a retrying reconcile does not pile up Events.
 * Recording never throws: an Event is information, a failed write is logged and dropped.
 */
import { PatchStrategy, setHeaderOptions, V1MicroTime, type EventsV1Api, type EventsV1Event, type V1ObjectReference } from '@kubernetes/client-node';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { isStatus } from './errors.js';

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
  /** Human-readable, ≤ 1 kB in UTF-8 (longer is cut). */
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

/** The longest note the API server accepts, in bytes (1 kB). */
const maxNoteLength = 1024;

/** An Event already written, and how often it has been seen. */
interface Written {
  namespace: string;
  name: string;
  count: number;
  lastObserved: number;
}

export class EventRecorder {
  private readonly api: EventsV1Api;
  private readonly instance: string;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly windowMs: number;
  /** Recent Events by identity, for series; entries older than the window are dropped. */
  private readonly recent = new Map<string, Written>();
  /** Writes of one identity run one after another, so a series is never created twice. */
  private readonly chains = new Map<string, Promise<void>>();
  private seq = 0;

  constructor(options: EventRecorderOptions) {
    this.api = options.api;
    this.instance = options.reportingInstance;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.windowMs = options.seriesWindowMs ?? 6 * 60_000;
  }

  /** Writes the event (or bumps its series). Resolves when written or given up; never rejects. */
  record(event: EventInput): Promise<void> {
    const id = identity(event);
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(() => this.write(id, event));
    this.chains.set(id, next);
    void next.then(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
    return next;
  }

  private async write(id: string, event: EventInput): Promise<void> {
    const now = this.now();
    this.expire(now.getTime());
    const seen = this.recent.get(id);
    try {
      if (seen && (await this.bumpSeries(seen, now))) return;
      const created = await this.create(event, now);
      this.recent.set(id, { namespace: created.namespace, name: created.name, count: 1, lastObserved: now.getTime() });
    } catch (err) {
      this.logger.warn('could not record an event', { reason: event.reason, regarding: `${event.regarding.namespace ?? ''}/${event.regarding.name ?? ''}`, error: errorMessage(err) });
    }
  }

  /** Counts one more occurrence on an existing Event; false when that Event is gone (then a new one is written). */
  private async bumpSeries(seen: Written, now: Date): Promise<boolean> {
    const count = seen.count + 1;
    try {
      await this.api.patchNamespacedEvent(
        { namespace: seen.namespace, name: seen.name, body: { series: { count, lastObservedTime: new V1MicroTime(now.getTime()) } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (isStatus(err, 404)) return false;
      throw err;
    }
    seen.count = count;
    seen.lastObserved = now.getTime();
    return true;
  }

  private async create(event: EventInput, now: Date): Promise<{ namespace: string; name: string }> {
    const namespace = event.regarding.namespace || 'default';
    // client-go's naming: the object's name and a unique hexadecimal suffix.
    const name = `${event.regarding.name ?? 'unknown'}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    const body: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: new V1MicroTime(now.getTime()),
      reportingController,
      reportingInstance: this.instance,
      action: event.action,
      reason: event.reason,
      type: event.type,
      note: truncateNote(event.note),
      regarding: event.regarding,
    };
    if (event.related) body.related = event.related;
    await this.api.createNamespacedEvent({ namespace, body });
    return { namespace, name };
  }

  private expire(nowMs: number): void {
    for (const [id, w] of this.recent) if (nowMs - w.lastObserved > this.windowMs) this.recent.delete(id);
  }
}

/** The note cut to the API server's limit, which counts UTF-8 bytes; a cut note ends with '…'. */
function truncateNote(note: string): string {
  if (Buffer.byteLength(note) <= maxNoteLength) return note;
  let cut = note.slice(0, maxNoteLength);
  while (Buffer.byteLength(`${cut}…`) > maxNoteLength) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** What makes two events the same one: the object, and everything a person reads. */
function identity(e: EventInput): string {
  const r = e.regarding;
  const rel = e.related;
  return JSON.stringify([r.apiVersion, r.kind, r.namespace, r.name, r.uid, rel?.kind, rel?.namespace, rel?.name, e.type, e.reason, e.action, e.note]);
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
