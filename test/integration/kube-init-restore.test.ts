/**
 * spec.initFromBackup end to end: `bloodraven daemon --kubernetes` as a process, the test cluster
 * running every Job as the project's CLI, real MariaDB servers (a source group's and one new,
 * empty server per restored group) and S3 (s3rver).
 *
 * Shown here: a bootstrap from a MysqlBackup the daemon took, from a direct S3 prefix and from a
 * claim mounted read-only; a per-schema bootstrap; a restore refused while the active site is
 * read-only and started once it is writable; one held by its Deployment's rollout and one whose
 * site has no Deployment; a point-in-time bootstrap through the pitr-download init container; a
 * failed restore reported with what to do, and rebuilt once its Job is deleted. Every object the
 * daemon wrote is checked against Kubernetes' schemas, the restricted Pod Security Standard and
 * deploy/'s RBAC.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { backupCrd, failoverGroupCrd } from '../../src/lib/kube/crds.js';
import { runCli } from '../support/cli.js';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { startDaemon, type DaemonProcess } from '../support/kube/daemon-process.js';
import { deniedRequests, rbacGrantsFor } from '../support/kube/rbac.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';
import { rootConnection, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const ns = 'shop';
const daemonUser = 'system:serviceaccount:bloodraven-system:bloodraven';
const account = { user: 'bloodraven', password: 'r3st0re:pw' };

type Json = Record<string, unknown>;
interface InitStatus {
  phase?: string;
  backup?: string;
  targetSite?: string;
  jobName?: string;
  startTime?: string;
  completionTime?: string;
  rows?: number;
  bytes?: number;
  pointReached?: { gtidExecuted?: string; time?: string; binlogFile?: string; binlogPos?: number };
  message?: string;
}

let source: TestServer;
let s3: S3TestServer;
let cluster: TestCluster;
let daemon: DaemonProcess;
let work: string;
const servers: TestServer[] = [];
/** The MysqlBackups taken in set-up: `s3` (profile offsite), `pvc` (profile local). */
const taken: { s3: string; s3Backup: string; pvc: string; pvcBackup: string } = { s3: 'base-offsite', s3Backup: '', pvc: 'base-local', pvcBackup: '' };

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 150_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- daemon output ---\n${daemon.output().slice(-5000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function initStatus(group: string): InitStatus | undefined {
  const g = cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, group) as { status?: { initFromBackup?: InitStatus } } | undefined;
  return g?.status?.initFromBackup;
}

function events(group: string): Array<{ reason: string; note?: string; type: string }> {
  return (cluster.api.list('events.k8s.io/v1', 'Event', ns) as Array<{ reason: string; note?: string; type: string; regarding?: { name?: string } }>).filter((e) => e.regarding?.name === group);
}

async function phase(group: string, wanted: string): Promise<InitStatus> {
  return until(`${group}: initFromBackup ${wanted}`, () => {
    const s = initStatus(group);
    if (s?.phase === wanted) return s;
    if (wanted !== 'Failed' && s?.phase === 'Failed') throw new Error(`${group} failed: ${s.message}\n${daemon.output().slice(-3000)}`);
    return undefined;
  });
}

/** A new, empty MariaDB server with the account bloodraven connects with. */
async function emptyServer(extraArgs: string[] = []): Promise<TestServer> {
  const server = await startTestServer({ extraArgs });
  servers.push(server);
  await sql(server, `CREATE USER '${account.user}'@'%' IDENTIFIED BY '${account.password}'; GRANT ALL ON *.* TO '${account.user}'@'%' WITH GRANT OPTION`);
  return server;
}

const offsite = () => ({
  name: 'offsite',
  storage: { type: 'S3', s3: { bucket: 'backups', prefix: 'src', region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } },
  dump: { threads: 2 },
});

/** A group whose one site is `server`; `initFromBackup` and more spec fields as given. */
async function applyGroup(name: string, server: TestServer, spec: Json): Promise<void> {
  const manifest = {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name, namespace: ns },
    spec: {
      sites: [{ name: 'main', mysql: { host: '127.0.0.1', port: server.port } }],
      credentials: { backupSecret: 'mysql-account' },
      backup: { profiles: [offsite()], pitr: { enabled: false, profileName: 'offsite' } },
      ...spec,
    },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
}

async function rows(server: TestServer, query: string): Promise<unknown> {
  return sql(server, query);
}

async function schemas(server: TestServer): Promise<string[]> {
  const list = (await sql(server, "SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('app', 'tenant') ORDER BY 1")) as Array<{ s: string }>;
  return list.map((r) => r.s);
}

async function takeBackup(name: string, profile: string): Promise<string> {
  await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name, namespace: ns }, spec: { failoverGroupRef: { name: 'src' }, profileName: profile, triggeredBy: 'manual' } }));
  const done = await until(`MysqlBackup ${name}`, () => {
    const b = cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', ns, name) as { status?: { phase?: string; backupName?: string } } | undefined;
    if (b?.status?.phase === 'Failed') throw new Error(`backup ${name} failed: ${JSON.stringify(b.status)}`);
    return b?.status?.phase === 'Succeeded' ? b : undefined;
  });
  return done.status?.backupName ?? '';
}

/** Inserts into app.events with each row stamped `at` (SET TIMESTAMP). */
async function writeRows(at: number, from: number, to: number): Promise<void> {
  const conn = await rootConnection(source, 'app');
  try {
    await conn.query(`SET TIMESTAMP = ${at}`);
    for (let id = from; id <= to; id++) await conn.query('INSERT INTO events VALUES (?, ?)', [id, `late ${id}`]);
  } finally {
    await conn.end();
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-kube-init-'));
  [source, s3] = await Promise.all([startTestServer(), startS3Server({ buckets: ['backups'] })]);
  await sql(
    source,
    `CREATE USER '${account.user}'@'%' IDENTIFIED BY '${account.password}'; GRANT ALL ON *.* TO '${account.user}'@'%' WITH GRANT OPTION;
     CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO app.events SELECT seq, CONCAT('event ', seq) FROM app.seq_1_to_300;
     CREATE VIEW app.recent AS SELECT id FROM app.events WHERE id > 290;
     CREATE DATABASE tenant; CREATE TABLE tenant.accounts (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO tenant.accounts SELECT seq, CONCAT('acct ', seq) FROM tenant.seq_1_to_40;`,
  );
  cluster = await startTestCluster({ repoRoot, backoffMs: 200 });
  await kubectl(['apply', '-f', join(repoRoot, 'crds')]);
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'mysql-account', `--from-literal=username=${account.user}`, `--from-literal=password=${account.password}`]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-creds', `--from-literal=AWS_ACCESS_KEY_ID=${s3rverCredentials.accessKeyId}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${s3rverCredentials.secretAccessKey}`]);
  const daemonKubeconfig = join(work, 'daemon.kubeconfig');
  await cluster.api.writeKubeconfig(daemonKubeconfig, { token: daemonUser });
  daemon = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-0', home: join(work, 'home') });
  // The source group, whose backups the new groups restore.
  await applyGroup('src', source, {
    backup: { profiles: [offsite(), { name: 'local', storage: { type: 'PVC', pvc: { size: '1Gi' } }, dump: { threads: 2 } }], pitr: { enabled: false, profileName: 'offsite' } },
  });
  taken.s3Backup = await takeBackup(taken.s3, 'offsite');
  taken.pvcBackup = await takeBackup(taken.pvc, 'local');
}, 240_000);

afterAll(async () => {
  await daemon?.stop();
  await cluster?.stop();
  await Promise.all([source?.stop(), s3?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('spec.initFromBackup', () => {
  it('restores a MysqlBackup into a new group’s empty server, once, with rows and bytes in the status; no Deployment: the gate passes with a Normal event', async () => {
    const target = await emptyServer();
    await applyGroup('from-cr', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } } } });
    const status = await phase('from-cr', 'Succeeded');
    expect(status).toMatchObject({ backup: taken.s3Backup, targetSite: 'main', jobName: 'mysql-from-cr-init-restore', rows: 340 });
    expect(status.bytes).toBeGreaterThan(0);
    expect(status.startTime! <= status.completionTime!).toBe(true);
    expect(status.pointReached?.gtidExecuted).toMatch(/^0-\d+-\d+/);
    expect(await rows(target, 'SELECT COUNT(*) AS n FROM app.events')).toEqual([{ n: '300' }]);
    expect(await rows(target, 'SELECT COUNT(*) AS n FROM app.recent')).toEqual([{ n: '10' }]);
    expect(await schemas(target)).toEqual(['app', 'tenant']);
    const reasons = events('from-cr').map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['RolloutGateSkipped', 'RestoreStarted', 'RestoreSucceeded']));
    expect(events('from-cr').find((e) => e.reason === 'RolloutGateSkipped')).toMatchObject({ type: 'Normal', note: expect.stringContaining('no Deployment "mysql-from-cr-main"') as unknown });
    // The derived Secret goes with the run.
    await until('the derived Secret deleted', () => (cluster.api.get('v1', 'Secret', ns, 'mysql-from-cr-init-restore-mysql-creds') ? undefined : true));
    // One-shot: a spec change afterwards does nothing but say so.
    await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'from-cr', '--type=merge', '-p', JSON.stringify({ spec: { initFromBackup: { loadOptions: { includeSchemas: ['tenant'] } } } })]);
    await until('the InitFromBackupIgnored event', () => events('from-cr').some((e) => e.reason === 'InitFromBackupIgnored'));
    expect(initStatus('from-cr')).toMatchObject({ phase: 'Succeeded', completionTime: status.completionTime });
    // Counted once in the restore metrics, under the profile of the MysqlBackup it loaded.
    const metrics = (await daemon.get('/metrics')).body;
    const labels = `namespace="${ns}",group="from-cr",profile="offsite"`;
    expect(metrics).toContain(`bloodraven_restore_runs_total{${labels},result="success"} 1\n`);
    expect(metrics).toContain(`bloodraven_restore_duration_seconds_count{${labels}} 1\n`);
    expect(metrics).not.toContain(`bloodraven_restore_runs_total{${labels},result="failure"}`);
  });

  it('restores from a direct S3 prefix (no MysqlBackup involved) and from a claim mounted read-only', async () => {
    const [fromS3, fromPvc] = await Promise.all([emptyServer(), emptyServer()]);
    await applyGroup('from-s3', fromS3, {
      initFromBackup: { source: { s3: { bucket: 'backups', prefix: `src/${taken.s3Backup}`, region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } } },
    });
    await applyGroup('from-pvc', fromPvc, { initFromBackup: { source: { pvc: { claimName: 'mysql-src-backup-local', path: taken.pvcBackup } } } });
    const s3Status = await phase('from-s3', 'Succeeded');
    expect(s3Status).toMatchObject({ backup: taken.s3Backup, rows: 340 });
    const pvcStatus = await phase('from-pvc', 'Succeeded');
    expect(pvcStatus).toMatchObject({ backup: taken.pvcBackup, rows: 340 });
    for (const server of [fromS3, fromPvc]) expect(await rows(server, 'SELECT COUNT(*) AS n FROM tenant.accounts')).toEqual([{ n: '40' }]);
    // The claim was mounted read-only: the pod's log says no progress file could be kept there.
    const logs = await kubectl(['-n', ns, 'logs', 'job/mysql-from-pvc-init-restore']);
    expect(logs).toMatch(/cannot write the load progress file.*read-only/);
    const job = cluster.api.get('batch/v1', 'Job', ns, 'mysql-from-pvc-init-restore') as { spec: { template: { spec: { volumes: Array<{ name: string; persistentVolumeClaim?: { readOnly?: boolean } }> } } } };
    expect(job.spec.template.spec.volumes.find((v) => v.name === 'restore-source')?.persistentVolumeClaim?.readOnly).toBe(true);
  });

  it('loads only the included schema (per-schema bootstrap)', async () => {
    const target = await emptyServer();
    await applyGroup('one-tenant', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } }, loadOptions: { includeSchemas: ['tenant'] } } });
    const status = await phase('one-tenant', 'Succeeded');
    expect(status.rows).toBe(40);
    expect(await schemas(target)).toEqual(['tenant']);
  });

  it('parks the restore in Pending while the active site is read-only (RestoreTargetUnavailable), and restores once it is writable', async () => {
    const target = await emptyServer();
    await sql(target, 'SET GLOBAL read_only = 1');
    await applyGroup('standby', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } } } });
    await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'standby', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeSite: 'main' } })]);
    // Before the operator reports the active site, sites[0] is the candidate; after, the active site: both refused.
    const pending = await until('standby Pending as read-only', () => {
      const s = initStatus('standby');
      return s?.phase === 'Pending' && s.message?.includes('(the active site (status.activeSite)) is read-only') ? s : undefined;
    });
    expect(pending.message).toContain('a restore never overwrites a standby');
    await until('the RestoreTargetUnavailable event', () => events('standby').find((e) => e.reason === 'RestoreTargetUnavailable' && e.type === 'Warning'));
    expect(cluster.api.get('batch/v1', 'Job', ns, 'mysql-standby-init-restore')).toBeUndefined();
    expect(await schemas(target)).toEqual([]);
    await sql(target, 'SET GLOBAL read_only = 0');
    const status = await phase('standby', 'Succeeded');
    expect(status.rows).toBe(340);
  });

  it('waits for the site’s Deployment to be rolled out', async () => {
    const target = await emptyServer();
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'mysql-rolling-main', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'mysql-rolling' } },
        template: { metadata: { labels: { app: 'mysql-rolling' } }, spec: { containers: [{ name: 'mysql', image: 'mariadb:11' }] } },
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(deployment));
    // A second generation whose rollout has not been observed yet.
    await kubectl(['-n', ns, 'patch', 'deployment', 'mysql-rolling-main', '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'mysql', image: 'mariadb:11.4' }] } } } })]);
    await kubectl(['-n', ns, 'patch', 'deployment', 'mysql-rolling-main', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { observedGeneration: 1, replicas: 1, updatedReplicas: 0, readyReplicas: 1 } })]);
    await applyGroup('rolling', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } } } });
    const pending = await until('rolling Pending on the gate', () => {
      const s = initStatus('rolling');
      return s?.phase === 'Pending' && s.message?.includes('rolling out') ? s : undefined;
    });
    expect(pending.message).toContain('Deployment "mysql-rolling-main" is rolling out (generation 2, observed 1)');
    expect(cluster.api.get('batch/v1', 'Job', ns, 'mysql-rolling-init-restore')).toBeUndefined();
    await kubectl(['-n', ns, 'patch', 'deployment', 'mysql-rolling-main', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1 } })]);
    const status = await phase('rolling', 'Succeeded');
    expect(status.rows).toBe(340);
    expect(events('rolling').some((e) => e.reason === 'RolloutGateSkipped')).toBe(false);
    expect(events('rolling').find((e) => e.reason === 'RestoreStarted')?.note).toContain('is rolled out (generation 2)');
  });

  it('refuses a point in time on a direct source, naming spec.initFromBackup.pointInTime', async () => {
    const target = await emptyServer();
    await applyGroup('pitr-direct', target, {
      initFromBackup: {
        source: { s3: { bucket: 'backups', prefix: `src/${taken.s3Backup}`, region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } },
        pointInTime: { stopDatetime: '2026-11-30T10:00:00Z' },
      },
    });
    const pending = await until('pitr-direct Pending', () => {
      const s = initStatus('pitr-direct');
      return s?.phase === 'Pending' ? s : undefined;
    });
    expect(pending.message).toMatch(/^spec\.initFromBackup\.pointInTime: a point-in-time bootstrap needs the backup in the binlog archive's catalog/);
    await until('the PointInTimeUnsupported event', () => events('pitr-direct').find((e) => e.reason === 'PointInTimeUnsupported'));
  });

  it('restores to a point in time: pitr-download fills the emptyDir, the replay stops at the time, the logs carry the JSON and BLOODRAVEN_PITR lines', async () => {
    const t0 = Math.floor(Date.now() / 1000) + 600;
    await writeRows(t0, 1001, 1010);
    await sql(source, 'FLUSH BINARY LOGS');
    await writeRows(t0 + 60, 1011, 1020);
    await sql(source, 'FLUSH BINARY LOGS');
    // The archive the group's spec.backup.pitr names, filled by the archiver run once against the source.
    const cfg = await mkdtemp(join(work, 'archiver-'));
    await writeFile(
      join(cfg, 'bloodraven.yaml'),
      `name: src
mysql: { host: 127.0.0.1, port: ${source.port}, user: root }
backup:
  profiles:
    - name: offsite
      storage: { type: S3, s3: { bucket: backups, prefix: src, region: us-east-1, endpointURL: "${s3.endpoint}" } }
  pitr: { enabled: true, profileName: offsite, site: main, source: { type: local } }
`,
    );
    const archived = await runCliWithS3(['pitr', 'archive', '--once'], cfg);
    expect(archived.stderr).not.toMatch(/error:/);
    expect(archived.code).toBe(0);

    const target = await emptyServer();
    const stop = new Date((t0 + 30) * 1000).toISOString();
    await applyGroup('to-a-time', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } }, pointInTime: { stopDatetime: stop } } });
    const status = await phase('to-a-time', 'Succeeded');
    expect(await rows(target, 'SELECT COUNT(*) AS n, MAX(id) AS m FROM app.events')).toEqual([{ n: '310', m: 1010 }]);
    expect(status.pointReached).toMatchObject({ time: new Date(t0 * 1000).toISOString().replace('.000Z', 'Z') });
    expect(status.pointReached?.gtidExecuted).toMatch(/^0-\d+-\d+/);
    expect(status.pointReached?.binlogFile).toBeDefined();

    const download = await kubectl(['-n', ns, 'logs', 'job/mysql-to-a-time-init-restore', '-c', 'pitr-download']);
    const lines = download
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { site: string; file: string; path: string; sha256: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.site === 'main' && l.path.includes('pitr-binlogs'))).toBe(true);
    const main = await kubectl(['-n', ns, 'logs', 'job/mysql-to-a-time-init-restore', '-c', 'restore']);
    expect(main).toMatch(/^BLOODRAVEN_PITR_START \{/m);
    expect(main).toMatch(/^BLOODRAVEN_PITR_COMPLETE \{.*"applied":10/m);
  });

  it('reports a failed binlog download as the init container’s failure, pointing at its log', async () => {
    const target = await emptyServer();
    // A day after the last archived event: outside what the archive proves restorable.
    const stop = new Date(Date.now() + 86_400_000).toISOString();
    await applyGroup('too-late', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } }, pointInTime: { stopDatetime: stop } } });
    const failed = await phase('too-late', 'Failed');
    expect(failed.message).toMatch(/^the pitr-download init container \(downloading the binlogs\) failed with exit code 3/);
    expect(failed.message).toContain('inspect kubectl logs job/mysql-too-late-init-restore -c pitr-download, fix it, then delete the Job');
    const log = await kubectl(['-n', ns, 'logs', 'job/mysql-too-late-init-restore', '-c', 'pitr-download']);
    expect(log).toMatch(/^error: cannot restore to /m);
    // The tail of its log is its termination message, so the status says why too.
    expect(failed.message).toContain('cannot restore to');
    expect(await kubectl(['-n', ns, 'get', 'pods', '-l', 'job-name=mysql-too-late-init-restore'])).toMatch(/Init:Error/);
    expect(await schemas(target)).toEqual([]);
  });

  it('reports a failed restore with what to do, and rebuilds the Job once it is deleted', async () => {
    const target = await emptyServer(['--local-infile=0']);
    await applyGroup('no-infile', target, { initFromBackup: { source: { mysqlBackupRef: { name: taken.s3 } } } });
    const failed = await phase('no-infile', 'Failed');
    expect(failed.message).toMatch(/local_infile/);
    expect(failed.message).toContain('inspect kubectl logs job/mysql-no-infile-init-restore, fix it, then delete the Job');
    await until('the RestoreFailed event', () => events('no-infile').find((e) => e.reason === 'RestoreFailed' && e.type === 'Warning'));
    await until('the derived Secret deleted', () => (cluster.api.get('v1', 'Secret', ns, 'mysql-no-infile-init-restore-mysql-creds') ? undefined : true));
    // The Job stays for inspection until it is deleted.
    expect(cluster.api.get('batch/v1', 'Job', ns, 'mysql-no-infile-init-restore')).toBeDefined();
    await sql(target, 'SET GLOBAL local_infile = 1');
    await kubectl(['-n', ns, 'delete', 'job', 'mysql-no-infile-init-restore', '--wait=false']);
    await until('no-infile rebuilt', () => initStatus('no-infile')?.phase !== 'Failed');
    const status = await phase('no-infile', 'Succeeded');
    expect(events('no-infile').some((e) => e.reason === 'RestoreStarted' && e.note?.startsWith('Rebuilt the restore Job'))).toBe(true);
    expect(status.rows).toBe(340);
    expect(await rows(target, 'SELECT COUNT(*) AS n FROM app.events')).toEqual([{ n: '300' }]);
    // The failed run and the rebuilt one are each counted once.
    const metrics = (await daemon.get('/metrics')).body;
    const labels = `namespace="${ns}",group="no-infile",profile="offsite"`;
    expect(metrics).toContain(`bloodraven_restore_runs_total{${labels},result="failure"} 1\n`);
    expect(metrics).toContain(`bloodraven_restore_runs_total{${labels},result="success"} 1\n`);
  });

  it('wrote only objects Kubernetes’ schemas accept, pods under the restricted Pod Security Standard, with requests deploy/’s RBAC grants', async () => {
    const written = cluster.api.writes.filter((w) => w.user === daemonUser);
    const crds = [failoverGroupCrd(), backupCrd()] as never[];
    const problems = written.flatMap((w) => kubeSchemaProblems(w.object, crds).map((p) => `${w.verb} ${w.kind} ${w.name}${w.subresource ? `/${w.subresource}` : ''}: ${p}`));
    expect(problems).toEqual([]);
    const restoreJobs = written.filter((w) => w.kind === 'Job' && w.name.endsWith('-init-restore'));
    expect(restoreJobs.length).toBeGreaterThan(5);
    const pods = restoreJobs.map((w) => ({ name: w.name, pod: (w.object as { spec?: { template?: { spec?: unknown } } }).spec?.template?.spec }));
    expect(pods.flatMap(({ name, pod }) => restrictedPodSecurityProblems(pod).map((p) => `${name}: ${p}`))).toEqual([]);
    const rendered = parseAllDocuments(await kubectl(['kustomize', join(repoRoot, 'deploy')])).map((d) => d.toJS() as unknown);
    const grants = rbacGrantsFor(rendered, { namespace: 'default', name: 'bloodraven' });
    expect(deniedRequests(grants, cluster.api.requests.filter((r) => r.user === daemonUser))).toEqual([]);
  });
});

/** The CLI with s3rver's credentials in its environment (the archiver run outside the cluster). */
function runCliWithS3(args: string[], cwd: string): ReturnType<typeof runCli> {
  const before = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = s3rverCredentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3rverCredentials.secretAccessKey;
  try {
    return runCli(args, cwd);
  } finally {
    if (before.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = before.id;
    if (before.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = before.secret;
  }
}
