/**
 * KubeOps over client-node: reads from the informers' caches, writes through the API with the
 * conventions controllers follow (create tolerates AlreadyExists, delete tolerates NotFound and
 * says its propagation policy, status and finalizers change from the latest object with conflicts
 * retried, events aggregated).
 */
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1CronJob,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/log.js';
import { labelKeys } from '../../lib/kube/objects.js';
import { apiGroup, apiVersionName } from '../../lib/kube/resources.js';
import type { StoredBackup, StoredGroup, StoredVerification } from './kube-ops.js';
import { isStatus, toKubeApiError } from './errors.js';
import { referenceTo, type EventRecorder } from './events.js';
import type { Informer } from './informer.js';
import type { KubeOps, ObjectRef } from './kube-ops.js';
import { addFinalizer, removeFinalizer, updateStatus, type CustomObjectRef } from './status-writer.js';

export interface KubeOpsInformers {
  groups: Informer<StoredGroup>;
  backups: Informer<StoredBackup>;
  jobs: Informer<V1Job>;
  pods: Informer<V1Pod>;
  cronJobs: Informer<V1CronJob>;
  /** Verification in the cluster (issue 11). */
  verifications: Informer<StoredVerification>;
}

/** Annotation holding a hash of the spec bloodraven last wrote, so server-side defaults never read as drift. */
export const specHashAnnotation = 'shipstream.io/spec-hash';

const jobNameLabels = ['batch.kubernetes.io/job-name', 'job-name'];

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** The action of an Event, from its reason (events.k8s.io requires one). */
function actionOf(reason: string): string {
  if (reason.startsWith('ArtifactCleanup')) return 'Cleanup';
  // Verification in the cluster (issue 11): VerificationStarted, VerificationPassed, VerificationFailed.
  if (reason.startsWith('Verification')) return 'Verify';
  if (reason.startsWith('Backup') || reason === 'InFlightFailover') return 'Backup';
  if (reason.startsWith('Schedule') || reason === 'PvcProvisioned') return 'Reconcile';
  // The restores: initFromBackup (Restore*, InitFromBackup*, RolloutGate*) and restoreInPlace (RestoreInPlace*).
  if (reason.startsWith('Restore') || reason.startsWith('InitFromBackup') || reason.startsWith('RolloutGate')) return 'Restore';
  return 'Validate';
}

export function createKubeOps(kubeConfig: KubeConfig, informers: KubeOpsInformers, events: EventRecorder, logger: Logger): KubeOps {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  /** The rules of each requester Role this process wrote or found current (namespace/name → hash). */
  const appliedRoles = new Map<string, string>();
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const crRef = (plural: string, ref: ObjectRef): CustomObjectRef => ({ group: apiGroup, version: apiVersionName, plural, namespace: ref.namespace, name: ref.name });

  /** Runs a create; AlreadyExists is "already there" (false). */
  async function create(doing: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false;
      throw toKubeApiError(err, doing);
    }
  }
  /** Runs a read; NotFound is undefined, any other failure a KubeApiError saying what was asked. */
  async function readOrMissing<T>(doing: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw toKubeApiError(err, doing);
    }
  }
  /** Runs a delete; NotFound is done. */
  async function remove(doing: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw toKubeApiError(err, doing);
    }
  }
  const withHash = <T extends { metadata?: { annotations?: Record<string, string> } }>(obj: T, spec: unknown): T => ({
    ...obj,
    metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [specHashAnnotation]: hashOf(spec) } },
  });

  return {
    getGroup: (ref) => informers.groups.get(ref.namespace, ref.name),
    getBackup: (ref) => informers.backups.get(ref.namespace, ref.name),
    listBackups: (namespace) => [...informers.backups.list(namespace)],
    getJob: (ref) => informers.jobs.get(ref.namespace, ref.name),
    podsOfJob: (ref) =>
      informers.pods
        .list(ref.namespace)
        .filter((p) => jobNameLabels.some((l) => p.metadata?.labels?.[l] === ref.name))
        .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? ''))),
    cronJobsOfGroup: (ref) =>
      informers.cronJobs.list(ref.namespace).filter((c) => c.metadata?.labels?.[labelKeys.group] === ref.name && c.metadata.labels[labelKeys.managedBy] === 'bloodraven'),

    async readSecret(ref) {
      const secret = await readOrMissing(`GET secrets ${ref.namespace}/${ref.name}`, () => core.readNamespacedSecret({ name: ref.name, namespace: ref.namespace }));
      return secret === undefined ? null : Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    },
    async jobExists(ref) {
      return (await readOrMissing(`GET jobs ${ref.namespace}/${ref.name}`, () => batch.readNamespacedJob({ name: ref.name, namespace: ref.namespace }))) !== undefined;
    },
    async pvcExists(ref) {
      const doing = `GET persistentvolumeclaims ${ref.namespace}/${ref.name}`;
      return (await readOrMissing(doing, () => core.readNamespacedPersistentVolumeClaim({ name: ref.name, namespace: ref.namespace }))) !== undefined;
    },
    async namespaceTerminating(namespace) {
      const ns = await readOrMissing(`GET namespaces ${namespace}`, () => core.readNamespace({ name: namespace }));
      // Gone counts as terminating: nothing will run there any more.
      return ns === undefined || Boolean(ns.metadata?.deletionTimestamp) || ns.status?.phase === 'Terminating';
    },

    createJob: (job) => create(`POST jobs ${job.metadata?.namespace}/${job.metadata?.name}`, () => batch.createNamespacedJob({ namespace: job.metadata?.namespace ?? '', body: job })),
    deleteJob: (ref) => remove(`DELETE jobs ${ref.namespace}/${ref.name}`, () => batch.deleteNamespacedJob({ name: ref.name, namespace: ref.namespace, propagationPolicy: 'Background' })),
    createSecret: (secret) => create(`POST secrets ${secret.metadata?.namespace}/${secret.metadata?.name}`, () => core.createNamespacedSecret({ namespace: secret.metadata?.namespace ?? '', body: secret })),
    deleteSecret: (ref) => remove(`DELETE secrets ${ref.namespace}/${ref.name}`, () => core.deleteNamespacedSecret({ name: ref.name, namespace: ref.namespace })),
    createPvc: (pvc) =>
      create(`POST persistentvolumeclaims ${pvc.metadata?.namespace}/${pvc.metadata?.name}`, () => core.createNamespacedPersistentVolumeClaim({ namespace: pvc.metadata?.namespace ?? '', body: pvc })),

    async applyCronJob(cronJob) {
      const namespace = cronJob.metadata?.namespace ?? '';
      const name = cronJob.metadata?.name ?? '';
      const desired = withHash(cronJob, cronJob.spec);
      const existing = informers.cronJobs.get(namespace, name);
      if (!existing) {
        const made = await create(`POST cronjobs ${namespace}/${name}`, () => batch.createNamespacedCronJob({ namespace, body: desired }));
        if (made) return 'created';
      }
      // Read the latest (the cache may lag) and replace only when our spec changed.
      let latest: V1CronJob;
      try {
        latest = await batch.readNamespacedCronJob({ name, namespace });
      } catch (err) {
        throw toKubeApiError(err, `GET cronjobs ${namespace}/${name}`);
      }
      if (latest.metadata?.annotations?.[specHashAnnotation] === desired.metadata?.annotations?.[specHashAnnotation]) return 'unchanged';
      const body: V1CronJob = { ...desired, metadata: { ...desired.metadata, resourceVersion: latest.metadata?.resourceVersion } };
      try {
        await batch.replaceNamespacedCronJob({ name, namespace, body });
      } catch (err) {
        throw toKubeApiError(err, `PUT cronjobs ${namespace}/${name}`);
      }
      return 'updated';
    },
    deleteCronJob: (ref) =>
      remove(`DELETE cronjobs ${ref.namespace}/${ref.name}`, () => batch.deleteNamespacedCronJob({ name: ref.name, namespace: ref.namespace, propagationPolicy: 'Background' })),

    async applyRequesterAccess({ serviceAccount, role, roleBinding }) {
      const namespace = serviceAccount.metadata?.namespace ?? '';
      await create(`POST serviceaccounts ${namespace}/${serviceAccount.metadata?.name}`, () => core.createNamespacedServiceAccount({ namespace, body: serviceAccount }));
      const roleMade = await create(`POST roles ${namespace}/${role.metadata?.name}`, () => rbac.createNamespacedRole({ namespace, body: role }));
      // Verification in the cluster (issue 11): the Role's rules follow the spec (a verification
      // schedule adds create on mysqlbackupverifications), so an existing Role is replaced once per
      // process and whenever its rules change; the replacement is unconditional (a Role's PUT needs
      // no resourceVersion), and one with the same rules changes nothing on the server.
      const roleKey = `${namespace}/${role.metadata?.name}`;
      const roleHash = hashOf(role.rules);
      if (!roleMade && appliedRoles.get(roleKey) !== roleHash) {
        try {
          await rbac.replaceNamespacedRole({ name: role.metadata?.name ?? '', namespace, body: role });
        } catch (err) {
          throw toKubeApiError(err, `PUT roles ${roleKey}`);
        }
      }
      appliedRoles.set(roleKey, roleHash);
      await create(`POST rolebindings ${namespace}/${roleBinding.metadata?.name}`, () => rbac.createNamespacedRoleBinding({ namespace, body: roleBinding }));
    },

    createBackup: (backup) =>
      create(`POST mysqlbackups ${backup.metadata.namespace}/${backup.metadata.name}`, () =>
        custom.createNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: backup.metadata.namespace ?? '', plural: 'mysqlbackups', body: backup }),
      ),
    deleteBackup: (ref) =>
      remove(`DELETE mysqlbackups ${ref.namespace}/${ref.name}`, () =>
        custom.deleteNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: ref.namespace, plural: 'mysqlbackups', name: ref.name, propagationPolicy: 'Background' }),
      ),
    async setBackupFinalizer(ref, finalizer, present) {
      const r = crRef('mysqlbackups', ref);
      await (present ? addFinalizer(custom, r, finalizer) : removeFinalizer(custom, r, finalizer));
    },
    async updateBackupStatus(ref, compute) {
      const outcome = await updateStatus<StoredBackup>(custom, crRef('mysqlbackups', ref), compute);
      return outcome.written ? outcome.object.status : undefined;
    },
    async updateGroupStatus(ref, compute) {
      const outcome = await updateStatus<StoredGroup>(custom, crRef('mysqlfailovergroups', ref), compute);
      return outcome.written ? outcome.object.status : undefined;
    },
    // --- verification in the cluster (issue 11, MysqlBackupVerification) ---
    getVerification: (ref) => informers.verifications.get(ref.namespace, ref.name),
    async updateVerificationStatus(ref, compute) {
      const outcome = await updateStatus<StoredVerification>(custom, crRef('mysqlbackupverifications', ref), compute);
      return outcome.written ? outcome.object.status : undefined;
    },
    // --- end of verification in the cluster ---
    // --- initFromBackup (the init-restore reconciler) ---
    async readDeployment(ref) {
      return (await readOrMissing(`GET deployments ${ref.namespace}/${ref.name}`, () => apps.readNamespacedDeployment({ name: ref.name, namespace: ref.namespace }))) ?? null;
    },
    // --- end initFromBackup ---
    // --- In-place restore (spec.restoreInPlace; in-place-restore-reconciler.ts) ---
    async listPodsBySelector(namespace, labelSelector) {
      try {
        return (await core.listNamespacedPod({ namespace, labelSelector })).items;
      } catch (err) {
        throw toKubeApiError(err, `GET pods -n ${namespace} -l ${labelSelector}`);
      }
    },
    async patchPodLabels(ref, labels) {
      const patched = await readOrMissing(`PATCH pods ${ref.namespace}/${ref.name}`, () =>
        core.patchNamespacedPod({ name: ref.name, namespace: ref.namespace, body: { metadata: { labels } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
      );
      return patched !== undefined;
    },
    async patchGroupAnnotations(ref, annotations) {
      try {
        await custom.patchNamespacedCustomObject(
          { group: apiGroup, version: apiVersionName, namespace: ref.namespace, plural: 'mysqlfailovergroups', name: ref.name, body: { metadata: { annotations } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } catch (err) {
        throw toKubeApiError(err, `PATCH mysqlfailovergroups ${ref.namespace}/${ref.name}`);
      }
    },
    // --- end in-place restore ---

    async event(regarding, type, reason, note) {
      logger.info(`${type === 'Warning' ? 'warning: ' : ''}${regarding.kind} ${regarding.namespace}/${regarding.name}: ${reason}: ${note}`);
      await events.record({
        regarding: referenceTo({ apiVersion: `${apiGroup}/${apiVersionName}`, kind: regarding.kind, metadata: { namespace: regarding.namespace, name: regarding.name, uid: regarding.uid } }),
        type,
        reason,
        action: actionOf(reason),
        note,
      });
    },
  };
}
