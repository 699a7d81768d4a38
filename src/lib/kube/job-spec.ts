/**
 * The Jobs and CronJobs bloodraven runs its own CLI in, built to the shared contract: the image's
 * `bloodraven` command, the whole configuration of the run as `bloodraven.yaml` text in
 * BLOODRAVEN_CONFIG_YAML, every secret as a 0400 file (never env, never args), HOME and /tmp on
 * emptyDirs under a read-only root, the restricted security context, no Kubernetes API access
 * except for the schedule requester, the result in the termination message. Pure functions.
 */
import type { V1Container, V1CronJob, V1EnvVar, V1Job, V1PodSpec, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { InternalError } from '../errors.js';
import type { ConfigInput } from '../config/schema.js';
import {
  backupJobName,
  cleanupJobName,
  controllerReference,
  defaultImage,
  derivedSecretName,
  managedLabels,
  profileClaimName,
  requesterName,
  scheduleCronJobName,
  verificationCronJobName,
  verificationJobName,
  type LabelParts,
  type MysqlAddress,
  type Owner,
} from './objects.js';
import { apiVersion, failoverGroupKind, type KubernetesProfile, type KubernetesSchedule, type MysqlBackup, type MysqlBackupVerification, type ParsedGroup } from './resources.js';
import { containerSecurityContext, podSecurityContext } from './security-context.js';

/** Where a Job's pod finds things (the contract's paths; the test Job runner maps them to folders). */
export const mountPaths = {
  mysqlCredentials: '/run/bloodraven/mysql-creds',
  awsCredentials: '/run/bloodraven/aws-creds',
  encryption: '/run/bloodraven/encryption',
  backups: '/backups',
  home: '/home/bloodraven',
  tmp: '/tmp',
  /** A restore's direct PVC source (spec.*.source.pvc), mounted read-only. */
  restoreSource: '/restore-source',
  /** The emptyDir a point-in-time restore's `pitr download` init container fills and its main container replays. */
  pitrBinlogs: '/pitr-binlogs',
} as const;

/** The file of the encryption Secret's key `passphrase`. */
export const passphraseFile = `${mountPaths.encryption}/passphrase`;

/** Where the CLI writes its result (`--result-file`), which the kubelet turns into the termination message: Kubernetes' default. */
export const terminationMessagePath = '/dev/termination-log';

/** The env var the CLI reads its configuration from when `--config` is not given. */
export const configEnvName = 'BLOODRAVEN_CONFIG_YAML';

/** Secret files are readable by their owner only (0400); the kubelet gives fsGroup read access. */
const secretFileMode = 0o400;

/**
 * Pod attempts per Job: none beyond the first. A failed backup becomes a Failed MysqlBackup, which
 * spec.backup.retry retries as a fresh MysqlBackup (the reference's model); a failed cleanup
 * keeps its finalizer and the daemon runs a new cleanup Job. One pod per Job also gives the
 * daemon one termination message to read.
 */
export const jobBackoffLimit = 0;

/** The requester pod only creates one object; one more try rides out a brief API server outage. */
export const requesterBackoffLimit = 1;

/**
 * The `bloodraven.yaml` of one Job run, as an object: the group's name, the one profile with its
 * Secrets and claim replaced by the paths they are mounted at, and for a backup the source's
 * address with the derived credentials folder. Nothing else (no schedules, retries or pitr: the
 * daemon does those).
 */
export function jobConfig(groupName: string, profile: KubernetesProfile, source?: MysqlAddress): ConfigInput {
  const storage =
    profile.storage.type === 'S3'
      ? {
          type: 'S3' as const,
          s3: {
            bucket: profile.storage.s3.bucket,
            prefix: profile.storage.s3.prefix,
            region: profile.storage.s3.region,
            endpointURL: profile.storage.s3.endpointURL,
            partSize: profile.storage.s3.partSize,
            ...(profile.storage.s3.retryTimeout === undefined ? {} : { retryTimeout: profile.storage.s3.retryTimeout }),
            credentialsDir: profile.storage.s3.credentialsSecret === undefined ? undefined : mountPaths.awsCredentials,
          },
        }
      : { type: 'PVC' as const, pvc: { path: mountPaths.backups } };
  return {
    name: groupName,
    ...(source ? { mysql: { host: source.host, port: source.port, credentialsDir: mountPaths.mysqlCredentials } } : {}),
    backup: {
      profiles: [
        {
          name: profile.name,
          storage,
          dump: profile.dump,
          retentionPolicy: profile.retentionPolicy,
          encryption: profile.encryption ? { passphraseFile } : undefined,
        },
      ],
    },
  };
}

/** jobConfig as the YAML text of BLOODRAVEN_CONFIG_YAML (absent fields left out). */
export function jobConfigYaml(groupName: string, profile: KubernetesProfile, source?: MysqlAddress): string {
  return stringify(jobConfig(groupName, profile, source), { lineWidth: 0 });
}

export function secretVolume(name: string, secretName: string, items?: Array<{ key: string; path: string }>): V1Volume {
  return { name, secret: { secretName, defaultMode: secretFileMode, ...(items ? { items: items.map((item) => ({ ...item, mode: secretFileMode })) } : {}) } };
}

/** HOME and TMPDIR: the root filesystem is read-only, and the CLI and its tools write there. */
const scratchVolumes: V1Volume[] = [
  { name: 'home', emptyDir: {} },
  { name: 'tmp', emptyDir: {} },
];
const scratchMounts: V1VolumeMount[] = [
  { name: 'home', mountPath: mountPaths.home },
  { name: 'tmp', mountPath: mountPaths.tmp },
];
const scratchEnv: V1EnvVar[] = [
  { name: 'HOME', value: mountPaths.home },
  { name: 'TMPDIR', value: mountPaths.tmp },
];

/** The volumes a profile's Jobs mount: S3 credentials, the encryption passphrase, the PVC. */
export function profileVolumes(group: ParsedGroup, profile: KubernetesProfile): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (profile.storage.type === 'S3' && profile.storage.s3.credentialsSecret !== undefined) {
    volumes.push(secretVolume('aws-creds', profile.storage.s3.credentialsSecret));
    mounts.push({ name: 'aws-creds', mountPath: mountPaths.awsCredentials, readOnly: true });
  }
  const claimName = profileClaimName(group.metadata.name, profile);
  if (claimName !== null) {
    volumes.push({ name: 'backups', persistentVolumeClaim: { claimName } });
    mounts.push({ name: 'backups', mountPath: mountPaths.backups });
  }
  if (profile.encryption) {
    volumes.push(secretVolume('encryption', profile.encryption.passphraseSecret, [{ key: 'passphrase', path: 'passphrase' }]));
    mounts.push({ name: 'encryption', mountPath: mountPaths.encryption, readOnly: true });
  }
  return { volumes, mounts };
}

export interface PodParts {
  group: ParsedGroup;
  containerName: string;
  args: string[];
  env: V1EnvVar[];
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  /** Containers run to completion, in order, before the main one (same image, env and security context). */
  initContainers?: Array<{ name: string; args: string[]; mounts: V1VolumeMount[] }>;
}

/** A pod running `bloodraven <args>` under the restricted security context, without API access. */
export function bloodravenPod(parts: PodParts): V1PodSpec {
  const backup = parts.group.spec.backup;
  const container: V1Container = {
    name: parts.containerName,
    image: backup?.image ?? defaultImage,
    command: ['bloodraven'],
    args: parts.args,
    env: [...parts.env, ...scratchEnv],
    volumeMounts: [...parts.mounts, ...scratchMounts],
    securityContext: containerSecurityContext(backup?.containerSecurityContext),
    terminationMessagePath,
    terminationMessagePolicy: 'File',
  };
  return {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    // Service links would put every Service of the namespace into the env: nothing the run needs.
    enableServiceLinks: false,
    securityContext: podSecurityContext(backup?.podSecurityContext),
    ...(parts.initContainers && parts.initContainers.length > 0
      ? {
          initContainers: parts.initContainers.map(
            // An init container writes no result file: when it fails, the tail of its log is its message.
            (init): V1Container => ({ ...container, name: init.name, args: init.args, volumeMounts: [...init.mounts, ...scratchMounts], terminationMessagePolicy: 'FallbackToLogsOnError' }),
          ),
        }
      : {}),
    containers: [container],
    volumes: [...parts.volumes, ...scratchVolumes],
  };
}

function backupIdentity(backup: MysqlBackup): { name: string; namespace: string } {
  const { name, namespace } = backup.metadata;
  if (!name || !namespace) throw new InternalError('a MysqlBackup without name or namespace cannot have a Job');
  return { name, namespace };
}

function job(name: string, namespace: string, labels: Record<string, string>, owner: Owner, pod: V1PodSpec): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels, ownerReferences: [controllerReference(owner)] },
    spec: { backoffLimit: jobBackoffLimit, template: { metadata: { labels }, spec: pod } },
  };
}

export interface BackupJobInput {
  /** The group, its spec validated. */
  group: ParsedGroup;
  /** The profile the MysqlBackup names, from the group's spec. */
  profile: KubernetesProfile;
  /** The MysqlBackup this Job runs (stored: it has a uid). */
  backup: MysqlBackup;
  /** The chosen source site's MySQL address (siteMysqlAddress). */
  source: MysqlAddress;
}

/**
 * The Job taking one MysqlBackup's backup: `mysqlbackup-<name>`, owned by the MysqlBackup, running
 * `bloodraven backup now --profile <profile> --result-file /dev/termination-log` with the run's
 * configuration in BLOODRAVEN_CONFIG_YAML, the Secret derivedMysqlSecret made mounted at
 * /run/bloodraven/mysql-creds, and the profile's Secrets and claim.
 */
export function backupJob(input: BackupJobInput): V1Job {
  const { group, profile, backup, source } = input;
  const { name, namespace } = backupIdentity(backup);
  const labels = managedLabels({ group: group.metadata.name, profile: profile.name, mysqlBackup: name });
  const storage = profileVolumes(group, profile);
  const pod = bloodravenPod({
    group,
    containerName: 'backup',
    args: ['backup', 'now', '--profile', profile.name, '--result-file', terminationMessagePath],
    env: [{ name: configEnvName, value: jobConfigYaml(group.metadata.name, profile, source) }],
    volumes: [secretVolume('mysql-creds', derivedSecretName(name)), ...storage.volumes],
    mounts: [{ name: 'mysql-creds', mountPath: mountPaths.mysqlCredentials, readOnly: true }, ...storage.mounts],
  });
  return job(backupJobName(name), namespace, labels, backup, pod);
}

export interface CleanupJobInput {
  group: ParsedGroup;
  profile: KubernetesProfile;
  /** The MysqlBackup being deleted (it holds the finalizer until this Job succeeds). */
  backup: MysqlBackup;
  /** The stored backup's name (`status.backupName`), which `backup delete` removes. */
  storedBackupName: string;
}

/**
 * The Job removing a deleted MysqlBackup's stored files: `mysqlbackup-cleanup-<name>`, owned by the
 * MysqlBackup, running `bloodraven backup delete <stored name> --profile <profile> --yes
 * --result-file /dev/termination-log` with the same image and the profile's Secrets and claim; no
 * MySQL account (it touches only storage).
 */
export function cleanupJob(input: CleanupJobInput): V1Job {
  const { group, profile, backup, storedBackupName } = input;
  const { name, namespace } = backupIdentity(backup);
  const labels = managedLabels({ group: group.metadata.name, profile: profile.name, mysqlBackup: name });
  const storage = profileVolumes(group, profile);
  const pod = bloodravenPod({
    group,
    containerName: 'cleanup',
    args: ['backup', 'delete', storedBackupName, '--profile', profile.name, '--yes', '--result-file', terminationMessagePath],
    env: [{ name: configEnvName, value: jobConfigYaml(group.metadata.name, profile) }],
    volumes: storage.volumes,
    mounts: storage.mounts,
  });
  return job(cleanupJobName(name), namespace, labels, backup, pod);
}

/**
 * A schedule's CronJob: `mysql-<group>-backup-<schedule>`, owned by the group, firing in the
 * schedule's time zone, never overlapping itself (Forbid). Its pod runs `bloodraven backup request`,
 * which only creates one MysqlBackup, under the requester ServiceAccount (the one pod with API
 * access: its token is mounted), with the same restricted security context.
 */
export function scheduleCronJob(group: ParsedGroup, schedule: KubernetesSchedule): V1CronJob {
  const { name: groupName, namespace } = group.metadata;
  return requesterCronJob(group, {
    name: scheduleCronJobName(groupName, schedule.name),
    labels: managedLabels({ group: groupName, profile: schedule.profileName, schedule: schedule.name } satisfies LabelParts),
    args: ['backup', 'request', '--namespace', namespace, '--group', groupName, '--profile', schedule.profileName, '--schedule', schedule.name],
    when: schedule,
  });
}

/**
 * A CronJob owned by the group whose pod runs one `bloodraven … request` under the requester
 * ServiceAccount (the one pod with API access), firing in `when.timeZone`, never overlapping itself.
 */
function requesterCronJob(group: ParsedGroup, cron: { name: string; labels: Record<string, string>; args: string[]; when: { schedule: string; timeZone: string } }): V1CronJob {
  const { labels } = cron;
  const pod = bloodravenPod({ group, containerName: 'request', args: cron.args, env: [], volumes: [], mounts: [] });
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: {
      name: cron.name,
      namespace: group.metadata.namespace,
      labels,
      ownerReferences: [controllerReference({ apiVersion, kind: failoverGroupKind, metadata: group.metadata })],
    },
    spec: {
      schedule: cron.when.schedule,
      timeZone: cron.when.timeZone,
      concurrencyPolicy: 'Forbid',
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: requesterBackoffLimit,
          template: {
            metadata: { labels },
            spec: { ...pod, serviceAccountName: requesterName(group.metadata.name), automountServiceAccountToken: true },
          },
        },
      },
    },
  };
}

// --- verification in the cluster (issue 11, MysqlBackupVerification) ---

export interface VerificationJobInput {
  group: ParsedGroup;
  /** The profile the MysqlBackupVerification names, from the group's spec. */
  profile: KubernetesProfile;
  /** The MysqlBackupVerification this Job runs (stored: it has a uid). */
  verification: MysqlBackupVerification;
  /** The stored backup's name (the verified MysqlBackup's `status.backupName`). */
  storedBackupName: string;
}

/**
 * The Job of one MysqlBackupVerification: `mysqlbackupverification-<name>`, owned by the CR,
 * running `bloodraven verify --backup <stored name> --profile <profile> --scratch sandbox
 * --result-file /dev/termination-log` (plus `--threads` when the profile's verification sets
 * them) with the profile's Secrets and claim mounted as a backup Job has them. No MySQL account:
 * the scratch server is a sandbox started inside the pod, its datadir under TMPDIR (/tmp, an
 * emptyDir), as the read-only root filesystem requires.
 */
export function verificationJob(input: VerificationJobInput): V1Job {
  const { group, profile, verification, storedBackupName } = input;
  const { name, namespace } = verification.metadata;
  if (!name || !namespace) throw new InternalError('a MysqlBackupVerification without name or namespace cannot have a Job');
  const labels = managedLabels({ group: group.metadata.name, profile: profile.name, verification: name });
  const storage = profileVolumes(group, profile);
  const threads = profile.verification?.threads;
  const pod = bloodravenPod({
    group,
    containerName: 'verify',
    args: [
      'verify',
      '--backup',
      storedBackupName,
      '--profile',
      profile.name,
      '--scratch',
      'sandbox',
      ...(threads === undefined ? [] : ['--threads', String(threads)]),
      '--result-file',
      terminationMessagePath,
    ],
    env: [{ name: configEnvName, value: jobConfigYaml(group.metadata.name, profile) }],
    volumes: storage.volumes,
    mounts: storage.mounts,
  });
  return job(verificationJobName(name), namespace, labels, verification, pod);
}

/**
 * A profile's verification CronJob: `mysql-<group>-verify-<profile>`, owned by the group, firing
 * at `profile.verification.schedule` in its time zone, never overlapping itself (Forbid). Its pod
 * runs `bloodraven verify request`, which only creates one MysqlBackupVerification (triggeredBy:
 * schedule), under the requester ServiceAccount, as the backup schedules' pods do. Null for a
 * profile without a verification schedule.
 */
export function verificationCronJob(group: ParsedGroup, profile: KubernetesProfile): V1CronJob | null {
  const verification = profile.verification;
  if (!verification) return null;
  const { name: groupName, namespace } = group.metadata;
  return requesterCronJob(group, {
    name: verificationCronJobName(groupName, profile.name),
    labels: managedLabels({ group: groupName, profile: profile.name }),
    args: ['verify', 'request', '--namespace', namespace, '--group', groupName, '--profile', profile.name],
    when: verification,
  });
}

// --- end of verification in the cluster ---
