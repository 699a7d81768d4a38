import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../src/lib/config/schema.js';
import { configEnvName } from '../../src/lib/kube/job-spec.js';
import { GroupFieldError } from '../../src/lib/kube/group-credentials.js';
import { derivedRestoreSecret, pitrArchiveProfile, resolveRestoreSource, restoreJob, restoreJobName, sourceArgs } from '../../src/lib/kube/restore-job.js';
import { validateGroupSpec, type MysqlBackup, type ParsedGroup } from '../../src/lib/kube/resources.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';

function group(extra: Record<string, unknown> = {}): ParsedGroup {
  const spec = {
    credentials: { backupSecret: 'orders-account' },
    sites: [{ name: 'east' }, { name: 'west' }],
    backup: {
      profiles: [
        { name: 'nightly', storage: { type: 'S3', s3: { bucket: 'orders-backups', prefix: 'orders', endpointURL: 'http://127.0.0.1:9000', credentialsSecret: 's3-creds' } }, encryption: { passphraseSecret: 'orders-passphrase' } },
        { name: 'archive', storage: { type: 'PVC', pvc: { claimName: 'binlog-archive' } } },
      ],
      pitr: { enabled: true, profileName: 'archive' },
    },
    ...extra,
  };
  const parsed = validateGroupSpec(spec);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
  return { metadata: { name: 'orders', namespace: 'shop', uid: 'group-uid' }, spec: parsed.data };
}

const succeeded: MysqlBackup = {
  apiVersion: 'shipstream.io/v1alpha1',
  kind: 'MysqlBackup',
  metadata: { name: 'orders-preupgrade', namespace: 'shop', uid: 'b-uid' },
  spec: { failoverGroupRef: { name: 'old-orders' }, profileName: 'nightly' },
  status: { phase: 'Succeeded', backupName: 'orders-nightly-20261129-020000' },
};

function configOf(job: ReturnType<typeof restoreJob>): unknown {
  const env = job.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === configEnvName);
  return parse(env?.value ?? '');
}

describe('resolveRestoreSource', () => {
  const g = group();
  it('reads a Succeeded MysqlBackup through the profile of the same name, and refuses the others naming the field', () => {
    expect(resolveRestoreSource(g, { mysqlBackupRef: { name: 'orders-preupgrade' } }, 'spec.initFromBackup.source', () => succeeded)).toMatchObject({ kind: 'catalog', backupName: 'orders-nightly-20261129-020000', profile: { name: 'nightly' } });
    const missing = (() => {
      try {
        resolveRestoreSource(g, { mysqlBackupRef: { name: 'gone' } }, 'spec.initFromBackup.source', () => undefined);
      } catch (err) {
        return err;
      }
    })();
    expect(missing).toBeInstanceOf(GroupFieldError);
    expect(missing).toMatchObject({ field: 'spec.initFromBackup.source.mysqlBackupRef.name', reason: 'BackupNotFound' });
    const running = { ...succeeded, status: { phase: 'Running' as const } };
    expect(() => resolveRestoreSource(g, { mysqlBackupRef: { name: 'x' } }, 'spec.initFromBackup.source', () => running)).toThrow(/is Running: only a Succeeded backup/);
    const otherProfile = { ...succeeded, spec: { ...succeeded.spec, profileName: 'weekly' } };
    expect(() => resolveRestoreSource(g, { mysqlBackupRef: { name: 'x' } }, 'spec.restoreInPlace.source', () => otherProfile)).toThrow(/profile "weekly", which spec.backup.profiles of this group lacks/);
    expect(() => resolveRestoreSource(g, { pvc: { claimName: 'c', path: '../etc' } }, 'spec.initFromBackup.source', () => undefined)).toThrow(/spec.initFromBackup.source.pvc.path/);
  });
});

describe('resolveRestoreSource: where the MysqlBackup says its backup is', () => {
  const g = group();
  const at = 'spec.initFromBackup.source';
  it("mounts another group's claim for a PVC backup it took, and refuses an S3 backup outside the profile's bucket and prefix", () => {
    const local: MysqlBackup = { ...succeeded, spec: { ...succeeded.spec, profileName: 'archive' }, status: { ...succeeded.status, location: 'pvc://mysql-old-orders-backup-archive/orders-nightly-20261129-020000' } };
    const resolved = resolveRestoreSource(g, { mysqlBackupRef: { name: 'x' } }, at, () => local);
    expect(resolved).toMatchObject({ kind: 'catalog', claimName: 'mysql-old-orders-backup-archive' });
    const job = restoreJob({ group: g, kind: 'init', name: 'j', source: resolved, target: { host: 'h', port: 3306 }, mysqlSecretName: 's', args: [] });
    expect(job.spec?.template.spec?.volumes).toContainEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'mysql-old-orders-backup-archive' } });
    // The group's own claim: nothing to override.
    const own = { ...local, status: { ...local.status, location: 'pvc://binlog-archive/orders-nightly-20261129-020000' } };
    expect(resolveRestoreSource(g, { mysqlBackupRef: { name: 'x' } }, at, () => own)).not.toHaveProperty('claimName');
    const elsewhere = { ...succeeded, status: { ...succeeded.status, location: 's3://other-bucket/orders/orders-nightly-20261129-020000' } };
    expect(() => resolveRestoreSource(g, { mysqlBackupRef: { name: 'x' } }, at, () => elsewhere)).toThrow(/stored at s3:\/\/other-bucket\/orders\/.*reads s3:\/\/orders-backups\/orders: name the backup as a direct source instead/);
    const same = { ...succeeded, status: { ...succeeded.status, location: 's3://orders-backups/orders/orders-nightly-20261129-020000' } };
    expect(resolveRestoreSource(g, { mysqlBackupRef: { name: 'x' } }, at, () => same)).toMatchObject({ kind: 'catalog' });
  });
});

describe('restoreJob', () => {
  const g = group();
  const target = { host: 'mysql-orders-east.shop.svc', port: 3306 };

  it('builds a Job Kubernetes accepts, restricted, whose bloodraven.yaml the CLI accepts, for each kind of source', () => {
    const sources = [
      resolveRestoreSource(g, { mysqlBackupRef: { name: 'orders-preupgrade' } }, 'spec.initFromBackup.source', () => succeeded),
      resolveRestoreSource(g, { s3: { bucket: 'orders-backups', prefix: '/orders/orders-nightly-1/', credentialsSecret: 's3-creds' } }, 'spec.initFromBackup.source', () => undefined),
      resolveRestoreSource(g, { pvc: { claimName: 'old-backups', path: 'orders-nightly-1' }, encryption: { passphraseSecret: 'old-pass' } }, 'spec.initFromBackup.source', () => undefined),
    ];
    for (const source of sources) {
      const name = restoreJobName('orders', 'init');
      const job = restoreJob({ group: g, kind: 'init', name, source, target, mysqlSecretName: `${name}-mysql-creds`, args: ['restore', 'bootstrap', ...sourceArgs(source)] });
      expect(kubeSchemaProblems(job)).toEqual([]);
      expect(restrictedPodSecurityProblems(job.spec?.template.spec)).toEqual([]);
      const config = validateConfig(configOf(job));
      expect(config.success, JSON.stringify(config)).toBe(true);
      expect(job.spec?.template.spec?.containers[0]?.args?.slice(-2)).toEqual(['--result-file', '/dev/termination-log']);
    }
    expect(sourceArgs(sources[1]!)).toEqual(['--profile', 'restore-source', '--from', 's3://orders-backups/orders/orders-nightly-1']);
    const pvcJob = restoreJob({ group: g, kind: 'init', name: 'j', source: sources[2]!, target, mysqlSecretName: 's', args: [] });
    expect(pvcJob.spec?.template.spec?.volumes).toContainEqual({ name: 'restore-source', persistentVolumeClaim: { claimName: 'old-backups', readOnly: true } });
  });

  it('runs pitr download in an init container into an emptyDir the restore reads, with the archive profile mounted apart', () => {
    const source = resolveRestoreSource(g, { mysqlBackupRef: { name: 'orders-preupgrade' } }, 'spec.initFromBackup.source', () => succeeded);
    const archive = pitrArchiveProfile(g, 'spec.initFromBackup');
    const job = restoreJob({
      group: g,
      kind: 'init',
      name: 'mysql-orders-init-restore',
      source,
      target,
      mysqlSecretName: 's',
      args: ['restore', 'bootstrap'],
      pointInTime: { archive, spec: { stopDatetime: '2026-11-29T09:30:00Z' } },
    });
    expect(kubeSchemaProblems(job)).toEqual([]);
    const pod = job.spec?.template.spec;
    expect(pod?.initContainers?.[0]?.args).toEqual(['pitr', 'download', '--profile', 'archive', '--backup', 'orders-nightly-20261129-020000', '--stop-datetime', '2026-11-29T09:30:00Z', '--dest', '/pitr-binlogs']);
    expect(pod?.volumes).toContainEqual({ name: 'pitr-binlogs', emptyDir: {} });
    expect(pod?.initContainers?.[0]?.volumeMounts?.map((m) => m.mountPath)).toContain('/archive');
    const config = validateConfig(configOf(job));
    expect(config.success && config.data.backup.pitr?.profileName).toBe('archive');
    expect(config.success && config.data.backup.profiles.map((p) => p.name)).toEqual(['nightly', 'archive']);
    expect(() => pitrArchiveProfile(group({ backup: { profiles: [{ name: 'p', storage: { type: 'PVC', pvc: { claimName: 'c' } } }] } }), 'spec.initFromBackup')).toThrow(/spec.initFromBackup.pointInTime/);
  });

  it('names in-place Jobs by their confirm token, within 63 characters, and derives an immutable Secret', () => {
    expect(restoreJobName('orders', 'in-place', '2026-04-17T14:32:00Z')).toBe('mysql-orders-restore-20260417t143200z');
    expect(restoreJobName('a'.repeat(60), 'in-place', '2026-04-17T14:32:00Z').length).toBeLessThanOrEqual(63);
    const secret = derivedRestoreSecret(g, 'mysql-orders-init-restore', 'init', { user: 'root', password: 'pw' });
    expect(kubeSchemaProblems(secret)).toEqual([]);
    expect(secret).toMatchObject({ immutable: true, metadata: { name: 'mysql-orders-init-restore-mysql-creds', ownerReferences: [{ kind: 'MysqlFailoverGroup', uid: 'group-uid' }] } });
  });
});
