/**
 * The Kubernetes objects bloodraven writes besides Jobs and CronJobs (job-spec.ts): the MySQL
 * Secret derived for each run, the schedule requester's ServiceAccount, Role and RoleBinding, and
 * the PVC a profile asks bloodraven to provision; with the names, labels and owner references all
 * of them share. Pure functions: plain objects in, plain objects out, no API calls.
 */
import { createHash } from 'node:crypto';
import type { V1ObjectMeta, V1OwnerReference, V1PersistentVolumeClaim, V1Role, V1RoleBinding, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { InternalError } from '../errors.js';
import { apiGroup, apiVersion, backupPlural, failoverGroupKind, verificationPlural, type KubernetesProfile, type MysqlBackup, type ParsedGroup, type Site } from './resources.js';

/** The release this build is (package.json's version; a unit test keeps them equal). */
export const bloodravenVersion = '0.1.0';

/** The image Jobs run when the group's `spec.backup.image` does not name one: this release's. */
export const defaultImage = `ghcr.io/shipstream/bloodraven:${bloodravenVersion}`;

export const labelKeys = {
  managedBy: 'app.kubernetes.io/managed-by',
  group: 'shipstream.io/group',
  profile: 'shipstream.io/profile',
  schedule: 'shipstream.io/schedule',
  mysqlBackup: 'shipstream.io/mysqlbackup',
  /** On a verification run's Job and pods: its MysqlBackupVerification. */
  verification: 'shipstream.io/mysqlbackupverification',
  /** On a restore Job and its pods: `init` (spec.initFromBackup) or `in-place` (spec.restoreInPlace). */
  restore: 'shipstream.io/restore',
  /** The MySQL pods of a site carry their site (the default podSelector). */
  site: 'shipstream.io/site',
  /** The role label the group's operator puts on the primary's pods; its `-primary` Service selects `primary`. */
  role: 'shipstream.io/role',
} as const;

/** The value of labelKeys.role on the pods of the primary. */
export const primaryRole = 'primary';

/**
 * Annotations bloodraven sets on the group for the group's own operator (the reference's
 * in-place restore choreography): while `topologyFreeze` is present the operator takes no
 * topology action (no promotion, auto-clone or recovery); `recloneSite` names a site the operator
 * must re-clone from the primary.
 */
export const annotationKeys = {
  /** Set during an in-place restore, to the restore's confirm token; removed at Resuming (or on failure). */
  topologyFreeze: 'shipstream.io/topology-freeze',
  /** Set at Resuming of a whole-instance in-place restore: the peer site(s) to re-clone, comma-separated. */
  recloneSite: 'shipstream.io/reclone-site',
} as const;

/** Kubernetes' limit for names that end up in label values (a Job's name is its pods' `job-name` label). */
export const maxLabelLength = 63;
/** A CronJob's name leaves 11 characters for the suffix of the Jobs it creates. */
export const maxCronJobNameLength = 52;
/** A DNS subdomain: Secrets, PVCs, ServiceAccounts, Roles. */
export const maxObjectNameLength = 253;

/**
 * `name` if it fits in `max` characters, else its start and a short hash of the whole name
 * (`<start>-<8 hex>`), so that two long names differing only at the end stay distinct and the
 * same name always gives the same result.
 */
export function boundedName(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  const start = name.slice(0, max - hash.length - 1).replace(/[-.]+$/, '');
  return `${start}-${hash}`;
}

/** The backup Job of a MysqlBackup: `mysqlbackup-<name>` (so `kubectl logs job/mysqlbackup-<name>` finds it), at most 63 characters. */
export function backupJobName(backupName: string): string {
  return boundedName(`mysqlbackup-${backupName}`, maxLabelLength);
}

/** The cleanup Job that removes a deleted MysqlBackup's stored files: `mysqlbackup-cleanup-<name>`, at most 63 characters. */
export function cleanupJobName(backupName: string): string {
  return boundedName(`mysqlbackup-cleanup-${backupName}`, maxLabelLength);
}

/** The MySQL Secret derived for one run: `<backup>-mysql-creds`. */
export function derivedSecretName(backupName: string): string {
  return boundedName(`${backupName}-mysql-creds`, maxObjectNameLength);
}

/** A schedule's CronJob: `mysql-<group>-backup-<schedule>`, at most 52 characters. */
export function scheduleCronJobName(groupName: string, scheduleName: string): string {
  return boundedName(`mysql-${groupName}-backup-${scheduleName}`, maxCronJobNameLength);
}

// --- verification in the cluster (issue 11, MysqlBackupVerification) ---

/** The Job of a MysqlBackupVerification: `mysqlbackupverification-<name>`, at most 63 characters. */
export function verificationJobName(verificationName: string): string {
  return boundedName(`mysqlbackupverification-${verificationName}`, maxLabelLength);
}

/** A profile's verification CronJob: `mysql-<group>-verify-<profile>`, at most 52 characters. */
export function verificationCronJobName(groupName: string, profileName: string): string {
  return boundedName(`mysql-${groupName}-verify-${profileName}`, maxCronJobNameLength);
}

// --- end of verification in the cluster ---

/** The ServiceAccount, Role and RoleBinding the schedule CronJobs' pods run under: `mysql-<group>-backup-requester`. */
export function requesterName(groupName: string): string {
  return boundedName(`mysql-${groupName}-backup-requester`, maxObjectNameLength);
}

/** The claim bloodraven provisions for a PVC profile that gives a size: `mysql-<group>-backup-<profile>`. */
export function provisionedClaimName(groupName: string, profileName: string): string {
  return boundedName(`mysql-${groupName}-backup-${profileName}`, maxObjectNameLength);
}

/** The claim a PVC profile's Jobs mount: the one it names, or the one bloodraven provisions for it. */
export function profileClaimName(groupName: string, profile: KubernetesProfile): string | null {
  if (profile.storage.type !== 'PVC') return null;
  return profile.storage.pvc.claimName ?? provisionedClaimName(groupName, profile.name);
}

/** A label value: names longer than 63 characters (a MysqlBackup may have one) are shortened as boundedName does. */
export function labelValue(name: string): string {
  return boundedName(name, maxLabelLength);
}

export interface LabelParts {
  group: string;
  profile?: string;
  schedule?: string;
  mysqlBackup?: string;
  /** A MysqlBackupVerification (its Job and pods). */
  verification?: string;
}

/** The labels on everything bloodraven creates: managed-by, the group, and the profile, schedule and MysqlBackup where they apply. */
export function managedLabels(parts: LabelParts): Record<string, string> {
  const labels: Record<string, string> = { [labelKeys.managedBy]: 'bloodraven', [labelKeys.group]: labelValue(parts.group) };
  if (parts.profile !== undefined) labels[labelKeys.profile] = labelValue(parts.profile);
  if (parts.schedule !== undefined) labels[labelKeys.schedule] = labelValue(parts.schedule);
  if (parts.mysqlBackup !== undefined) labels[labelKeys.mysqlBackup] = labelValue(parts.mysqlBackup);
  if (parts.verification !== undefined) labels[labelKeys.verification] = labelValue(parts.verification);
  return labels;
}

/** A MySQL server's address. */
export interface MysqlAddress {
  host: string;
  port: number;
}

/** MySQL's port when a site names none. */
export const defaultMysqlPort = 3306;

/**
 * Where a site's MySQL answers: `sites[].mysql.host` and `port` when given, else the site's
 * Service `mysql-<group>-<site>.<namespace>.svc` on 3306 (the group operator's naming).
 */
export function siteMysqlAddress(group: ParsedGroup, site: Site): MysqlAddress {
  return {
    host: site.mysql?.host ?? `mysql-${group.metadata.name}-${site.name}.${group.metadata.namespace}.svc`,
    port: site.mysql?.port ?? defaultMysqlPort,
  };
}

/** An object that can own others: it has been stored, so it has a name and a uid. */
export interface Owner {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
}

/**
 * The controller reference to `owner` (controller and blockOwnerDeletion true): the garbage
 * collector deletes the owned object with its owner, and a foreground deletion of the owner waits
 * for it. Throws InternalError for an owner without name or uid (one that was never stored).
 */
export function controllerReference(owner: Owner): V1OwnerReference {
  const { name, uid } = owner.metadata;
  if (!name || !uid) throw new InternalError(`cannot reference ${owner.kind} ${name ?? '(unnamed)'} as an owner: it has no ${name ? 'uid' : 'name'} (it was never stored)`);
  return { apiVersion: owner.apiVersion, kind: owner.kind, name, uid, controller: true, blockOwnerDeletion: true };
}

function namespaceOf(object: { metadata: V1ObjectMeta }): string {
  const namespace = object.metadata.namespace;
  if (!namespace) throw new InternalError(`${object.metadata.name ?? 'an object'} has no namespace`);
  return namespace;
}

/** The account a run connects to MySQL with. */
export interface MysqlAccount {
  user: string;
  password: string;
}

/**
 * The Secret derived for one backup run (`<backup>-mysql-creds`, keys MYSQL_USER and
 * MYSQL_PASSWORD), mounted read-only 0400 into its Job at /run/bloodraven/mysql-creds. Owned by
 * the MysqlBackup, so it goes with it; immutable, since a run's account does not change.
 */
export function derivedMysqlSecret(backup: MysqlBackup, account: MysqlAccount): V1Secret {
  const name = backup.metadata.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: derivedSecretName(name),
      namespace: namespaceOf(backup),
      labels: managedLabels({ group: backup.spec.failoverGroupRef.name, profile: backup.spec.profileName, mysqlBackup: name }),
      ownerReferences: [controllerReference(backup)],
    },
    type: 'Opaque',
    immutable: true,
    data: {
      MYSQL_USER: Buffer.from(account.user, 'utf8').toString('base64'),
      MYSQL_PASSWORD: Buffer.from(account.password, 'utf8').toString('base64'),
    },
  };
}

function groupOwner(group: ParsedGroup): Owner {
  return { apiVersion, kind: failoverGroupKind, metadata: group.metadata };
}

/** The metadata of an object a group owns. */
function ownedByGroup(group: ParsedGroup, name: string, labels: LabelParts = { group: group.metadata.name }): V1ObjectMeta {
  return { name, namespace: group.metadata.namespace, labels: managedLabels(labels), ownerReferences: [controllerReference(groupOwner(group))] };
}

/** The ServiceAccount the schedule CronJobs' pods run under (the Role below is all it may do). */
export function requesterServiceAccount(group: ParsedGroup): V1ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: ownedByGroup(group, requesterName(group.metadata.name)) };
}

/**
 * What the schedule requester may do: create MysqlBackups in the group's namespace and, when a
 * profile has a verification schedule, MysqlBackupVerifications; nothing else.
 */
export function requesterRole(group: ParsedGroup): V1Role {
  const verifies = (group.spec.backup?.profiles ?? []).some((p) => p.verification !== undefined);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: ownedByGroup(group, requesterName(group.metadata.name)),
    rules: [{ apiGroups: [apiGroup], resources: verifies ? [backupPlural, verificationPlural] : [backupPlural], verbs: ['create'] }],
  };
}

/** Binds requesterRole to requesterServiceAccount. */
export function requesterRoleBinding(group: ParsedGroup): V1RoleBinding {
  const name = requesterName(group.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: ownedByGroup(group, name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: group.metadata.namespace }],
  };
}

/**
 * The claim bloodraven provisions for a PVC profile that gives `size` (and maybe
 * `storageClassName`) instead of a `claimName`: `mysql-<group>-backup-<profile>`, ReadWriteOnce.
 * Labelled with the group but NOT owned by it: the claim holds the backups, and deleting the group
 * must not have the garbage collector delete them with it. Null for a profile that needs none (S3,
 * or a claim the user manages).
 */
export function provisionedPvc(group: ParsedGroup, profile: KubernetesProfile): V1PersistentVolumeClaim | null {
  if (profile.storage.type !== 'PVC' || profile.storage.pvc.claimName !== undefined || profile.storage.pvc.size === undefined) return null;
  const { storageClassName, size } = profile.storage.pvc;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: provisionedClaimName(group.metadata.name, profile.name),
      namespace: group.metadata.namespace,
      labels: managedLabels({ group: group.metadata.name, profile: profile.name }),
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storageClassName === undefined ? {} : { storageClassName }),
      resources: { requests: { storage: size } },
    },
  };
}
