/**
 * The JSON shapes of the objects the test controllers read from informers (watch events carry
 * plain JSON, so these are not client-node's typed models), and small helpers shared by them:
 * merge-patch headers, ApiException status codes, Events.
 */
import { ApiException, PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import type { JobSpecFields, JobStatus } from './job-status.js';
import type { PodJson } from './pod-config.js';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface JobJson {
  metadata: ObjectMeta;
  spec: JobSpecFields & {
    managedBy?: string;
    template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodJson['spec'] };
  };
  status?: JobStatus;
}

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
}

export interface CronJobJson {
  metadata: ObjectMeta;
  spec: {
    schedule: string;
    timeZone?: string;
    startingDeadlineSeconds?: number;
    concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: JobJson['spec'] };
  };
  status?: { active?: ObjectReference[]; lastScheduleTime?: string; lastSuccessfulTime?: string };
}

/** The second argument of a generated patch call that makes it a JSON merge patch (RFC 7386). */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed client-node call, if it came from the server. */
export function apiStatus(error: unknown): number | undefined {
  return error instanceof ApiException ? (error as ApiException<unknown>).code : undefined;
}

/** A merge patch turning `from` into `to` at the top level (removed keys become null). */
export function topLevelMergePatch(from: object | undefined, to: object): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...to };
  for (const key of Object.keys(from ?? {})) if (!(key in to)) patch[key] = null;
  return patch;
}

/**
 * Records a core/v1 Event on `involved`, as the controllers' event recorders do. Best effort:
 * a failure to record never fails the sync.
 */
export async function recordEvent(
  core: CoreV1Api,
  involved: { apiVersion: string; kind: string; metadata: ObjectMeta },
  event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  component: string,
): Promise<void> {
  const now = new Date();
  try {
    await core.createNamespacedEvent({
      namespace: involved.metadata.namespace,
      body: {
        metadata: { generateName: `${involved.metadata.name}.`, namespace: involved.metadata.namespace },
        involvedObject: {
          apiVersion: involved.apiVersion,
          kind: involved.kind,
          name: involved.metadata.name,
          namespace: involved.metadata.namespace,
          uid: involved.metadata.uid,
          resourceVersion: involved.metadata.resourceVersion,
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component },
        reportingComponent: component,
        reportingInstance: `${component}-bloodraven-test`,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  } catch {
    // Events are for people; losing one changes nothing the controller does.
  }
}
