/**
 * The pure decisions of verification in the cluster (issue 11): which MysqlBackup a run verifies,
 * which backups retention keeps as verified (minKeepVerified), the bounded names of the Job and
 * the CronJob, and the requester Role's rules.
 */
import { describe, expect, it } from 'vitest';
import type { StoredBackup, StoredVerification } from '../../src/daemon/kube/kube-ops.js';
import { resolveVerifiedBackup } from '../../src/daemon/kube/verification-reconciler.js';
import { verificationCronJob } from '../../src/lib/kube/job-spec.js';
import { maxCronJobNameLength, maxLabelLength, requesterRole, verificationCronJobName, verificationJobName } from '../../src/lib/kube/objects.js';
import { validateGroupSpec } from '../../src/lib/kube/resources.js';

function backup(name: string, phase: string, completed: string, extra: { profile?: string; deleting?: boolean; verified?: 'Passed' | 'Failed'; stored?: string | null } = {}): StoredBackup {
  return {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlBackup',
    metadata: { name, namespace: 'shop', ...(extra.deleting ? { deletionTimestamp: new Date('2026-12-01T00:00:00Z') } : {}) },
    spec: { failoverGroupRef: { name: 'orders' }, profileName: extra.profile ?? 'local' },
    status: {
      phase: phase as 'Succeeded',
      startTime: completed,
      completionTime: completed,
      ...(extra.stored === null ? {} : { backupName: extra.stored ?? `stored-${name}` }),
      ...(extra.verified ? { verification: { result: extra.verified, name: `v-${name}`, time: completed } } : {}),
    },
  };
}

function verification(spec: Partial<StoredVerification['spec']> = {}): StoredVerification {
  return { apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackupVerification', metadata: { name: 'v', namespace: 'shop' }, spec: { failoverGroupRef: { name: 'orders' }, profileName: 'local', ...spec } };
}

describe('resolveVerifiedBackup', () => {
  const backups = [
    backup('old', 'Succeeded', '2026-12-01T01:00:00Z'),
    backup('newest-failed', 'Failed', '2026-12-01T04:00:00Z'),
    backup('newest-deleting', 'Succeeded', '2026-12-01T05:00:00Z', { deleting: true }),
    backup('other-profile', 'Succeeded', '2026-12-01T06:00:00Z', { profile: 'offsite' }),
    backup('new', 'Succeeded', '2026-12-01T03:00:00Z'),
  ];

  it('takes the profile’s newest Succeeded backup that is not being deleted', () => {
    expect(resolveVerifiedBackup(verification(), backups)).toMatchObject({ ok: true, storedName: 'stored-new', backup: { metadata: { name: 'new' } } });
  });

  it('says so when the profile has none', () => {
    expect(resolveVerifiedBackup(verification({ profileName: 'empty' }), backups)).toEqual({ ok: false, reason: 'NoBackupToVerify', message: expect.stringMatching(/no Succeeded MysqlBackup of profile "empty"/) as string });
  });

  it('takes the named backup, refusing one that is missing, not Succeeded, being deleted, or of another profile', () => {
    expect(resolveVerifiedBackup(verification({ mysqlBackupRef: { name: 'old' } }), backups)).toMatchObject({ ok: true, storedName: 'stored-old' });
    expect(resolveVerifiedBackup(verification({ mysqlBackupRef: { name: 'nope' } }), backups)).toMatchObject({ ok: false, reason: 'BackupNotFound' });
    expect(resolveVerifiedBackup(verification({ mysqlBackupRef: { name: 'newest-failed' } }), backups)).toMatchObject({ ok: false, message: expect.stringMatching(/is Failed, not Succeeded/) as string });
    expect(resolveVerifiedBackup(verification({ mysqlBackupRef: { name: 'newest-deleting' } }), backups)).toMatchObject({ ok: false, message: expect.stringMatching(/being deleted/) as string });
    expect(resolveVerifiedBackup(verification({ mysqlBackupRef: { name: 'other-profile' } }), backups)).toMatchObject({ ok: false, message: expect.stringMatching(/profile "offsite", not to group "orders" profile "local"/) as string });
    expect(resolveVerifiedBackup(verification({ mysqlBackupRef: { name: 'x' } }), [backup('x', 'Succeeded', '2026-12-01T01:00:00Z', { stored: null })])).toMatchObject({ ok: false, message: expect.stringMatching(/no status.backupName/) as string });
  });
});

describe('names and rules', () => {
  it('bounds the Job and CronJob names, keeping long names distinct', () => {
    const long = 'x'.repeat(80);
    expect(verificationJobName('v1')).toBe('mysqlbackupverification-v1');
    expect(verificationJobName(long).length).toBeLessThanOrEqual(maxLabelLength);
    expect(verificationJobName(long)).not.toBe(verificationJobName(`${long}y`));
    expect(verificationCronJobName('orders', 'local')).toBe('mysql-orders-verify-local');
    expect(verificationCronJobName('orders', long).length).toBeLessThanOrEqual(maxCronJobNameLength);
  });

  it('grants the requester create on mysqlbackupverifications only when a profile has a verification schedule', () => {
    const group = (verification?: object) => {
      const parsed = validateGroupSpec({
        sites: [{ name: 'east' }],
        credentials: { backupSecret: 's' },
        backup: { profiles: [{ name: 'local', storage: { type: 'PVC', pvc: { claimName: 'c' } }, ...(verification ? { verification } : {}) }] },
      });
      if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
      return { metadata: { name: 'orders', namespace: 'shop', uid: 'u' }, spec: parsed.data };
    };
    expect(requesterRole(group()).rules).toEqual([{ apiGroups: ['shipstream.io'], resources: ['mysqlbackups'], verbs: ['create'] }]);
    const verifying = group({ schedule: '0 5 * * *', timeZone: 'Europe/Berlin' });
    expect(requesterRole(verifying).rules).toEqual([{ apiGroups: ['shipstream.io'], resources: ['mysqlbackups', 'mysqlbackupverifications'], verbs: ['create'] }]);
    expect(verificationCronJob(group(), group().spec.backup!.profiles[0]!)).toBeNull();
    expect(verificationCronJob(verifying, verifying.spec.backup!.profiles[0]!)?.spec).toMatchObject({ schedule: '0 5 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: 'Forbid' });
  });
});
