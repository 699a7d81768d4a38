/**
 * What the reconcilers need from the cluster, as one interface: reads come from the informers'
 * caches (cheap, eventually consistent), writes go to the API server. The reconcilers see only
 * this, so each decision is written once against plain objects; `createKubeOps` (kube-ops-client.ts)
 * builds it from client-node and the informers.
 */
import type { V1CronJob, V1Deployment, V1Job, V1PersistentVolumeClaim, V1Pod, V1Role, V1RoleBinding, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { MysqlBackup, MysqlBackupStatus, MysqlBackupVerification, MysqlBackupVerificationStatus, MysqlFailoverGroup, MysqlFailoverGroupStatus } from '../../lib/kube/resources.js';

/** name and namespace, which every object read back from the API server has. */
export interface Named {
  name: string;
  namespace: string;
}
export type StoredBackup = MysqlBackup & { metadata: MysqlBackup['metadata'] & Named };
export type StoredGroup = MysqlFailoverGroup & { metadata: MysqlFailoverGroup['metadata'] & Named };
/** A MysqlBackupVerification read back from the API server (verification in the cluster, issue 11). */
export type StoredVerification = MysqlBackupVerification & { metadata: MysqlBackupVerification['metadata'] & Named };

export interface ObjectRef {
  namespace: string;
  name: string;
}

export type EventType = 'Normal' | 'Warning';

export interface KubeOps {
  // Reads (informer caches).
  getGroup(ref: ObjectRef): StoredGroup | undefined;
  getBackup(ref: ObjectRef): StoredBackup | undefined;
  /** Every MysqlBackup in the namespace. */
  listBackups(namespace: string): StoredBackup[];
  getJob(ref: ObjectRef): V1Job | undefined;
  /** The Job's pods (by its job-name label), newest first. */
  podsOfJob(ref: ObjectRef): V1Pod[];
  /** CronJobs the daemon made for the group (by label). */
  cronJobsOfGroup(ref: ObjectRef): V1CronJob[];

  // Reads straight from the API server (not cached: Secrets are read only when needed).
  /** A Secret's data decoded to text; null when it does not exist. */
  readSecret(ref: ObjectRef): Promise<Record<string, string> | null>;
  /** Whether the Job exists, asked of the API server (the cache may not have seen a new one yet). */
  jobExists(ref: ObjectRef): Promise<boolean>;
  /** Whether the object exists (PVCs, namespaces). */
  pvcExists(ref: ObjectRef): Promise<boolean>;
  /** The namespace is being deleted (its deletionTimestamp is set), or is gone. */
  namespaceTerminating(namespace: string): Promise<boolean>;

  // Writes.
  /** Creates the object; an existing one with the same name is left as it is (returns false). */
  createJob(job: V1Job): Promise<boolean>;
  /** Deletes with Background propagation (its pods go too); a missing one is fine. */
  deleteJob(ref: ObjectRef): Promise<void>;
  createSecret(secret: V1Secret): Promise<boolean>;
  deleteSecret(ref: ObjectRef): Promise<void>;
  createPvc(pvc: V1PersistentVolumeClaim): Promise<boolean>;
  /** Creates, or replaces the spec when it differs; returns what was done. */
  applyCronJob(cronJob: V1CronJob): Promise<'created' | 'updated' | 'unchanged'>;
  deleteCronJob(ref: ObjectRef): Promise<void>;
  /** Creates or updates (to the given rules/subjects) the backup requester's account and grant. */
  applyRequesterAccess(objects: { serviceAccount: V1ServiceAccount; role: V1Role; roleBinding: V1RoleBinding }): Promise<void>;
  createBackup(backup: MysqlBackup): Promise<boolean>;
  deleteBackup(ref: ObjectRef): Promise<void>;
  /** Adds or removes a finalizer (a patch with the resourceVersion; conflicts retried). */
  setBackupFinalizer(ref: ObjectRef, finalizer: string, present: boolean): Promise<void>;
  /**
   * Writes the status `compute` returns from the latest object (no write when it returns
   * undefined or the same status; conflicts retried). Returns the status written, or undefined.
   */
  updateBackupStatus(ref: ObjectRef, compute: (latest: StoredBackup) => MysqlBackupStatus | undefined): Promise<MysqlBackupStatus | undefined>;
  updateGroupStatus(ref: ObjectRef, compute: (latest: StoredGroup) => MysqlFailoverGroupStatus | undefined): Promise<MysqlFailoverGroupStatus | undefined>;
  // --- initFromBackup (the init-restore reconciler) ---
  /** A Deployment, read from the API server (polled by the rollout gate: no informer); null when there is none. */
  readDeployment(ref: ObjectRef): Promise<V1Deployment | null>;
  // --- end initFromBackup ---
  // --- In-place restore (spec.restoreInPlace; in-place-restore-reconciler.ts) ---
  /** Pods of the namespace matching a label selector (`a=b,c=d`), listed from the API server (not a cache). */
  listPodsBySelector(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  /**
   * Merge-patches a pod's labels: a string sets the label, null removes it. Returns false when
   * the pod is gone (NotFound), true once patched.
   */
  patchPodLabels(ref: ObjectRef, labels: Record<string, string | null>): Promise<boolean>;
  /** Merge-patches the group's metadata.annotations (null removes one); the rest of the group is left alone. */
  patchGroupAnnotations(ref: ObjectRef, annotations: Record<string, string | null>): Promise<void>;
  // --- end in-place restore ---

  /** An Event about the object (aggregated when repeated). */
  event(regarding: { kind: 'MysqlBackup' | 'MysqlFailoverGroup' | 'MysqlBackupVerification'; namespace: string; name: string; uid?: string | undefined }, type: EventType, reason: string, note: string): Promise<void>;

  // --- verification in the cluster (issue 11, MysqlBackupVerification) ---
  /** A MysqlBackupVerification from the informer's cache. */
  getVerification(ref: ObjectRef): StoredVerification | undefined;
  /** As updateBackupStatus, for a MysqlBackupVerification. */
  updateVerificationStatus(ref: ObjectRef, compute: (latest: StoredVerification) => MysqlBackupVerificationStatus | undefined): Promise<MysqlBackupVerificationStatus | undefined>;
  // --- end of verification in the cluster ---
}
