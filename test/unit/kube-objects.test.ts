import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Container, V1Job, V1PodSpec } from '@kubernetes/client-node';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../src/lib/config/schema.js';
import { backupJob, cleanupJob, jobConfigYaml, scheduleCronJob } from '../../src/lib/kube/job-spec.js';
import {
  backupJobName,
  bloodravenVersion,
  boundedName,
  cleanupJobName,
  defaultImage,
  derivedMysqlSecret,
  provisionedPvc,
  requesterRole,
  requesterRoleBinding,
  requesterServiceAccount,
  scheduleCronJobName,
  siteMysqlAddress,
} from '../../src/lib/kube/objects.js';
import { validateGroupSpec, type KubernetesProfile, type MysqlBackup, type ParsedGroup } from '../../src/lib/kube/resources.js';
import { defaultContainerSecurityContext, defaultPodSecurityContext, mergeSecurityContext, podSecurityContext } from '../../src/lib/kube/security-context.js';

const groupSpec = {
  credentials: { backupSecret: 'orders-backup-account' },
  sites: [{ name: 'east' }, { name: 'west' }],
  backup: {
    profiles: [
      {
        name: 'nightly-s3',
        retentionPolicy: { count: 14, minKeep: 2 },
        storage: { type: 'S3', s3: { bucket: 'shipstream-backups', prefix: 'orders', region: 'us-east-1', endpointURL: 'http://127.0.0.1:9000', credentialsSecret: 's3-backup-creds' } },
        dump: { threads: 8, bytesPerChunk: '128M', lockWaitTimeout: '500ms', includeSchemas: ['shop'] },
        encryption: { passphraseSecret: 'orders-passphrase' },
      },
      { name: 'daily-local', retention: 7, storage: { type: 'PVC', pvc: { storageClassName: 'fast', size: '50Gi' } } },
      { name: 'mine', storage: { type: 'PVC', pvc: { claimName: 'my-claim' } } },
      { name: 'plain-s3', storage: { type: 'S3', s3: { bucket: 'other-bucket' } } },
    ],
    schedules: [{ name: 'nightly', profileName: 'nightly-s3', schedule: '0 2 * * *', timeZone: 'America/Los_Angeles' }],
  },
};

function parsedGroup(spec: unknown = groupSpec): ParsedGroup {
  const result = validateGroupSpec(spec);
  if (!result.success) throw new Error(JSON.stringify(result.issues));
  return { metadata: { name: 'orders', namespace: 'shop', uid: 'group-uid' }, spec: result.data };
}

function profileOf(group: ParsedGroup, name: string): KubernetesProfile {
  const profile = group.spec.backup?.profiles.find((p) => p.name === name);
  if (!profile) throw new Error(`no profile ${name}`);
  return profile;
}

const mysqlBackup = (profileName: string, name = 'orders-nightly-x7k2p'): MysqlBackup => ({
  apiVersion: 'shipstream.io/v1alpha1',
  kind: 'MysqlBackup',
  metadata: { name, namespace: 'shop', uid: 'backup-uid' },
  spec: { failoverGroupRef: { name: 'orders' }, profileName, triggeredBy: 'schedule' },
});

/** Checks an object as it goes over the wire against Kubernetes' published schema for its kind. */
function expectValid<T>(Model: new (data: T) => { validate(): void }, object: object): void {
  expect(() => new Model(JSON.parse(JSON.stringify(object)) as T).validate()).not.toThrow();
}

function podOf(job: V1Job): { pod: V1PodSpec; container: V1Container } {
  const pod = job.spec?.template.spec;
  const container = pod?.containers[0];
  if (!pod || !container) throw new Error('no pod');
  return { pod, container };
}

function configOf(container: V1Container): unknown {
  const env = container.env?.find((e) => e.name === 'BLOODRAVEN_CONFIG_YAML');
  return parse(env?.value ?? '');
}

/** What every Job and CronJob pod of the contract must be: secrets as files only, restricted, HOME and /tmp writable. */
function expectContractPod(pod: V1PodSpec, container: V1Container): void {
  expect(pod.restartPolicy).toBe('Never');
  expect(pod.containers).toHaveLength(1);
  expect(container.command).toEqual(['bloodraven']);
  expect(container.envFrom).toBeUndefined();
  expect(container.env?.filter((e) => e.valueFrom !== undefined)).toEqual([]);
  expect(container.env?.map((e) => e.name)).not.toContain('MYSQL_PASSWORD');
  expect(container.terminationMessagePath).toBe('/dev/termination-log');
  expect(container.terminationMessagePolicy).toBe('File');
  expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 27, runAsGroup: 27, fsGroup: 27, seccompProfile: { type: 'RuntimeDefault' } });
  expect(container.securityContext).toEqual({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  const mounts = Object.fromEntries((container.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
  const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  expect(volumes[mounts['/home/bloodraven'] ?? '']?.emptyDir).toEqual({});
  expect(volumes[mounts['/tmp'] ?? '']?.emptyDir).toEqual({});
  expect(container.env).toEqual(expect.arrayContaining([{ name: 'HOME', value: '/home/bloodraven' }, { name: 'TMPDIR', value: '/tmp' }]));
  for (const volume of pod.volumes ?? []) {
    if (volume.secret) expect(volume.secret.defaultMode, `secret volume ${volume.name}`).toBe(256);
    for (const item of volume.secret?.items ?? []) expect(item.mode).toBe(256);
  }
}

function mountsOf(job: V1Job): Record<string, unknown> {
  const { pod, container } = podOf(job);
  const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  return Object.fromEntries((container.volumeMounts ?? []).map((m) => [m.mountPath, { ...volumes[m.name], readOnly: m.readOnly ?? false }]));
}

describe('backupJob', () => {
  it('runs `backup now` for the profile, with the run configuration in env and every secret as a 0400 file', () => {
    const group = parsedGroup();
    const job = backupJob({ group, profile: profileOf(group, 'nightly-s3'), backup: mysqlBackup('nightly-s3'), source: { host: 'mysql-orders-west.shop.svc', port: 3306 } });
    expectValid(Job, job);
    const { pod, container } = podOf(job);
    expectContractPod(pod, container);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.args).toEqual(['backup', 'now', '--profile', 'nightly-s3', '--result-file', '/dev/termination-log']);
    expect(container.image).toBe(defaultImage);
    expect(job.metadata).toMatchObject({ name: 'mysqlbackup-orders-nightly-x7k2p', namespace: 'shop' });
    expect(job.metadata?.ownerReferences).toEqual([
      { apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', name: 'orders-nightly-x7k2p', uid: 'backup-uid', controller: true, blockOwnerDeletion: true },
    ]);
    const labels = { 'app.kubernetes.io/managed-by': 'bloodraven', 'shipstream.io/group': 'orders', 'shipstream.io/profile': 'nightly-s3', 'shipstream.io/mysqlbackup': 'orders-nightly-x7k2p' };
    expect(job.metadata?.labels).toEqual(labels);
    expect(job.spec?.template.metadata?.labels).toEqual(labels);
    expect(mountsOf(job)).toMatchObject({
      '/run/bloodraven/mysql-creds': { secret: { secretName: 'orders-nightly-x7k2p-mysql-creds', defaultMode: 256 }, readOnly: true },
      '/run/bloodraven/aws-creds': { secret: { secretName: 's3-backup-creds', defaultMode: 256 }, readOnly: true },
      '/run/bloodraven/encryption': { secret: { secretName: 'orders-passphrase', items: [{ key: 'passphrase', path: 'passphrase', mode: 256 }] }, readOnly: true },
    });
    expect(Object.keys(mountsOf(job))).not.toContain('/backups');
  });

  it('renders a bloodraven.yaml the CLI accepts, naming the mounted files instead of the Secrets', () => {
    const group = parsedGroup();
    const profile = profileOf(group, 'nightly-s3');
    const config = configOf(podOf(backupJob({ group, profile, backup: mysqlBackup('nightly-s3'), source: { host: 'db.west', port: 3307 } })).container);
    const result = validateConfig(config);
    if (!result.success) throw new Error(JSON.stringify(result.issues));
    expect(result.data.name).toBe('orders');
    expect(result.data.mysql).toMatchObject({ host: 'db.west', port: 3307, credentialsDir: '/run/bloodraven/mysql-creds' });
    expect(result.data.backup.profiles).toHaveLength(1);
    expect(result.data.backup.schedules).toEqual([]);
    expect(result.data.backup.pitr).toBeUndefined();
    const [fileProfile] = result.data.backup.profiles;
    expect(fileProfile).toEqual({
      name: 'nightly-s3',
      storage: {
        type: 'S3',
        s3: { bucket: 'shipstream-backups', prefix: 'orders', region: 'us-east-1', endpointURL: 'http://127.0.0.1:9000', credentialsDir: '/run/bloodraven/aws-creds', partSize: 16_000_000 },
      },
      dump: profile.dump,
      retentionPolicy: { count: 14, maxAgeDays: 0, minKeep: 2, maxFailedKeep: 10, minKeepVerified: 0 },
      encryption: { passphraseFile: '/run/bloodraven/encryption/passphrase' },
    });
    expect(fileProfile?.dump).toMatchObject({ threads: 8, bytesPerChunk: 128_000_000, lockWaitTimeout: 0.5, includeSchemas: ['shop'] });
  });

  it('mounts the claim bloodraven provisions for a sized PVC profile, or the one the profile names, at /backups', () => {
    const group = parsedGroup();
    const sized = backupJob({ group, profile: profileOf(group, 'daily-local'), backup: mysqlBackup('daily-local'), source: { host: 'h', port: 3306 } });
    expect(mountsOf(sized)['/backups']).toEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'mysql-orders-backup-daily-local' }, readOnly: false });
    const named = backupJob({ group, profile: profileOf(group, 'mine'), backup: mysqlBackup('mine'), source: { host: 'h', port: 3306 } });
    expect(mountsOf(named)['/backups']).toMatchObject({ persistentVolumeClaim: { claimName: 'my-claim' } });
    const result = validateConfig(configOf(podOf(named).container));
    expect(result.success && result.data.backup.profiles[0]?.storage).toEqual({ type: 'PVC', pvc: { path: '/backups' } });
  });

  it('leaves the S3 credentials to the environment when the profile names no Secret', () => {
    const group = parsedGroup();
    const job = backupJob({ group, profile: profileOf(group, 'plain-s3'), backup: mysqlBackup('plain-s3'), source: { host: 'h', port: 3306 } });
    expect(Object.keys(mountsOf(job)).sort()).toEqual(['/home/bloodraven', '/run/bloodraven/mysql-creds', '/tmp']);
    const result = validateConfig(configOf(podOf(job).container));
    expect(result.success && result.data.backup.profiles[0]?.storage).toEqual({ type: 'S3', s3: { bucket: 'other-bucket', prefix: '', partSize: 16_000_000 } });
  });

  it("runs the group's image and merges its security context overrides field by field", () => {
    const spec = structuredClone(groupSpec) as typeof groupSpec & { backup: Record<string, unknown> };
    spec.backup.image = 'registry.example/bloodraven:custom';
    spec.backup.podSecurityContext = { runAsUser: 1000, seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/bloodraven.json' } };
    spec.backup.containerSecurityContext = { capabilities: { add: ['NET_BIND_SERVICE'] } };
    const group = parsedGroup(spec);
    const { pod, container } = podOf(backupJob({ group, profile: profileOf(group, 'mine'), backup: mysqlBackup('mine'), source: { host: 'h', port: 3306 } }));
    expect(container.image).toBe('registry.example/bloodraven:custom');
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 27, fsGroup: 27, seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/bloodraven.json' } });
    expect(container.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
  });
});

describe('cleanupJob', () => {
  it('runs `backup delete` for the stored name with the profile storage and no MySQL account', () => {
    const group = parsedGroup();
    const job = cleanupJob({ group, profile: profileOf(group, 'nightly-s3'), backup: mysqlBackup('nightly-s3'), storedBackupName: 'orders-20261130-020000' });
    expectValid(Job, job);
    const { pod, container } = podOf(job);
    expectContractPod(pod, container);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(job.metadata?.name).toBe('mysqlbackup-cleanup-orders-nightly-x7k2p');
    expect(job.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'MysqlBackup', uid: 'backup-uid', controller: true });
    expect(container.args).toEqual(['backup', 'delete', 'orders-20261130-020000', '--profile', 'nightly-s3', '--yes', '--result-file', '/dev/termination-log']);
    expect(Object.keys(mountsOf(job)).sort()).toEqual(['/home/bloodraven', '/run/bloodraven/aws-creds', '/run/bloodraven/encryption', '/tmp']);
    const result = validateConfig(configOf(container));
    if (!result.success) throw new Error(JSON.stringify(result.issues));
    expect(result.data.mysql.credentialsDir).toBeUndefined();
    expect(result.data.backup.profiles[0]?.storage).toMatchObject({ type: 'S3', s3: { credentialsDir: '/run/bloodraven/aws-creds' } });
  });
});

describe('scheduleCronJob', () => {
  it('requests a MysqlBackup on the schedule, in its time zone, never overlapping, as the requester', () => {
    const group = parsedGroup();
    const schedule = group.spec.backup?.schedules[0];
    if (!schedule) throw new Error('no schedule');
    const cronJob = scheduleCronJob(group, schedule);
    expectValid(CronJob, cronJob);
    expect(cronJob.metadata).toMatchObject({
      name: 'mysql-orders-backup-nightly',
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'bloodraven', 'shipstream.io/group': 'orders', 'shipstream.io/profile': 'nightly-s3', 'shipstream.io/schedule': 'nightly' },
      ownerReferences: [{ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlFailoverGroup', name: 'orders', uid: 'group-uid', controller: true, blockOwnerDeletion: true }],
    });
    expect(cronJob.spec).toMatchObject({ schedule: '0 2 * * *', timeZone: 'America/Los_Angeles', concurrencyPolicy: 'Forbid' });
    const pod = cronJob.spec?.jobTemplate.spec?.template.spec;
    const container = pod?.containers[0];
    if (!pod || !container) throw new Error('no pod');
    expectContractPod(pod, container);
    expect(pod.serviceAccountName).toBe('mysql-orders-backup-requester');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(container.args).toEqual(['backup', 'request', '--namespace', 'shop', '--group', 'orders', '--profile', 'nightly-s3', '--schedule', 'nightly']);
    expect(container.env?.map((e) => e.name)).not.toContain('BLOODRAVEN_CONFIG_YAML');
  });
});

describe('the objects around the Jobs', () => {
  it('derives the run Secret with the account as MYSQL_USER and MYSQL_PASSWORD, owned by the MysqlBackup', () => {
    const secret = derivedMysqlSecret(mysqlBackup('nightly-s3'), { user: 'backup', password: 'pä ss' });
    expectValid(Secret, secret);
    expect(secret.metadata).toMatchObject({ name: 'orders-nightly-x7k2p-mysql-creds', namespace: 'shop', labels: { 'shipstream.io/mysqlbackup': 'orders-nightly-x7k2p' } });
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'MysqlBackup', uid: 'backup-uid', controller: true, blockOwnerDeletion: true });
    expect(secret.type).toBe('Opaque');
    expect(Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))).toEqual({ MYSQL_USER: 'backup', MYSQL_PASSWORD: 'pä ss' });
  });

  it('lets the requester create MysqlBackups in its namespace and nothing else', () => {
    const group = parsedGroup();
    const account = requesterServiceAccount(group);
    const role = requesterRole(group);
    const binding = requesterRoleBinding(group);
    expectValid(ServiceAccount, account);
    expectValid(Role, role);
    expectValid(RoleBinding, binding);
    expect(role.rules).toEqual([{ apiGroups: ['shipstream.io'], resources: ['mysqlbackups'], verbs: ['create'] }]);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mysql-orders-backup-requester' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'mysql-orders-backup-requester', namespace: 'shop' }]);
    for (const object of [account, role, binding]) {
      expect(object.metadata).toMatchObject({ name: 'mysql-orders-backup-requester', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'bloodraven', 'shipstream.io/group': 'orders' } });
      expect(object.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'MysqlFailoverGroup', uid: 'group-uid', controller: true });
    }
  });

  it('provisions a claim only for a PVC profile that gives a size', () => {
    const group = parsedGroup();
    const claim = provisionedPvc(group, profileOf(group, 'daily-local'));
    expect(claim).not.toBeNull();
    expectValid(PersistentVolumeClaim, claim ?? {});
    expect(claim?.metadata).toMatchObject({ name: 'mysql-orders-backup-daily-local', labels: { 'shipstream.io/profile': 'daily-local' } });
    // Not owned by the group: deleting the group must not delete the backups with the claim.
    expect(claim?.metadata?.ownerReferences).toBeUndefined();
    expect(claim?.spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '50Gi' } } });
    expect(provisionedPvc(group, profileOf(group, 'mine'))).toBeNull();
    expect(provisionedPvc(group, profileOf(group, 'nightly-s3'))).toBeNull();
  });

  it('refuses to reference an owner that was never stored', () => {
    const backup = mysqlBackup('x');
    delete backup.metadata.uid;
    expect(() => derivedMysqlSecret(backup, { user: 'u', password: 'p' })).toThrow(/no uid/);
  });
});

describe('siteMysqlAddress', () => {
  it("defaults to the site's Service on 3306, and takes the host and port a site gives", () => {
    const group = parsedGroup({ ...groupSpec, sites: [{ name: 'east' }, { name: 'west', mysql: { host: 'db.west.internal', port: 3307 } }, { name: 'north', mysql: { port: 3310 } }] });
    expect(group.spec.sites?.map((site) => siteMysqlAddress(group, site))).toEqual([
      { host: 'mysql-orders-east.shop.svc', port: 3306 },
      { host: 'db.west.internal', port: 3307 },
      { host: 'mysql-orders-north.shop.svc', port: 3310 },
    ]);
  });
});

describe('names', () => {
  it('keeps Job and CronJob names within their limits, distinct and stable', () => {
    const long = `orders-${'nightly'.repeat(10)}`;
    const a = backupJobName(`${long}-aaaaa`);
    const b = backupJobName(`${long}-bbbbb`);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(backupJobName(`${long}-aaaaa`)).toBe(a);
    expect(a).toMatch(/^mysqlbackup-orders-nightly.*-[0-9a-f]{8}$/);
    expect(cleanupJobName(`${long}-aaaaa`).length).toBeLessThanOrEqual(63);
    expect(scheduleCronJobName('orders', 'n'.repeat(63)).length).toBeLessThanOrEqual(52);
    expect(backupJobName('short')).toBe('mysqlbackup-short');
    expect(boundedName('a'.repeat(50) + '-'.repeat(20), 60)).toMatch(/^a+-[0-9a-f]{8}$/);
  });

  it('pins the default image to this release', async () => {
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(bloodravenVersion).toBe(pkg.version);
    expect(defaultImage).toBe(`ghcr.io/shipstream/bloodraven:${pkg.version}`);
  });

  it('renders no empty fields into the run configuration', () => {
    const group = parsedGroup();
    expect(jobConfigYaml('orders', profileOf(group, 'plain-s3'))).not.toMatch(/null|undefined|region|credentialsDir|encryption|retentionPolicy/);
  });
});

describe('mergeSecurityContext', () => {
  it('keeps every default the override leaves unset', () => {
    expect(podSecurityContext(undefined)).toEqual(defaultPodSecurityContext());
    expect(podSecurityContext({})).toEqual(defaultPodSecurityContext());
  });

  it('lets a set field win, merging nested objects field by field and replacing lists', () => {
    const merged = mergeSecurityContext(defaultContainerSecurityContext(), {
      readOnlyRootFilesystem: false,
      seccompProfile: { localhostProfile: 'x.json' },
      capabilities: { add: ['NET_BIND_SERVICE'] },
      seLinuxOptions: { level: 's0:c123,c456' },
    });
    expect(merged).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: false,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
      seccompProfile: { type: 'RuntimeDefault', localhostProfile: 'x.json' },
      seLinuxOptions: { level: 's0:c123,c456' },
    });
    expect(mergeSecurityContext(defaultContainerSecurityContext(), { capabilities: { drop: ['NET_RAW'] } }).capabilities).toEqual({ drop: ['NET_RAW'] });
  });

  it('changes neither input', () => {
    const base = defaultPodSecurityContext();
    const override = { seccompProfile: { type: 'Localhost' as const, localhostProfile: 'p.json' }, supplementalGroups: [5] };
    const merged = mergeSecurityContext(base, override);
    merged.supplementalGroups?.push(6);
    expect(base).toEqual(defaultPodSecurityContext());
    expect(override).toEqual({ seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' }, supplementalGroups: [5] });
  });
});
