/**
 * The Jobs of in-cluster restores (`spec.initFromBackup`, `spec.restoreInPlace`): where the backup
 * is read from, the `bloodraven.yaml` of the run, and the pod. Same contract as the backup Jobs
 * (job-spec.ts): configuration in BLOODRAVEN_CONFIG_YAML, every secret a 0400 file, the restricted
 * security context, the result in the termination message. A point-in-time restore gets a
 * `pitr download` init container that fills an emptyDir with the binlogs, which the main container
 * replays after the load (the reference's two-phase restore Job). Pure functions.
 */
import type { V1Job, V1Secret, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ConfigInput } from '../config/schema.js';
import { GroupFieldError } from './group-credentials.js';
import { bloodravenPod, configEnvName, mountPaths, passphraseFile, profileVolumes, secretVolume, terminationMessagePath, jobBackoffLimit } from './job-spec.js';
import { boundedName, controllerReference, labelKeys, managedLabels, maxLabelLength, profileClaimName, type MysqlAccount, type MysqlAddress } from './objects.js';
import { apiVersion, failoverGroupKind, type KubernetesProfile, type MysqlBackup, type ParsedGroup, type PointInTimeSpec, type RestoreSource } from './resources.js';

/** Which restore a Job runs: the one-shot bootstrap, or an in-place restore. */
export type RestoreKind = 'init' | 'in-place';

/**
 * A restore's backup, resolved against the cluster:
 * - `catalog`: a MysqlBackup's stored backup, read through its profile (`--backup <name>`);
 * - `s3`: a backup's own prefix in a bucket (`--from s3://bucket/prefix`);
 * - `pvc`: a backup's folder on a claim mounted read-only (`--from /restore-source/<path>`).
 */
export type ResolvedRestoreSource =
  | {
      kind: 'catalog';
      profile: KubernetesProfile;
      mysqlBackup: string;
      backupName: string;
      description: string;
      /** The claim the backup is on, when it is not this group's claim of the profile (a backup another group took). */
      claimName?: string;
    }
  | {
      kind: 's3';
      s3: NonNullable<RestoreSource['s3']>;
      encryption: RestoreSource['encryption'];
      description: string;
    }
  | { kind: 'pvc'; claimName: string; path: string; encryption: RestoreSource['encryption']; description: string };

/** Reads a MysqlBackup of the group's namespace (from the informer's cache). */
export type BackupLookup = (name: string) => MysqlBackup | undefined;

/**
 * Resolves `source` (found at field path `at`, like `spec.initFromBackup.source`). A
 * mysqlBackupRef must name a Succeeded MysqlBackup whose profile the group has (its storage and
 * encryption are how the backup is read). Throws GroupFieldError naming the field: reason
 * BackupNotFound, BackupNotReady (not Succeeded yet, or Failed) or ProfileNotFound.
 */
export function resolveRestoreSource(group: ParsedGroup, source: RestoreSource, at: string, lookup: BackupLookup): ResolvedRestoreSource {
  if (source.mysqlBackupRef) {
    const name = source.mysqlBackupRef.name;
    const field = `${at}.mysqlBackupRef.name`;
    const backup = lookup(name);
    if (!backup) throw new GroupFieldError(field, `MysqlBackup "${name}" not found in namespace ${group.metadata.namespace}`, 'BackupNotFound');
    const phase = backup.status?.phase ?? 'Pending';
    if (phase !== 'Succeeded' || !backup.status?.backupName) {
      throw new GroupFieldError(field, `MysqlBackup "${name}" is ${phase}: only a Succeeded backup can be restored`, 'BackupNotReady');
    }
    const profile = (group.spec.backup?.profiles ?? []).find((p) => p.name === backup.spec.profileName);
    if (!profile) {
      throw new GroupFieldError(
        field,
        `MysqlBackup "${name}" was taken with profile "${backup.spec.profileName}", which spec.backup.profiles of this group lacks: add that profile (its storage and encryption) so the backup can be read`,
        'ProfileNotFound',
      );
    }
    const claimName = storedClaim(group, profile, backup, field);
    return { kind: 'catalog', profile, mysqlBackup: name, backupName: backup.status.backupName, description: backup.status.backupName, ...(claimName ? { claimName } : {}) };
  }
  if (source.s3) {
    const prefix = source.s3.prefix.replace(/^\/+|\/+$/g, '');
    return { kind: 's3', s3: { ...source.s3, prefix }, encryption: source.encryption, description: `s3://${source.s3.bucket}/${prefix}` };
  }
  if (source.pvc) {
    const path = source.pvc.path.replace(/^\/+|\/+$/g, '');
    if (path.split('/').some((part) => part === '..' || part === '.' || part === '')) {
      throw new GroupFieldError(`${at}.pvc.path`, `"${source.pvc.path}" must be a folder inside the claim, without "." or ".." parts`);
    }
    return { kind: 'pvc', claimName: source.pvc.claimName, path, encryption: source.encryption, description: `pvc://${source.pvc.claimName}/${path}` };
  }
  throw new GroupFieldError(`${at}`, 'name the backup: set one of mysqlBackupRef, s3 or pvc');
}

/**
 * Checks that the profile reads where the MysqlBackup says its backup is (`status.location`): a
 * backup another group took is on that group's claim, which is mounted instead (returned); an S3
 * backup must be under the profile's bucket and prefix. Throws GroupFieldError (ProfileMismatch)
 * naming the field otherwise, before any Job runs.
 */
function storedClaim(group: ParsedGroup, profile: KubernetesProfile, backup: MysqlBackup, field: string): string | undefined {
  const location = backup.status?.location;
  const stored = backup.status?.backupName ?? '';
  const name = backup.metadata.name ?? '';
  if (location === undefined || location === '') return undefined;
  if (profile.storage.type === 'PVC') {
    const claim = location.startsWith('pvc://') ? location.slice('pvc://'.length).split('/')[0] : undefined;
    if (!claim) {
      throw new GroupFieldError(field, `MysqlBackup "${name}" is stored at ${location}, but profile "${profile.name}" of this group is a PVC profile: use a profile of the same storage type, or a direct source (s3)`, 'ProfileMismatch');
    }
    return claim === profileClaimName(group.metadata.name, profile) ? undefined : claim;
  }
  const { bucket, prefix } = profile.storage.s3;
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  const expected = `s3://${bucket}/${trimmed === '' ? '' : `${trimmed}/`}${stored}`;
  if (location.replace(/\/+$/, '') !== expected) {
    throw new GroupFieldError(
      field,
      `MysqlBackup "${name}" is stored at ${location}, but profile "${profile.name}" of this group reads s3://${bucket}/${trimmed}: name the backup as a direct source instead (source.s3 with the bucket and prefix of ${location}, and its endpointURL, region and credentialsSecret)`,
      'ProfileMismatch',
    );
  }
  return undefined;
}

/**
 * The archive a point-in-time restore replays from: spec.backup.pitr's profile. Throws
 * GroupFieldError at `${at}.pointInTime` when the group has none.
 */
export function pitrArchiveProfile(group: ParsedGroup, at: string): KubernetesProfile {
  const name = group.spec.backup?.pitr?.profileName;
  const profile = name === undefined ? undefined : group.spec.backup?.profiles.find((p) => p.name === name);
  if (!profile) throw new GroupFieldError(`${at}.pointInTime`, 'a point-in-time restore replays the binlog archive: set spec.backup.pitr.profileName to the profile holding it', 'NoBinlogArchive');
  return profile;
}

/** The profile name a direct source's storage gets in the run's bloodraven.yaml. */
export const directSourceProfileName = 'restore-source';

/** A profile's storage in a Job's bloodraven.yaml: Secrets and claims replaced by their mount paths. */
function storageOf(profile: KubernetesProfile, pvcPath: string): NonNullable<ConfigInput['backup']>['profiles'][number]['storage'] {
  if (profile.storage.type === 'PVC') return { type: 'PVC', pvc: { path: pvcPath } };
  const s3 = profile.storage.s3;
  return {
    type: 'S3',
    s3: { bucket: s3.bucket, prefix: s3.prefix, region: s3.region, endpointURL: s3.endpointURL, partSize: s3.partSize, retryTimeout: s3.retryTimeout, credentialsDir: s3.credentialsSecret === undefined ? undefined : mountPaths.awsCredentials },
  };
}

/** The mount paths of the archive profile's Secrets and claim, when it is not the backup's own profile. */
const archiveMounts = {
  awsCredentials: '/run/bloodraven/archive-aws-creds',
  encryption: '/run/bloodraven/archive-encryption',
  backups: '/archive',
} as const;

export interface RestoreJobInput {
  group: ParsedGroup;
  kind: RestoreKind;
  /** The Job's name (restoreJobName). */
  name: string;
  source: ResolvedRestoreSource;
  /** The target site's MySQL address (siteMysqlAddress). */
  target: MysqlAddress;
  /** The Secret derivedRestoreSecret made, mounted at /run/bloodraven/mysql-creds. */
  mysqlSecretName: string;
  /**
   * The main container's arguments after `bloodraven`, e.g. ['restore', 'bootstrap', …]: the
   * caller's (sourceArgs gives the source's part). `--result-file /dev/termination-log` is added.
   */
  args: string[];
  /**
   * A point-in-time restore: the archive's profile (pitrArchiveProfile) and the target time. Adds
   * the `pitr download` init container and the emptyDir at /pitr-binlogs; the caller's args should
   * pass `--stop-datetime` and `--binlogs-dir /pitr-binlogs` to the main container.
   */
  pointInTime?: { archive: KubernetesProfile; spec: PointInTimeSpec };
}

/** The source's flags for `restore bootstrap` / `restore in-place`: `--backup NAME` or `--from LOCATION`. */
export function sourceArgs(source: ResolvedRestoreSource): string[] {
  switch (source.kind) {
    case 'catalog':
      return ['--profile', source.profile.name, '--backup', source.backupName];
    case 's3':
      return ['--profile', directSourceProfileName, '--from', `s3://${source.s3.bucket}/${source.s3.prefix}`];
    case 'pvc':
      return ['--profile', directSourceProfileName, '--from', `${mountPaths.restoreSource}/${source.path}`];
  }
}

/**
 * The run's bloodraven.yaml: the target's address with the derived credentials folder, the profile
 * the backup is read through (the MysqlBackup's, or one made for the direct source), and for a
 * point-in-time restore the archive's profile named by `pitr` (not enabled: nothing archives here).
 */
export function restoreJobConfig(input: Pick<RestoreJobInput, 'group' | 'source' | 'target' | 'pointInTime'>): ConfigInput {
  const { group, source, target, pointInTime } = input;
  const profiles: NonNullable<ConfigInput['backup']>['profiles'] = [];
  if (source.kind === 'catalog') {
    profiles.push({
      name: source.profile.name,
      storage: storageOf(source.profile, mountPaths.backups),
      dump: source.profile.dump,
      encryption: source.profile.encryption ? { passphraseFile } : undefined,
    });
  } else {
    const storage =
      source.kind === 's3'
        ? {
            type: 'S3' as const,
            s3: { bucket: source.s3.bucket, prefix: '', region: source.s3.region, endpointURL: source.s3.endpointURL, credentialsDir: source.s3.credentialsSecret === undefined ? undefined : mountPaths.awsCredentials },
          }
        : { type: 'PVC' as const, pvc: { path: mountPaths.restoreSource } };
    profiles.push({ name: directSourceProfileName, storage, encryption: source.encryption ? { passphraseFile } : undefined });
  }
  let pitr: NonNullable<ConfigInput['backup']>['pitr'];
  if (pointInTime) {
    const archive = pointInTime.archive;
    if (!profiles.some((p) => p.name === archive.name)) {
      const storage = storageOf(archive, archiveMounts.backups);
      if (storage.type === 'S3' && storage.s3.credentialsDir !== undefined) storage.s3.credentialsDir = archiveMounts.awsCredentials;
      profiles.push({ name: archive.name, storage, dump: archive.dump, encryption: archive.encryption ? { passphraseFile: `${archiveMounts.encryption}/passphrase` } : undefined });
    }
    pitr = { enabled: false, profileName: archive.name };
  }
  return {
    name: group.metadata.name,
    mysql: { host: target.host, port: target.port, credentialsDir: mountPaths.mysqlCredentials },
    backup: { profiles, ...(pitr ? { pitr } : {}) },
  };
}

/** The volumes the source (and the archive, when it is another profile) need. */
function sourceVolumes(input: RestoreJobInput): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const { group, source, pointInTime } = input;
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (source.kind === 'catalog') {
    const own = profileVolumes(group, source.profile);
    const claimName = source.claimName;
    // Another group's claim, mounted as the group's own would be: the catalog's reader lease (which
    // keeps that group's retention off the backup while it is read) and the load's progress file
    // are written beside the backup.
    volumes.push(...(claimName === undefined ? own.volumes : own.volumes.map((v) => (v.persistentVolumeClaim ? { ...v, persistentVolumeClaim: { claimName } } : v))));
    mounts.push(...own.mounts);
  } else {
    const credentials = source.kind === 's3' ? source.s3.credentialsSecret : undefined;
    if (credentials !== undefined) {
      volumes.push(secretVolume('aws-creds', credentials));
      mounts.push({ name: 'aws-creds', mountPath: mountPaths.awsCredentials, readOnly: true });
    }
    if (source.kind === 'pvc') {
      volumes.push({ name: 'restore-source', persistentVolumeClaim: { claimName: source.claimName, readOnly: true } });
      mounts.push({ name: 'restore-source', mountPath: mountPaths.restoreSource, readOnly: true });
    }
    if (source.encryption) {
      volumes.push(secretVolume('encryption', source.encryption.passphraseSecret, [{ key: 'passphrase', path: 'passphrase' }]));
      mounts.push({ name: 'encryption', mountPath: mountPaths.encryption, readOnly: true });
    }
  }
  const archive = pointInTime?.archive;
  if (archive && !(source.kind === 'catalog' && source.profile.name === archive.name)) {
    // The archive's own Secrets and claim, at paths of their own (restoreJobConfig names them).
    const own = profileVolumes(group, archive);
    for (const volume of own.volumes) volumes.push({ ...volume, name: `archive-${volume.name}` });
    for (const mount of own.mounts) {
      const path = mount.mountPath === mountPaths.awsCredentials ? archiveMounts.awsCredentials : mount.mountPath === mountPaths.encryption ? archiveMounts.encryption : archiveMounts.backups;
      mounts.push({ ...mount, name: `archive-${mount.name}`, mountPath: path });
    }
  }
  return { volumes, mounts };
}

/**
 * The restore Job: owned by the group, labelled with labelKeys.restore = kind, running
 * `bloodraven <args> --result-file /dev/termination-log` against the target with the derived
 * credentials, the source mounted (read-only for a claim), and for a point in time an init
 * container `bloodraven pitr download --profile <archive> --backup <name> --stop-datetime T --dest /pitr-binlogs`
 * filling an emptyDir the main container reads.
 */
export function restoreJob(input: RestoreJobInput): V1Job {
  const { group, kind, name } = input;
  const labels = { ...managedLabels({ group: group.metadata.name }), [labelKeys.restore]: kind };
  const storage = sourceVolumes(input);
  const mysqlMount: V1VolumeMount = { name: 'mysql-creds', mountPath: mountPaths.mysqlCredentials, readOnly: true };
  const volumes = [secretVolume('mysql-creds', input.mysqlSecretName), ...storage.volumes];
  const mounts = [mysqlMount, ...storage.mounts];
  const initContainers: NonNullable<Parameters<typeof bloodravenPod>[0]['initContainers']> = [];
  if (input.pointInTime) {
    volumes.push({ name: 'pitr-binlogs', emptyDir: {} });
    const binlogsMount: V1VolumeMount = { name: 'pitr-binlogs', mountPath: mountPaths.pitrBinlogs };
    mounts.push(binlogsMount);
    const backupArgs = input.source.kind === 'catalog' ? ['--backup', input.source.backupName] : [];
    initContainers.push({
      name: 'pitr-download',
      args: ['pitr', 'download', '--profile', input.pointInTime.archive.name, ...backupArgs, '--stop-datetime', input.pointInTime.spec.stopDatetime, '--dest', mountPaths.pitrBinlogs],
      mounts: [...storage.mounts, binlogsMount],
    });
  }
  const pod = bloodravenPod({
    group,
    containerName: 'restore',
    args: [...input.args, '--result-file', terminationMessagePath],
    env: [{ name: configEnvName, value: stringify(restoreJobConfig(input), { lineWidth: 0 }) }],
    volumes,
    mounts,
    initContainers,
  });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: group.metadata.namespace, labels, ownerReferences: [controllerReference({ apiVersion, kind: failoverGroupKind, metadata: group.metadata })] },
    spec: { backoffLimit: jobBackoffLimit, template: { metadata: { labels }, spec: pod } },
  };
}

/**
 * A restore Job's name: `mysql-<group>-init-restore` for the bootstrap; for an in-place restore
 * `mysql-<group>-restore-<confirm>` with the confirm token made a name (2026-04-17T14:32:00Z →
 * 20260417t143200z), so each armed run has a Job of its own. At most 63 characters (a Job's
 * name is its pods' job-name label).
 */
export function restoreJobName(groupName: string, kind: RestoreKind, confirm?: string): string {
  if (kind === 'init') return boundedName(`mysql-${groupName}-init-restore`, maxLabelLength);
  const token = (confirm ?? '').toLowerCase().replace(/[^0-9a-z]/g, '');
  return boundedName(`mysql-${groupName}-restore-${token || 'run'}`, maxLabelLength);
}

/**
 * The Secret of a restore Job's MySQL account (keys MYSQL_USER and MYSQL_PASSWORD, mounted 0400 at
 * /run/bloodraven/mysql-creds): `<job name>-mysql-creds`, owned by the group, immutable.
 */
export function derivedRestoreSecret(group: ParsedGroup, jobName: string, kind: RestoreKind, account: MysqlAccount): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: restoreSecretName(jobName),
      namespace: group.metadata.namespace,
      labels: { ...managedLabels({ group: group.metadata.name }), [labelKeys.restore]: kind },
      ownerReferences: [controllerReference({ apiVersion, kind: failoverGroupKind, metadata: group.metadata })],
    },
    type: 'Opaque',
    immutable: true,
    data: {
      MYSQL_USER: Buffer.from(account.user, 'utf8').toString('base64'),
      MYSQL_PASSWORD: Buffer.from(account.password, 'utf8').toString('base64'),
    },
  };
}

/** The derived Secret's name for a restore Job. */
export function restoreSecretName(jobName: string): string {
  return `${jobName}-mysql-creds`;
}
