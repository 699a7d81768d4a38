/**
 * Kubernetes mode end to end, as a platform team uses it: the CRDs applied with kubectl, a
 * MysqlFailoverGroup whose two sites are real MariaDB servers in real replication, S3 (s3rver) and
 * a PVC profile, `bloodraven daemon --kubernetes` as a process, and every Job run by the test
 * cluster's Job runner as the project's own CLI.
 *
 * Shown here: a scheduled backup taken from the replica with its real coordinates on the CR; the
 * fallback to the primary when the replica stops replicating; sourceSiteOverride; an ad-hoc backup
 * created, watched and listed with kubectl; a failing scheduled backup retried with backoff;
 * retention deleting CRs and their stored dumps through cleanup Jobs; a failing cleanup holding
 * the finalizer until it can succeed; and every object the daemon wrote checked against
 * Kubernetes' own schemas and the restricted Pod Security Standard.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupCrd, failoverGroupCrd } from '../../src/lib/kube/crds.js';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { startDaemon, type DaemonProcess } from '../support/kube/daemon-process.js';
import { createTestClock, type TestClock } from '../support/kube/test-clock.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';
import { deniedRequests, rbacGrantsFor } from '../support/kube/rbac.js';
import { parseAllDocuments } from 'yaml';
import { sql } from '../support/mariadb.js';
import { startReplicatedSites, type ReplicatedSites } from '../support/replication.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const ns = 'orders';
/** The daemon's identity (its ServiceAccount token would say this), to tell its writes from the Job runner's. */
const daemonUser = 'system:serviceaccount:bloodraven-system:bloodraven';

type Json = Record<string, unknown>;
interface BackupCr {
  metadata: { name: string; labels?: Record<string, string>; finalizers?: string[]; deletionTimestamp?: string; creationTimestamp?: string };
  spec: { attempt?: number; triggeredBy?: string; retryOf?: string };
  status?: {
    phase?: string;
    sourceSite?: string;
    location?: string;
    sizeBytes?: number;
    gtidExecuted?: string;
    binlogFile?: string;
    binlogPos?: number;
    backupName?: string;
    startTime?: string;
    completionTime?: string;
    attempt?: number;
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  };
}

let sites: ReplicatedSites;
let s3: S3TestServer;
let cluster: TestCluster<TestClock>;
let daemon: DaemonProcess;
let work: string;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function backups(): BackupCr[] {
  return cluster.api.list('shipstream.io/v1alpha1', 'MysqlBackup', ns) as unknown as BackupCr[];
}

function backupNamed(name: string): BackupCr | undefined {
  return cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', ns, name) as unknown as BackupCr | undefined;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- daemon output ---\n${daemon.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function terminal(name: string): Promise<BackupCr> {
  return until(`MysqlBackup ${name} to finish`, () => {
    const b = backupNamed(name);
    return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
  });
}

function events(): Array<{ reason: string; note?: string; type: string; regarding?: { name?: string; kind?: string } }> {
  return cluster.api.list('events.k8s.io/v1', 'Event', ns) as never;
}


async function createBackup(name: string, spec: Json, labels: Record<string, string> = {}): Promise<void> {
  const manifest = {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlBackup',
    metadata: { name, namespace: ns, labels },
    spec: { failoverGroupRef: { name: 'orders' }, triggeredBy: 'manual', ...spec },
  };
  await kubectl(['create', '-f', '-'], JSON.stringify(manifest));
}

function groupManifest(): Json {
  const offsite = (name: string, bucket: string) => ({
    name,
    storage: { type: 'S3', s3: { bucket, prefix: 'orders', region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } },
    dump: { threads: 2 },
  });
  return {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name: 'orders', namespace: ns },
    spec: {
      // A field of the group's own operator: bloodraven keeps it.
      topology: { managedBy: 'failover-operator' },
      sites: [
        { name: 'east', mysql: { host: '127.0.0.1', port: sites.primary.port } },
        { name: 'west', mysql: { host: '127.0.0.1', port: sites.replica.port } },
      ],
      credentials: { backupSecret: 'mysql-backup' },
      backup: {
        maxLagSecondsForSource: 120,
        retry: { maxAttempts: 2, initialBackoffSeconds: 1, maxBackoffSeconds: 5 },
        profiles: [
          offsite('offsite', 'backups'),
          { name: 'local', retention: 1, storage: { type: 'PVC', pvc: { size: '1Gi' } } },
          offsite('broken', 'no-such-bucket'),
          { name: 'sealed', storage: { type: 'PVC', pvc: { size: '1Gi' } }, encryption: { passphraseSecret: 'backup-passphrase' } },
        ],
        schedules: [
          { name: 'nightly', profileName: 'offsite', schedule: '0 2 * * *', timeZone: 'America/Los_Angeles' },
          { name: 'weekly-broken', profileName: 'broken', schedule: '0 3 * * 0', timeZone: 'America/Los_Angeles' },
        ],
      },
    },
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-kube-e2e-'));
  [sites, s3] = await Promise.all([startReplicatedSites(), startS3Server({ buckets: ['backups'] })]);
  await sql(sites.primary, 'CREATE DATABASE app; CREATE TABLE app.orders (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO app.orders SELECT seq, CONCAT("order ", seq) FROM app.seq_1_to_500');
  await sites.caughtUp();
  // A Tuesday, 01:00 in Los Angeles: the nightly schedule is next due at 02:00 local, 10:00 UTC.
  cluster = await startTestCluster({ clock: createTestClock('2026-12-01T09:00:00Z'), repoRoot, backoffMs: 200 });
  await kubectl(['apply', '-f', join(repoRoot, 'crds')]);
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'mysql-backup', `--from-literal=username=${sites.account.user}`, `--from-literal=password=${sites.account.password}`]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-creds', `--from-literal=AWS_ACCESS_KEY_ID=${s3rverCredentials.accessKeyId}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${s3rverCredentials.secretAccessKey}`]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'backup-passphrase', '--from-literal=passphrase=correct horse battery staple']);
  const daemonKubeconfig = join(work, 'daemon.kubeconfig');
  await cluster.api.writeKubeconfig(daemonKubeconfig, { token: daemonUser });
  daemon = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-0', home: join(work, 'home') });
  await kubectl(['apply', '-f', '-'], JSON.stringify(groupManifest()));
  // The group's own operator reports the primary.
  await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeSite: 'east' } })]);
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  await cluster?.stop();
  await Promise.all([sites?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('Kubernetes mode: the backup controller', () => {
  it('makes each schedule a CronJob in its time zone, run by an account that may only create MysqlBackups', async () => {
    const cronJob = await until('the nightly CronJob', () => cluster.api.get('batch/v1', 'CronJob', ns, 'mysql-orders-backup-nightly'));
    expect(cronJob).toMatchObject({ spec: { schedule: '0 2 * * *', timeZone: 'America/Los_Angeles', concurrencyPolicy: 'Forbid' } });
    const owner = (cronJob.metadata as { ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> }).ownerReferences;
    expect(owner).toEqual([expect.objectContaining({ kind: 'MysqlFailoverGroup', name: 'orders', controller: true })]);
    const pod = (cronJob.spec as { jobTemplate: { spec: { template: { spec: { serviceAccountName: string; containers: Array<{ args: string[] }> } } } } }).jobTemplate.spec.template.spec;
    expect(pod.containers[0]?.args).toEqual(['backup', 'request', '--namespace', ns, '--group', 'orders', '--profile', 'offsite', '--schedule', 'nightly']);
    const role = cluster.api.get('rbac.authorization.k8s.io/v1', 'Role', ns, pod.serviceAccountName) as { rules: unknown[] };
    expect(role.rules).toEqual([{ apiGroups: ['shipstream.io'], resources: ['mysqlbackups'], verbs: ['create'] }]);
    // The operator's own field and status survive bloodraven's writes.
    const group = cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, 'orders') as { spec: Json; status: Json };
    expect(group.spec.topology).toEqual({ managedBy: 'failover-operator' });
    await until('the group Ready', () => {
      const g = cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, 'orders') as { status?: { activeSite?: string; conditions?: Array<{ type: string; status: string }> } };
      return g.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && g.status.activeSite === 'east';
    });
  });

  it('takes the scheduled backup from the replica, with the replica’s real coordinates on the CR', async () => {
    const [coords] = (await sql(sites.replica, 'SHOW MASTER STATUS')) as Array<{ File: string; Position: string | number }>;
    const [gtid] = (await sql(sites.replica, 'SELECT @@gtid_binlog_pos AS pos')) as Array<{ pos: string }>;
    cluster.clock.set('2026-12-01T10:00:20Z');
    await cluster.runner.checkCronJobs();
    const scheduled = await until('the scheduled MysqlBackup', () => backups().find((b) => b.metadata.labels?.['shipstream.io/schedule'] === 'nightly'));
    expect(scheduled.spec.triggeredBy).toBe('schedule');
    const done = await terminal(scheduled.metadata.name);
    expect(done.status).toMatchObject({ phase: 'Succeeded', sourceSite: 'west', gtidExecuted: gtid?.pos, binlogFile: coords?.File, binlogPos: Number(coords?.Position) });
    expect(done.status?.location).toMatch(/^s3:\/\/backups\/orders\//);
    expect(done.status?.sizeBytes).toBeGreaterThan(0);
    // The dump is in the bucket, complete.
    const stored = await readdir(join(s3.directory, 'backups', 'orders', done.status?.backupName ?? '?'), { recursive: true });
    expect(stored.some((f) => f.startsWith('@.done.json'))).toBe(true);
    // The Job's log keeps the sentinel line for people.
    const logs = await kubectl(['-n', ns, 'logs', `job/mysqlbackup-${scheduled.metadata.name}`]);
    expect(logs).toMatch(/BLOODRAVEN_DUMP_COMPLETE \{/);
    // The run's MySQL Secret is gone once the run is over.
    expect(cluster.api.get('v1', 'Secret', ns, `${scheduled.metadata.name}-mysql-creds`)).toBeUndefined();
    type GroupStatus = { status: { backupSchedules?: Json[]; lastBackupTime?: string } };
    await until('the group status rollup', () => {
      const g = cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, 'orders') as GroupStatus;
      return g.status.backupSchedules?.find((s) => s.name === 'nightly')?.lastSuccessfulBackupName === scheduled.metadata.name ? g : undefined;
    });
    const reasons = events().filter((e) => e.regarding?.name === scheduled.metadata.name).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['BackupStarted', 'BackupSucceeded']));
  });

  it('falls back to the primary when the replica stops replicating, and sourceSiteOverride wins over both', async () => {
    await sites.stopReplication();
    try {
      await createBackup('fallback', { profileName: 'offsite' });
      const fallback = await terminal('fallback');
      expect(fallback.status).toMatchObject({ phase: 'Succeeded', sourceSite: 'east' });
      const started = events().find((e) => e.regarding?.name === 'fallback' && e.reason === 'BackupStarted');
      expect(started?.note).toMatch(/west not replicating/);
      await createBackup('override', { profileName: 'offsite', sourceSiteOverride: 'west' });
      expect((await terminal('override')).status).toMatchObject({ phase: 'Succeeded', sourceSite: 'west' });
    } finally {
      await sites.startReplication();
    }
  });

  it('warns InFlightFailover when the active site changes while a backup runs', async () => {
    const setActive = (site: string) => kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeSite: site } })]);
    await createBackup('inflight', { profileName: 'offsite' });
    try {
      await until('inflight to run', () => backupNamed('inflight')?.status?.phase === 'Running');
      await setActive('west');
      const done = await terminal('inflight');
      expect(done.status?.phase).toBe('Succeeded');
      expect(done.status?.conditions?.find((c) => c.type === 'InFlightFailover')).toMatchObject({ status: 'True', reason: 'ActiveSiteChanged' });
      const warning = events().find((e) => e.regarding?.name === 'inflight' && e.reason === 'InFlightFailover');
      expect(warning?.type).toBe('Warning');
      expect(warning?.note).toMatch(/from "east" to "west"/);
    } finally {
      await setActive('east');
    }
  });

  it('runs an ad-hoc backup created, watched and listed with kubectl, into a provisioned PVC', async () => {
    await createBackup('adhoc-1', { profileName: 'local' });
    await kubectl(['-n', ns, 'wait', '--for=jsonpath={.status.phase}=Succeeded', 'mysqlbackup/adhoc-1', '--timeout=120s']);
    const table = await kubectl(['-n', ns, 'get', 'mysqlbackups']);
    const header = table.split('\n')[0] ?? '';
    expect(header.split(/\s+/)).toEqual(expect.arrayContaining(['NAME', 'PHASE', 'SOURCE', 'LOCATION', 'SIZE', 'AGE']));
    const row = table.split('\n').find((l) => l.startsWith('adhoc-1 '));
    expect(row).toMatch(/^adhoc-1\s+Succeeded\s+west\s+pvc:\/\/mysql-orders-backup-local\/orders-local-\d{8}-\d{6}\s+\d+\s+\d+s$/);
    const claim = cluster.api.get('v1', 'PersistentVolumeClaim', ns, 'mysql-orders-backup-local') as { spec: { resources: { requests: { storage: string } } } };
    expect(claim.spec.resources.requests.storage).toBe('1Gi');
    const adhoc = backupNamed('adhoc-1');
    expect(await readdir(cluster.runner.pvcPath(ns, 'mysql-orders-backup-local'))).toContain(adhoc?.status?.backupName);
  });

  it('encrypts a profile’s backups with the passphrase from its Secret', async () => {
    await createBackup('sealed-1', { profileName: 'sealed' });
    const done = await terminal('sealed-1');
    expect(done.status?.phase, JSON.stringify(done.status?.conditions)).toBe('Succeeded');
    const claim = cluster.runner.pvcPath(ns, 'mysql-orders-backup-sealed');
    // The profile's keyring, made on first use, and the backup's data key wrapped in its record.
    expect(await readdir(claim)).toContain('encryption.json');
    const record = JSON.parse(await readFile(join(claim, done.status?.backupName ?? '?', 'bloodraven.json'), 'utf8')) as { encryption?: unknown };
    expect(record.encryption).toBeTruthy();
  });

  it('applies the retention policy after a success: the older CR and its stored dump go through a cleanup Job', async () => {
    const first = backupNamed('adhoc-1');
    const pvc = cluster.runner.pvcPath(ns, 'mysql-orders-backup-local');
    await createBackup('adhoc-2', { profileName: 'local' });
    expect((await terminal('adhoc-2')).status?.phase).toBe('Succeeded');
    await until('adhoc-1 to be deleted by retention', () => (backupNamed('adhoc-1') ? undefined : true));
    const left = await readdir(pvc);
    expect(left).not.toContain(first?.status?.backupName);
    expect(left).toContain(backupNamed('adhoc-2')?.status?.backupName);
    const reasons = events().filter((e) => e.regarding?.name === 'adhoc-1').map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['ArtifactCleanupStarted', 'ArtifactCleanupSucceeded']));
    // Counted in the retention metrics with the size its CR gave.
    const metrics = (await daemon.get('/metrics')).body;
    const labels = `namespace="${ns}",group="orders",profile="local"`;
    expect(metrics).toContain(`bloodraven_retention_deleted_backups_total{${labels}} 1\n`);
    expect(first?.status?.sizeBytes).toBeGreaterThan(0);
    expect(metrics).toContain(`bloodraven_retention_deleted_bytes_total{${labels}} ${first?.status?.sizeBytes}\n`);
  });

  it('retries a failed scheduled backup with backoff, as fresh CRs with their attempt numbers', async () => {
    await createBackup('weekly-1', { profileName: 'broken', triggeredBy: 'schedule' }, { 'shipstream.io/schedule': 'weekly-broken', 'shipstream.io/group': 'orders', 'shipstream.io/profile': 'broken' });
    const failed = await terminal('weekly-1');
    expect(failed.status?.phase).toBe('Failed');
    expect(failed.status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(/no-such-bucket/);
    const retry = await until('the retry CR', () => backupNamed('weekly-1-retry-2'));
    expect(retry.spec).toMatchObject({ triggeredBy: 'retry', attempt: 2, retryOf: 'weekly-1' });
    expect(Date.parse(retry.metadata.creationTimestamp ?? '')).toBeGreaterThanOrEqual(Date.parse(failed.status?.completionTime ?? '') + 1000);
    expect((await terminal('weekly-1-retry-2')).status).toMatchObject({ phase: 'Failed', attempt: 2 });
    // maxAttempts 2: no third attempt, and the group's rollup says so.
    const rollup = await until('the rollup of the retries', () => {
      const g = cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, 'orders') as { status: { backupSchedules?: Array<{ name: string; lastRetryAttempt?: number; nextRetryTime?: string }> } };
      const s = g.status.backupSchedules?.find((x) => x.name === 'weekly-broken');
      return s?.lastRetryAttempt === 2 ? s : undefined;
    });
    expect(rollup.nextRetryTime).toBeUndefined();
    await new Promise((r) => setTimeout(r, 3000));
    expect(backupNamed('weekly-1-retry-3')).toBeUndefined();
    expect(events().some((e) => e.reason === 'BackupRetryScheduled' && /weekly-1/.test(e.note ?? ''))).toBe(true);
  });

  it('keeps the finalizer while the cleanup fails, and lets the CR go once it succeeds', async () => {
    await createBackup('doomed', { profileName: 'offsite' });
    const done = await terminal('doomed');
    const folder = join(s3.directory, 'backups', 'orders', done.status?.backupName ?? '?');
    const isDone = (files: string[]): boolean => files.some((f) => f.startsWith('@.done.json'));
    expect(isDone(await readdir(folder))).toBe(true);
    // Storage credentials the bucket refuses: the cleanup Job fails.
    await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-creds', '--from-literal=AWS_ACCESS_KEY_ID=WRONG', '--from-literal=AWS_SECRET_ACCESS_KEY=WRONG', '--dry-run=client', '-o', 'json'])
      .then((json) => kubectl(['-n', ns, 'replace', '-f', '-'], json));
    await kubectl(['-n', ns, 'delete', 'mysqlbackup', 'doomed', '--wait=false']);
    await until('ArtifactCleanupFailed', () => events().find((e) => e.regarding?.name === 'doomed' && e.reason === 'ArtifactCleanupFailed'));
    const held = backupNamed('doomed');
    expect(held?.metadata.deletionTimestamp).toBeTruthy();
    expect(held?.metadata.finalizers).toContain('shipstream.io/mysqlbackup');
    expect(isDone(await readdir(folder))).toBe(true);
    // Fixed: the next attempt removes the dump, and kubectl delete (which waits) returns.
    await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-creds', `--from-literal=AWS_ACCESS_KEY_ID=${s3rverCredentials.accessKeyId}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${s3rverCredentials.secretAccessKey}`, '--dry-run=client', '-o', 'json'])
      .then((json) => kubectl(['-n', ns, 'replace', '-f', '-'], json));
    await kubectl(['-n', ns, 'delete', 'mysqlbackup', 'doomed', '--timeout=120s']);
    expect(backupNamed('doomed')).toBeUndefined();
    // s3rver may leave empty folders behind; no object is left.
    const after = await readdir(folder, { recursive: true }).catch(() => [] as string[]);
    expect(after.filter((f) => f.endsWith('_S3rver_object'))).toEqual([]);
  });

  it('updates a schedule’s CronJob when the schedule changes, and deletes it when the schedule goes', async () => {
    const patch = (schedules: Json[]) =>
      kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--type=merge', '-p', JSON.stringify({ spec: { backup: { schedules } } })]);
    const cronJob = (name: string) => cluster.api.get('batch/v1', 'CronJob', ns, name) as { spec: { schedule: string; timeZone: string } } | undefined;
    await patch([
      { name: 'nightly', profileName: 'offsite', schedule: '15 3 * * *', timeZone: 'Europe/Berlin' },
      { name: 'weekly-broken', profileName: 'broken', schedule: '0 3 * * 0', timeZone: 'America/Los_Angeles' },
    ]);
    await until('the nightly CronJob updated', () => (cronJob('mysql-orders-backup-nightly')?.spec.schedule === '15 3 * * *' ? true : undefined));
    expect(cronJob('mysql-orders-backup-nightly')?.spec.timeZone).toBe('Europe/Berlin');
    await patch([{ name: 'nightly', profileName: 'offsite', schedule: '15 3 * * *', timeZone: 'Europe/Berlin' }]);
    await until('the weekly CronJob deleted', () => (cronJob('mysql-orders-backup-weekly-broken') ? undefined : true));
    expect(cronJob('mysql-orders-backup-nightly')).toBeDefined();
    // The event follows the deletion.
    const reasons = await until('the ScheduleDeleted event', () => {
      const r = events().filter((e) => e.regarding?.name === 'orders').map((e) => e.reason);
      return r.includes('ScheduleDeleted') ? r : undefined;
    });
    expect(reasons).toEqual(expect.arrayContaining(['ScheduleCreated', 'ScheduleUpdated', 'ScheduleDeleted']));
  });

  it('wrote only objects Kubernetes’ own schemas accept, every pod under the restricted Pod Security Standard', () => {
    const written = cluster.api.writes.filter((w) => w.user === daemonUser);
    const kinds = new Set(written.map((w) => w.kind));
    for (const kind of ['Job', 'CronJob', 'Secret', 'PersistentVolumeClaim', 'ServiceAccount', 'Role', 'RoleBinding', 'MysqlBackup', 'MysqlFailoverGroup', 'Event', 'Lease']) {
      expect(kinds, kind).toContain(kind);
    }
    const crds = [failoverGroupCrd(), backupCrd()] as never[];
    const problems = written.flatMap((w) => kubeSchemaProblems(w.object, crds).map((p) => `${w.verb} ${w.kind} ${w.name}${w.subresource ? `/${w.subresource}` : ''}: ${p}`));
    expect(problems).toEqual([]);
    type PodHolder = { spec?: { template?: { spec?: unknown }; jobTemplate?: { spec?: { template?: { spec?: unknown } } } } };
    const pods = written.flatMap((w) => {
      const o = w.object as PodHolder;
      const pod = w.kind === 'Job' ? o.spec?.template?.spec : w.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : undefined;
      return pod === undefined ? [] : [{ name: `${w.kind} ${w.name}`, pod }];
    });
    expect(pods.length).toBeGreaterThan(5);
    expect(pods.flatMap(({ name, pod }) => restrictedPodSecurityProblems(pod).map((p) => `${name}: ${p}`))).toEqual([]);
  });

  it('made only requests that deploy/’s RBAC grants the daemon', async () => {
    const rendered = parseAllDocuments(await kubectl(['kustomize', join(repoRoot, 'deploy')])).map((d) => d.toJS() as unknown);
    const grants = rbacGrantsFor(rendered, { namespace: 'default', name: 'bloodraven' });
    const made = cluster.api.requests.filter((r) => r.user === daemonUser);
    expect(made.length).toBeGreaterThan(100);
    expect(deniedRequests(grants, made)).toEqual([]);
  });
});
