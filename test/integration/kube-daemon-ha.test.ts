/**
 * Kubernetes mode: what keeps the controller right across its own failures and the user's
 * mistakes. Two `daemon --kubernetes` processes with leader election on a Lease; the leader killed
 * (its standby takes over within the lease duration), a replica restarted, watches expired (410)
 * and dropped; every terminal backup counted exactly once across them. Bad input (a schedule naming
 * a missing profile, a missing Secret, a bad cron or time zone) refused with a condition and an
 * event naming the field, and no Job. A namespace deleted with backups in it does not hang.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { startDaemon, type DaemonProcess } from '../support/kube/daemon-process.js';
import { deniedRequests, rbacGrantsFor } from '../support/kube/rbac.js';
import { createTestClock, type TestClock } from '../support/kube/test-clock.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const ns = 'shop';
const password = 'pw-for-backups';
/** The daemons' identity: deploy/'s ServiceAccount, as its token would say. */
const daemonUser = 'system:serviceaccount:default:bloodraven';

type Json = Record<string, unknown>;
interface Cr {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { phase?: string; completionTime?: string; backupName?: string; conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
}

let server: TestServer;
let cluster: TestCluster<TestClock>;
let work: string;
let daemonKubeconfig: string;
const daemons: DaemonProcess[] = [];

async function kubectl(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return cluster.kubectl(args, input === undefined ? {} : { input });
}
async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${daemons.map((d) => `--- ${d.identity} ---\n${d.output().slice(-3000)}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const cr = (namespace: string, name: string): Cr | undefined => cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', namespace, name) as unknown as Cr | undefined;
const group = (namespace: string, name: string): Cr | undefined => cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', namespace, name) as unknown as Cr | undefined;

async function succeeded(namespace: string, name: string): Promise<Cr> {
  const done = await until(`MysqlBackup ${namespace}/${name} to finish`, () => {
    const b = cr(namespace, name);
    return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
  }, 90_000);
  expect(done.status?.phase, JSON.stringify(done.status?.conditions)).toBe('Succeeded');
  return done;
}

function groupManifest(namespace: string, name: string, backup: Json, extra: Json = {}): string {
  return JSON.stringify({
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name, namespace },
    spec: { sites: [{ name: 'main', mysql: { host: '127.0.0.1', port: server.port } }], credentials: { backupSecret: 'mysql-backup' }, backup, ...extra },
  });
}

const localProfile = (claim: string) => ({ name: 'local', storage: { type: 'PVC', pvc: { claimName: claim } }, dump: { threads: 1 } });

async function createBackup(namespace: string, name: string, groupName: string, profile = 'local'): Promise<void> {
  await kubectlOk(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name, namespace }, spec: { failoverGroupRef: { name: groupName }, profileName: profile } }));
}


async function setUpNamespace(namespace: string): Promise<void> {
  await kubectlOk(['create', 'namespace', namespace]);
  await kubectlOk(['-n', namespace, 'create', 'secret', 'generic', 'mysql-backup', '--from-literal=username=backup', `--from-literal=password=${password}`]);
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'dumps', namespace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }));
}

function leaseHolder(): string | undefined {
  const lease = cluster.api.get('coordination.k8s.io/v1', 'Lease', 'default', 'bloodraven-leader') as { spec?: { holderIdentity?: string } } | undefined;
  return lease?.spec?.holderIdentity || undefined;
}

const runs = (d: DaemonProcess): Promise<number> => d.metric(`bloodraven_backup_runs_total{namespace="${ns}",group="shop",profile="local",result="success"}`).then((v) => v ?? 0);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-kube-ha-'));
  server = await startTestServer();
  await sql(server, `CREATE USER 'backup'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON *.* TO 'backup'@'%'; CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t SELECT seq FROM app.seq_1_to_100`);
  cluster = await startTestCluster({ clock: createTestClock('2026-12-01T09:00:00Z'), repoRoot, backoffMs: 200 });
  // What a user installs: the CRDs, the daemon's account and RBAC, its Deployment (which nothing
  // runs here: the daemons below are processes of this machine).
  await kubectlOk(['apply', '-k', join(repoRoot, 'deploy')]);
  daemonKubeconfig = join(work, 'daemon.kubeconfig');
  await cluster.api.writeKubeconfig(daemonKubeconfig, { token: daemonUser });
  await setUpNamespace(ns);
  await kubectlOk(['apply', '-f', '-'], groupManifest(ns, 'shop', { profiles: [localProfile('dumps')] }));
  for (const id of ['bloodraven-a', 'bloodraven-b']) daemons.push(await startDaemon({ kubeconfig: daemonKubeconfig, identity: id, home: join(work, id) }));
}, 180_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await cluster?.stop();
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('Kubernetes mode: bad input is refused, naming the field, and starts nothing', () => {
  it.each([
    ['typo', { profiles: [localProfile('dumps')], schedules: [{ name: 'nightly', profileName: 'nope', schedule: '0 2 * * *' }] }, {}, /spec\.backup\.schedules\[0\]\.profileName: no profile named "nope"/],
    ['badcron', { profiles: [localProfile('dumps')], schedules: [{ name: 'nightly', profileName: 'local', schedule: '61 * * * *' }] }, {}, /spec\.backup\.schedules\[0\]\.schedule/],
    ['badzone', { profiles: [localProfile('dumps')], schedules: [{ name: 'nightly', profileName: 'local', schedule: '0 2 * * *', timeZone: 'Mars/Olympus' }] }, {}, /spec\.backup\.schedules\[0\]\.timeZone/],
    ['nosecret', { profiles: [localProfile('dumps')], schedules: [{ name: 'nightly', profileName: 'local', schedule: '0 2 * * *' }] }, { credentials: { backupSecret: 'missing-secret' } }, /spec\.credentials\.backupSecret: Secret "missing-secret" not found/],
  ])('group %s', async (name, backup, extra, field) => {
    await kubectlOk(['apply', '-f', '-'], groupManifest(ns, name, backup, extra));
    const ready = await until(`group ${name} refused`, () => group(ns, name)?.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False'));
    expect(ready.message).toMatch(field);
    const warned = await until(`a Warning event on ${name}`, () =>
      (cluster.api.list('events.k8s.io/v1', 'Event', ns) as Array<{ type: string; note?: string; regarding?: { name?: string } }>).find((e) => e.regarding?.name === name && e.type === 'Warning'),
    );
    expect(warned.note).toMatch(field);
    expect(cluster.api.list('batch/v1', 'CronJob', ns).filter((c) => (c.metadata as { labels?: Record<string, string> }).labels?.['shipstream.io/group'] === name)).toEqual([]);
  });

  it('fails a backup of a group whose Secret is missing, naming the field, without a Job', async () => {
    await createBackup(ns, 'orphan-1', 'nosecret');
    const failed = await until('orphan-1 to fail', () => (cr(ns, 'orphan-1')?.status?.phase === 'Failed' ? cr(ns, 'orphan-1') : undefined));
    expect(failed.status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(/spec\.credentials\.backupSecret: Secret "missing-secret" not found/);
    expect(cluster.api.get('batch/v1', 'Job', ns, 'mysqlbackup-orphan-1')).toBeUndefined();
  });

  it('refuses, at the API server, a MysqlBackup the CRD schema rejects', async () => {
    const r = await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name: 'bad', namespace: ns }, spec: { failoverGroupRef: { name: 'shop' }, profileName: 'local', triggeredBy: 'cron' } }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.triggeredBy/);
  });
});

describe('Kubernetes mode: leader election, restarts and expired watches', () => {
  it('has one leader acting, the other ready on standby', async () => {
    const holder = await until('a leader', leaseHolder);
    expect(daemons.map((d) => d.identity)).toContain(holder);
    for (const d of daemons) expect((await d.get('/readyz')).status).toBe(200);
  });

  it('counts every terminal backup once across a killed leader and a restarted replica', async () => {
    await createBackup(ns, 'b1', 'shop');
    await createBackup(ns, 'b2', 'shop');
    await succeeded(ns, 'b1');
    await succeeded(ns, 'b2');
    const leader = daemons.find((d) => d.identity === leaseHolder());
    const standby = daemons.find((d) => d !== leader);
    if (!leader || !standby) throw new Error('no leader');
    await until('the leader counting both', async () => (await runs(leader)) === 2);
    expect(await runs(standby)).toBe(0);
    // The standby keeps the gauges from the CRs it sees, without counting them.
    const lastSuccess = await standby.metric(`bloodraven_backup_last_success_timestamp_seconds{namespace="${ns}",group="shop",profile="local"}`);
    expect(lastSuccess).toBe(Date.parse(cr(ns, 'b2')?.status?.completionTime ?? '') / 1000);

    // The leader dies without releasing the Lease: the standby takes over after the lease duration.
    await leader.kill();
    await createBackup(ns, 'b3', 'shop');
    await until('the standby to lead', () => leaseHolder() === standby.identity);
    await succeeded(ns, 'b3');
    await until('the new leader counting b3 only', async () => (await runs(standby)) === 1);

    // A new replica joins; the leader is stopped (SIGTERM releases the Lease): the new one leads at once.
    const fresh = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-c', home: join(work, 'c') });
    daemons.push(fresh);
    expect(await standby.stop()).toBe(0);
    await until('the new replica to lead', () => leaseHolder() === fresh.identity);
    await createBackup(ns, 'b4', 'shop');
    await succeeded(ns, 'b4');
    await until('the new leader counting b4', async () => (await runs(fresh)) === 1);
    // 2 + 1 + 1: each of the four counted by exactly one process.
    const transitions = (cluster.api.get('coordination.k8s.io/v1', 'Lease', 'default', 'bloodraven-leader') as { spec: { leaseTransitions?: number } }).spec.leaseTransitions;
    expect(transitions).toBeGreaterThanOrEqual(2);
  });

  it('recovers from an expired watch (410) and from dropped watches without redoing finished work', async () => {
    const jobsBefore = cluster.api.list('batch/v1', 'Job', ns).length;
    cluster.api.compactHistory();
    cluster.api.dropWatches();
    await createBackup(ns, 'b5', 'shop');
    await succeeded(ns, 'b5');
    // Only b5's Job is new: the relist did not start the finished backups again.
    const jobs = cluster.api.list('batch/v1', 'Job', ns).map((j) => (j.metadata as { name: string }).name);
    expect(jobs.length).toBe(jobsBefore + 1);
    expect(jobs).toContain('mysqlbackup-b5');
  });

  it('answers /pitr-cutoff with the oldest retained success, and says what is wrong with a bad query', async () => {
    const leader = daemons.find((d) => d.identity === leaseHolder());
    if (!leader) throw new Error('no leader');
    const oldest = ['b1', 'b2', 'b3', 'b4', 'b5'].map((n) => Date.parse(cr(ns, n)?.status?.completionTime ?? '')).sort((a, b) => a - b)[0];
    const ok = await leader.get(`/pitr-cutoff?namespace=${ns}&group=shop&profile=local`);
    expect(ok.status).toBe(200);
    expect(Date.parse((JSON.parse(ok.body) as { cutoff: string }).cutoff)).toBe(oldest);
    expect((await leader.get(`/pitr-cutoff?namespace=${ns}&group=shop`)).status).toBe(400);
    const unknown = await leader.get(`/pitr-cutoff?namespace=${ns}&group=shop&profile=nope`);
    expect(unknown.status).toBe(404);
    expect((JSON.parse(unknown.body) as { error: string }).error).toMatch(/no profile "nope"/);
  });
});

describe('Kubernetes mode: cleanup without a group', () => {
  it('skips the cleanup with an event, and lets the CR go, when its group is gone', async () => {
    await kubectlOk(['apply', '-f', '-'], groupManifest(ns, 'shortlived', { profiles: [localProfile('dumps')] }));
    await createBackup(ns, 'lonely', 'shortlived');
    const done = await succeeded(ns, 'lonely');
    await kubectlOk(['-n', ns, 'delete', 'mysqlfailovergroup', 'shortlived']);
    await kubectlOk(['-n', ns, 'delete', 'mysqlbackup', 'lonely', '--timeout=60s']);
    expect(cr(ns, 'lonely')).toBeUndefined();
    const skipped = (cluster.api.list('events.k8s.io/v1', 'Event', ns) as Array<{ reason: string; type: string; note?: string; regarding?: { name?: string } }>).find(
      (e) => e.regarding?.name === 'lonely' && e.reason === 'ArtifactCleanupSkipped',
    );
    expect(skipped?.type).toBe('Warning');
    expect(skipped?.note).toMatch(/MysqlFailoverGroup "shortlived" is gone/);
    expect(skipped?.note).toContain((done as { status?: { backupName?: string } }).status?.backupName ?? '?');
  });
});

describe('Kubernetes mode: failed and waiting runs', () => {
  it('names the group’s Secret when the account is refused, and the cleanup removes what the failed run stored', async () => {
    await kubectlOk(['-n', ns, 'create', 'secret', 'generic', 'wrong-account', '--from-literal=username=backup', '--from-literal=password=not-it']);
    await kubectlOk(['apply', '-f', '-'], groupManifest(ns, 'wrongpw', { profiles: [localProfile('dumps')] }, { credentials: { backupSecret: 'wrong-account' } }));
    await createBackup(ns, 'denied', 'wrongpw');
    const failed = await until('denied to fail', () => (cr(ns, 'denied')?.status?.phase === 'Failed' ? cr(ns, 'denied') : undefined), 90_000);
    const condition = failed.status?.conditions?.find((c) => c.type === 'Failed');
    expect(condition?.reason).toBe('MYSQL_ACCESS_DENIED');
    expect(condition?.message).toMatch(/spec\.credentials\.backupSecret: Secret "wrong-account"/);
    const stored = failed.status?.backupName ?? '';
    expect(stored).toMatch(/^wrongpw-local-/);
    const claim = cluster.runner.pvcPath(ns, 'dumps');
    expect(await readdir(claim)).toContain(stored);
    await kubectlOk(['-n', ns, 'delete', 'mysqlbackup', 'denied', '--timeout=60s']);
    expect(await readdir(claim)).not.toContain(stored);
  });

  it('keeps the second backup of a busy profile Pending, naming the one it waits for', async () => {
    await createBackup(ns, 'first', 'shop');
    await createBackup(ns, 'second', 'shop');
    const waiting = await until('one of them to wait', () =>
      ['first', 'second'].map((n) => cr(ns, n)).find((b) => b?.status?.conditions?.some((c) => c.type === 'Waiting')),
    );
    const other = waiting.metadata.name === 'first' ? 'second' : 'first';
    expect(waiting.status?.phase).toBe('Pending');
    expect(waiting.status?.conditions?.find((c) => c.type === 'Waiting')?.message).toMatch(new RegExp(`waiting for MysqlBackup ${other} of the same profile`));
    await succeeded(ns, 'first');
    await succeeded(ns, 'second');
  });
});

describe('Kubernetes mode: deleting a namespace', () => {
  it('does not hang on the finalizer when the Secret goes first', async () => {
    await setUpNamespace('scratch');
    await kubectlOk(['apply', '-f', '-'], groupManifest('scratch', 'shop', { profiles: [localProfile('dumps')] }));
    await createBackup('scratch', 'x1', 'shop');
    await succeeded('scratch', 'x1');
    await kubectlOk(['-n', 'scratch', 'delete', 'secret', 'mysql-backup']);
    const r = await kubectl(['delete', 'namespace', 'scratch', '--timeout=90s']);
    expect(r.code, r.stderr).toBe(0);
    await until('the namespace to be gone', () => cluster.api.get('v1', 'Namespace', undefined, 'scratch') === undefined);
  });
});

describe('Kubernetes mode: least privilege', () => {
  it('made only requests that deploy/’s RBAC grants its ServiceAccount', async () => {
    const rendered = parseAllDocuments(await kubectlOk(['kustomize', join(repoRoot, 'deploy')])).map((d) => d.toJS() as unknown);
    const grants = rbacGrantsFor(rendered, { namespace: 'default', name: 'bloodraven' });
    const made = cluster.api.requests.filter((r) => r.user === daemonUser);
    expect(made.length).toBeGreaterThan(100);
    expect(deniedRequests(grants, made)).toEqual([]);
  });
});
