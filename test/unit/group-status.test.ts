/**
 * The status page's model in Kubernetes mode (describeGroupStatus): a group's MysqlBackups by
 * profile, newest first, with a failure's condition message and a verification; schedules with
 * their next runs; and the window from the reader, or its reason (a PVC archive cannot be read by
 * the daemon).
 */
import { describe, expect, it } from 'vitest';
import { archiveWindowReader } from '../../src/daemon/kube/archive-window.js';
import { describeGroupStatus } from '../../src/daemon/kube/group-status.js';
import type { StoredBackup, StoredGroup } from '../../src/daemon/kube/kube-ops.js';
import { fixedClock } from '../../src/lib/clock.js';
import { kubeStatusPages } from '../../src/daemon/kube/status-pages.js';

const now = new Date('2026-03-01T12:00:00Z');

function group(name: string, pitrProfile: 'archive' | 'local' | null): StoredGroup {
  return {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name, namespace: 'prod', uid: `uid-${name}` },
    spec: {
      credentials: { backupSecret: 'mysql-backup' },
      sites: [{ name: 'east' }],
      backup: {
        profiles: [
          { name: 'archive', storage: { type: 'S3', s3: { bucket: 'backups', prefix: 'orders/', credentialsSecret: 's3-creds' } } },
          { name: 'local', storage: { type: 'PVC', pvc: { claimName: 'backup-claim' } }, verification: { schedule: '0 4 * * *' } },
        ],
        schedules: [{ name: 'nightly', profileName: 'local', schedule: '0 2 * * *', timeZone: 'Europe/Berlin' }],
        ...(pitrProfile ? { pitr: { enabled: true, profileName: pitrProfile } } : {}),
      },
    },
  } as unknown as StoredGroup;
}

function backup(name: string, groupName: string, profile: string, status: NonNullable<StoredBackup['status']>): StoredBackup {
  return { apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name, namespace: 'prod', creationTimestamp: status.startTime }, spec: { failoverGroupRef: { name: groupName }, profileName: profile, triggeredBy: 'manual' }, status } as unknown as StoredBackup;
}

const backups = [
  backup('b1', 'orders', 'local', { phase: 'Succeeded', startTime: '2026-03-01T02:00:00Z', completionTime: '2026-03-01T02:10:00Z', sizeBytes: 1000, verification: { result: 'Passed', name: 'v1', time: '2026-03-01T04:05:00Z' } }),
  backup('b2', 'orders', 'local', {
    phase: 'Failed',
    startTime: '2026-03-01T03:00:00Z',
    completionTime: '2026-03-01T03:01:00Z',
    conditions: [{ type: 'Failed', status: 'True', reason: 'JobFailed', message: 'cannot reach the MySQL server', lastTransitionTime: '2026-03-01T03:01:00Z' }],
  }),
  backup('other', 'billing', 'local', { phase: 'Succeeded', startTime: '2026-03-01T05:00:00Z' }),
];

describe('describeGroupStatus', () => {
  it("gives each profile its own group's MysqlBackups, newest first, with failures, verification and next runs", async () => {
    const status = await describeGroupStatus(group('orders', null), backups, now);
    expect(status.group).toBe('prod/orders');
    const local = status.profiles.find((p) => p.name === 'local')!;
    expect(local.location).toBe('pvc://backup-claim');
    expect(local.backups.map((b) => [b.name, b.phase, b.durationSeconds, b.failure])).toEqual([
      ['b2', 'Failed', 60, 'cannot reach the MySQL server'],
      ['b1', 'Succeeded', 600, null],
    ]);
    expect(local.lastFailure?.name).toBe('b2');
    expect(local.verification.newestVerified).toEqual({ name: 'b1', verifiedAt: '2026-03-01T04:05:00Z' });
    expect(local.verification.schedule?.nextRun).toBe('2026-03-02T04:00:00.000Z');
    expect(status.profiles.find((p) => p.name === 'archive')?.location).toBe('s3://backups/orders');
    // 02:00 in Berlin is 01:00 UTC: the next one after 12:00 UTC is tomorrow's.
    expect(status.schedules).toEqual([{ name: 'nightly', profileName: 'local', schedule: '0 2 * * *', timeZone: 'Europe/Berlin', nextRun: '2026-03-02T01:00:00.000Z' }]);
    expect(status.pitr).toBeNull();
  });

  it('reads the window of the archive profile, or says why it cannot (a PVC archive)', async () => {
    const readWindow = archiveWindowReader({ readSecret: () => Promise.reject(new Error('not asked')) }, fixedClock(now));
    const pvc = await describeGroupStatus(group('orders', 'local'), backups, now, readWindow);
    expect(pvc.pitr?.error).toMatch(/PersistentVolumeClaim, which the daemon does not mount: run bloodraven status or bloodraven pitr window where the claim is mounted/);

    const missingSecret = await describeGroupStatus(group('orders', 'archive'), backups, now, archiveWindowReader({ readSecret: () => Promise.resolve(null) }, fixedClock(now)));
    expect(missingSecret.pitr?.error).toBe('Secret "s3-creds" in namespace prod (storage.s3.credentialsSecret of profile archive) is missing or lacks AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  });

  it("serves the first group's page without ?group, another with it, and says so for an unknown one", async () => {
    const groups = [group('orders', null), group('billing', null)];
    const pages = kubeStatusPages({ groups: { list: () => groups }, backups: { list: () => backups }, clock: fixedClock(now) });
    const first = await pages(new URLSearchParams());
    expect(first).toContain('<title>bloodraven status: prod/billing</title>');
    expect(first).toContain('data-backup="other"');
    expect(first).toContain('<a href="?group=prod%2Forders">prod/orders</a>');
    const orders = await pages(new URLSearchParams({ group: 'prod/orders' }));
    expect(orders).toContain('data-backup="b2"');
    expect(orders).not.toContain('data-backup="other"');
    expect(await pages(new URLSearchParams({ group: 'prod/nope' }))).toContain('no MysqlFailoverGroup prod/nope');
  });
});
