/**
 * Verification in the cluster end to end (issue 11): deploy/ applied with kubectl, a
 * MysqlFailoverGroup whose profile has a verification schedule, a real MariaDB server, a PVC
 * profile, `bloodraven daemon --kubernetes` as a process, and every Job run by the test cluster's
 * Job runner as the project's own CLI: the backup, the schedule's `verify request`, and the
 * verification itself (`verify --scratch sandbox`, a real scratch MariaDB restored and compared).
 *
 * Shown here: the verification CronJob and the requester's Role; a scheduled verification that
 * passes with its measured restore time, shown by kubectl's printer columns, on the MysqlBackup
 * and in /metrics; retention keeping the newest verified backup (minKeepVerified); a backup whose
 * stored rows were changed (with the record fixed up, so only the content checksum can tell)
 * failing, naming `schema.table`; a verification with no backup to verify; and every object the
 * daemon wrote checked against Kubernetes' schemas and the restricted Pod Security Standard.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { backupCrd, failoverGroupCrd, verificationCrd } from '../../src/lib/kube/crds.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { startDaemon, type DaemonProcess } from '../support/kube/daemon-process.js';
import { deniedRequests, rbacGrantsFor } from '../support/kube/rbac.js';
import { createTestClock, type TestClock } from '../support/kube/test-clock.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const ns = 'shop';
const password = 'pw-for-backups';
/** The daemon's identity: deploy/'s ServiceAccount, as its token would say. */
const daemonUser = 'system:serviceaccount:default:bloodraven';
const requester = { namespace: ns, name: 'mysql-shop-backup-requester' };

type Json = Record<string, unknown>;
interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface BackupCr {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { phase?: string; backupName?: string; verification?: { result: string; name: string; time: string }; conditions?: Condition[] };
}
interface VerificationCr {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { triggeredBy?: string; profileName: string; mysqlBackupRef?: { name: string } };
  status?: {
    phase?: string;
    backupRef?: string;
    backupName?: string;
    jobName?: string;
    startTime?: string;
    completionTime?: string;
    restoreSeconds?: number;
    tables?: number;
    rows?: number;
    objects?: number;
    bytes?: number;
    mismatches?: Array<{ object: string; check: string; expected?: string; actual?: string }>;
    message?: string;
    conditions?: Condition[];
  };
}

let server: TestServer;
let cluster: TestCluster<TestClock>;
let daemon: DaemonProcess;
let work: string;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- daemon output ---\n${daemon.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const backupNamed = (name: string): BackupCr | undefined => cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', ns, name) as unknown as BackupCr | undefined;
const verifications = (): VerificationCr[] => cluster.api.list('shipstream.io/v1alpha1', 'MysqlBackupVerification', ns) as unknown as VerificationCr[];
const verificationNamed = (name: string): VerificationCr | undefined => verifications().find((v) => v.metadata.name === name);
const events = (): Array<{ reason: string; note?: string; type: string; regarding?: { name?: string; kind?: string } }> => cluster.api.list('events.k8s.io/v1', 'Event', ns) as never;

async function succeededBackup(name: string): Promise<BackupCr> {
  await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name, namespace: ns }, spec: { failoverGroupRef: { name: 'shop' }, profileName: 'local' } }));
  const done = await until(`MysqlBackup ${name} to finish`, () => {
    const b = backupNamed(name);
    return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
  });
  expect(done.status?.phase, JSON.stringify(done.status?.conditions)).toBe('Succeeded');
  return done;
}

async function finished(name: string): Promise<VerificationCr> {
  return until(`MysqlBackupVerification ${name} to finish`, () => {
    const v = verificationNamed(name);
    return v?.status?.phase === 'Passed' || v?.status?.phase === 'Failed' ? v : undefined;
  });
}

const runs = (result: 'success' | 'failure'): Promise<number> =>
  daemon.metric(`bloodraven_verification_runs_total{namespace="${ns}",group="shop",profile="local",result="${result}"}`).then((v) => v ?? 0);

/** 20 seconds past the next 05:00 UTC after `now`: when the verification schedule fires. */
function nextFiveUtc(now: Date): Date {
  const at = new Date(now);
  at.setUTCHours(5, 0, 20, 0);
  if (at <= now) at.setUTCDate(at.getUTCDate() + 1);
  return at;
}

function groupManifest(): Json {
  const claim = { type: 'PVC', pvc: { claimName: 'dumps' } };
  return {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name: 'shop', namespace: ns },
    spec: {
      sites: [{ name: 'main', mysql: { host: '127.0.0.1', port: server.port } }],
      credentials: { backupSecret: 'mysql-backup' },
      backup: {
        profiles: [
          {
            name: 'local',
            storage: claim,
            // Plain TSV data files, so the test can change a row's bytes in place.
            dump: { threads: 1, compression: 'none' },
            retentionPolicy: { count: 1, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 1 },
            // 05:00 UTC every day.
            verification: { schedule: '0 5 * * *', timeZone: 'Etc/UTC' },
          },
          { name: 'empty', storage: { type: 'PVC', pvc: { claimName: 'empty-dumps' } } },
        ],
      },
    },
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-kube-verify-'));
  server = await startTestServer();
  await sql(
    server,
    `CREATE USER 'backup'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON *.* TO 'backup'@'%';
     CREATE DATABASE app; CREATE TABLE app.orders (id INT PRIMARY KEY, note VARCHAR(40));
     INSERT INTO app.orders SELECT seq, CONCAT('order ', seq) FROM app.seq_1_to_300;
     CREATE TABLE app.customers (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO app.customers SELECT seq, CONCAT('customer ', seq) FROM app.seq_1_to_50;
     CREATE VIEW app.big_orders AS SELECT * FROM app.orders WHERE id > 100`,
  );
  // The CronJob controller's clock starts at the real now: the CronJob's creationTimestamp is real
  // time, and no 05:00 UTC may lie between it and the clock, or the schedule would fire at once.
  cluster = await startTestCluster({ clock: createTestClock(), repoRoot, backoffMs: 200 });
  await kubectl(['apply', '-k', join(repoRoot, 'deploy')]);
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'mysql-backup', '--from-literal=username=backup', `--from-literal=password=${password}`]);
  for (const claim of ['dumps', 'empty-dumps']) {
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claim, namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }));
  }
  const daemonKubeconfig = join(work, 'daemon.kubeconfig');
  await cluster.api.writeKubeconfig(daemonKubeconfig, { token: daemonUser });
  daemon = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-0', home: join(work, 'home') });
  await kubectl(['apply', '-f', '-'], JSON.stringify(groupManifest()));
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  await cluster?.stop();
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('Kubernetes mode: verification in the cluster', () => {
  it('keeps a verification CronJob for the profile, whose account may create MysqlBackupVerifications', async () => {
    const cronJob = await until('the verification CronJob', () => cluster.api.get('batch/v1', 'CronJob', ns, 'mysql-shop-verify-local'));
    expect(cronJob).toMatchObject({ spec: { schedule: '0 5 * * *', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid' } });
    const owner = (cronJob.metadata as { ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> }).ownerReferences;
    expect(owner).toEqual([expect.objectContaining({ kind: 'MysqlFailoverGroup', name: 'shop', controller: true })]);
    const pod = (cronJob.spec as { jobTemplate: { spec: { template: { spec: { serviceAccountName: string; containers: Array<{ args: string[] }> } } } } }).jobTemplate.spec.template.spec;
    expect(pod.containers[0]?.args).toEqual(['verify', 'request', '--namespace', ns, '--group', 'shop', '--profile', 'local']);
    expect(pod.serviceAccountName).toBe(requester.name);
    const role = await until('the requester Role', () => cluster.api.get('rbac.authorization.k8s.io/v1', 'Role', ns, requester.name) as { rules: unknown[] } | undefined);
    expect(role.rules).toEqual([{ apiGroups: ['shipstream.io'], resources: ['mysqlbackups', 'mysqlbackupverifications'], verbs: ['create'] }]);
    // The profile without a verification schedule has no CronJob.
    expect(cluster.api.get('batch/v1', 'CronJob', ns, 'mysql-shop-verify-empty')).toBeUndefined();
  });

  it('verifies the newest backup when the schedule fires: Passed, with the measured restore time, on the CR, the MysqlBackup and /metrics', async () => {
    const backup = await succeededBackup('b1');
    expect(await runs('success')).toBe(0);
    expect(verifications()).toEqual([]);
    cluster.clock.set(nextFiveUtc(cluster.clock.now()));
    await cluster.runner.checkCronJobs();
    const scheduled = await until('the scheduled MysqlBackupVerification', () => verifications().find((v) => v.spec.triggeredBy === 'schedule'));
    expect(scheduled.spec.profileName).toBe('local');
    const done = await finished(scheduled.metadata.name);
    expect(done.status?.phase, done.status?.message).toBe('Passed');
    expect(done.status).toMatchObject({ backupRef: 'b1', backupName: backup.status?.backupName, jobName: `mysqlbackupverification-${scheduled.metadata.name}`, mismatches: [] });
    expect(done.status?.restoreSeconds).toBeGreaterThan(0);
    expect(done.status?.tables).toBe(2);
    expect(done.status?.rows).toBe(350);
    // Both tables and the view, at least, are among the inventory's objects found.
    expect(done.status?.objects).toBeGreaterThanOrEqual(3);
    expect(done.status?.bytes).toBeGreaterThan(0);
    expect(Date.parse(done.status?.completionTime ?? '')).toBeGreaterThanOrEqual(Date.parse(done.status?.startTime ?? ''));

    const table = await kubectl(['-n', ns, 'get', 'mysqlbackupverifications']);
    const header = table.split('\n')[0] ?? '';
    expect(header.split(/\s+/)).toEqual(expect.arrayContaining(['NAME', 'PHASE', 'BACKUP', 'TABLES', 'RTO', 'AGE']));
    const row = table.split('\n').find((l) => l.startsWith(`${scheduled.metadata.name} `));
    expect(row).toMatch(new RegExp(`^${scheduled.metadata.name}\\s+Passed\\s+b1\\s+2\\s+[\\d.]+\\s+\\S+$`));

    const verified = await until('b1 status.verification', () => backupNamed('b1')?.status?.verification);
    expect(verified).toEqual({ result: 'Passed', name: scheduled.metadata.name, time: done.status?.completionTime });
    expect(await runs('success')).toBe(1);
    expect(await runs('failure')).toBe(0);
    expect(await daemon.metric(`bloodraven_verification_restore_seconds{namespace="${ns}",group="shop",profile="local"}`)).toBe(done.status?.restoreSeconds);
    expect(await daemon.metric(`bloodraven_verification_last_success_timestamp_seconds{namespace="${ns}",group="shop",profile="local"}`)).toBe(Date.parse(done.status?.completionTime ?? '') / 1000);
    const reasons = events().filter((e) => e.regarding?.name === scheduled.metadata.name).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['VerificationStarted', 'VerificationPassed']));
  });

  it('keeps the newest verified backup through retention (minKeepVerified), beyond the count', async () => {
    await succeededBackup('b2');
    await succeededBackup('b3');
    // count 1: b2 (never verified) goes; b1, the newest verified backup, stays.
    await until('b2 deleted by retention', () => (backupNamed('b2') ? undefined : true));
    expect(backupNamed('b1')?.metadata.deletionTimestamp).toBeUndefined();
    expect(backupNamed('b1')?.status?.verification?.result).toBe('Passed');
    expect(backupNamed('b3')?.metadata.deletionTimestamp).toBeUndefined();
    // `kubectl get mysqlbackups -o wide` shows which backups are verified.
    const wide = await kubectl(['-n', ns, 'get', 'mysqlbackups', '-o', 'wide']);
    expect((wide.split('\n')[0] ?? '').split(/\s+/)).toContain('VERIFIED');
    expect(wide.split('\n').find((l) => l.startsWith('b1 '))).toMatch(/\sPassed$/);
  });

  it('fails a backup whose stored rows were changed, naming the table, when only the content checksum can tell', async () => {
    const b1 = backupNamed('b1');
    const folder = join(cluster.runner.pvcPath(ns, 'dumps'), b1?.status?.backupName ?? '?');
    const recordPath = join(folder, 'bloodraven.json');
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as BackupRecord;
    const file = record.files.find((f) => f.name.startsWith('app@orders@'));
    expect(file, record.files.map((f) => f.name).join(', ')).toBeDefined();
    const path = join(folder, file?.name ?? '?');
    const content = await readFile(path);
    // One row's value changed, its length kept: the file's size stays what the record says.
    const at = content.indexOf('order 42\n');
    expect(at).toBeGreaterThan(0);
    content.write('order 4X', at);
    await writeFile(path, content);
    const fixed = record.files.map((f) => (f.name === file?.name ? { ...f, storedBytes: content.length, sha256: createHash('sha256').update(content).digest('hex') } : f));
    await writeFile(recordPath, JSON.stringify({ ...record, files: fixed }));

    await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackupVerification', metadata: { name: 'recheck-b1', namespace: ns }, spec: { failoverGroupRef: { name: 'shop' }, profileName: 'local', mysqlBackupRef: { name: 'b1' } } }));
    const done = await finished('recheck-b1');
    expect(done.status?.phase, done.status?.message).toBe('Failed');
    expect(done.status?.mismatches).toEqual([expect.objectContaining({ object: 'app.orders', check: 'content checksum' })]);
    // The restore itself went through: its time and counts are recorded too.
    expect(done.status?.restoreSeconds).toBeGreaterThan(0);
    expect(done.status?.tables).toBe(2);
    const failed = await until('the VerificationFailed event', () => events().find((e) => e.regarding?.name === 'recheck-b1' && e.reason === 'VerificationFailed'));
    expect(failed.type).toBe('Warning');
    expect(failed.note).toMatch(/app\.orders: content checksum differs/);
    const verified = await until('b1 status.verification Failed', () => (backupNamed('b1')?.status?.verification?.result === 'Failed' ? backupNamed('b1')?.status?.verification : undefined));
    expect(verified).toMatchObject({ name: 'recheck-b1' });
    expect(await runs('failure')).toBe(1);
    expect(await runs('success')).toBe(1);
    const listed = await kubectl(['-n', ns, 'get', 'mysqlbackupverifications', 'recheck-b1', '-o', 'wide']);
    expect(listed).toMatch(/recheck-b1\s+Failed\s+b1\s+2\s+/);
    expect(listed).toMatch(/app\.orders/);
  });

  it('fails a verification whose profile has no Succeeded backup, saying so', async () => {
    await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackupVerification', metadata: { name: 'nothing-yet', namespace: ns }, spec: { failoverGroupRef: { name: 'shop' }, profileName: 'empty' } }));
    const done = await finished('nothing-yet');
    expect(done.status?.phase).toBe('Failed');
    expect(done.status?.message).toMatch(/no Succeeded MysqlBackup of profile "empty"/);
    expect(done.status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('NoBackupToVerify');
    expect(cluster.api.get('batch/v1', 'Job', ns, 'mysqlbackupverification-nothing-yet')).toBeUndefined();
  });

  it('wrote only objects Kubernetes’ own schemas accept, every pod under the restricted Pod Security Standard', () => {
    const written = cluster.api.writes.filter((w) => w.user === daemonUser);
    const kinds = new Set(written.map((w) => w.kind));
    for (const kind of ['Job', 'CronJob', 'Role', 'MysqlBackup', 'MysqlBackupVerification', 'MysqlFailoverGroup', 'Event']) expect(kinds, kind).toContain(kind);
    const crds = [failoverGroupCrd(), backupCrd(), verificationCrd()] as never[];
    const problems = written.flatMap((w) => kubeSchemaProblems(w.object, crds).map((p) => `${w.verb} ${w.kind} ${w.name}${w.subresource ? `/${w.subresource}` : ''}: ${p}`));
    expect(problems).toEqual([]);
    type PodHolder = { spec?: { template?: { spec?: unknown }; jobTemplate?: { spec?: { template?: { spec?: unknown } } } } };
    const pods = written.flatMap((w) => {
      const o = w.object as PodHolder;
      const pod = w.kind === 'Job' ? o.spec?.template?.spec : w.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : undefined;
      return pod === undefined ? [] : [{ name: `${w.kind} ${w.name}`, pod }];
    });
    expect(pods.some((p) => p.name.startsWith('Job mysqlbackupverification-'))).toBe(true);
    expect(pods.flatMap(({ name, pod }) => restrictedPodSecurityProblems(pod).map((p) => `${name}: ${p}`))).toEqual([]);
  });

  it('made only requests that RBAC grants: the daemon by deploy/, the schedule’s pod by the requester Role', async () => {
    const rendered = parseAllDocuments(await kubectl(['kustomize', join(repoRoot, 'deploy')])).map((d) => d.toJS() as unknown);
    const made = cluster.api.requests.filter((r) => r.user === daemonUser);
    expect(made.some((r) => r.resource === 'mysqlbackupverifications' && r.subresource === 'status')).toBe(true);
    expect(deniedRequests(rbacGrantsFor(rendered, { namespace: 'default', name: 'bloodraven' }), made)).toEqual([]);
    const stored = ['Role', 'RoleBinding'].map((kind) => ({ kind, ...(cluster.api.get('rbac.authorization.k8s.io/v1', kind, ns, requester.name) as Json) }));
    const byRequester = cluster.api.requests.filter((r) => r.user === `system:serviceaccount:${ns}:${requester.name}`);
    expect(byRequester.some((r) => r.verb === 'create' && r.resource === 'mysqlbackupverifications')).toBe(true);
    expect(deniedRequests(rbacGrantsFor(stored, requester), byRequester)).toEqual([]);
  });
});
