/**
 * `spec.restoreInPlace` end to end: a MysqlFailoverGroup whose two sites are real MariaDB servers
 * in replication (east the primary, west its replica), a backup in S3 (s3rver), the sites' MySQL
 * pods as Pod objects labelled as the group's operator labels them (nobody runs them: the Job
 * runner only runs its Jobs' pods), `bloodraven daemon --kubernetes` as a process, and the restore
 * Job run by the test cluster's Job runner as the project's CLI.
 *
 * Shown here: a dry run that writes the plan and changes nothing; a garbage and a stale confirm,
 * refused with events; a whole-instance restore rolling back data changed after the backup, with
 * the labels, the group's annotations and the server's read_only checked while it restores (the
 * load is held back by a metadata lock this test holds on a table the restore drops); a
 * per-schema restore while another schema keeps taking writes; a restore whose pod is deleted
 * midway, undone and then re-armed; every object the daemon wrote checked against Kubernetes'
 * schemas and the restricted Pod Security Standard. Point in time: the binlog archive filled by
 * `pitr archive --once`, a dry run whose plan names the binlogs and GTIDs to replay, and a
 * whole-instance restore replayed up to a time between two writes (the pitr-download init
 * container, the BLOODRAVEN_PITR lines, each transaction once).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupCrd, failoverGroupCrd } from '../../src/lib/kube/crds.js';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { startDaemon, type DaemonProcess } from '../support/kube/daemon-process.js';
import { createTestClock, type TestClock } from '../support/kube/test-clock.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';
import { deniedRequests, rbacGrantsFor } from '../support/kube/rbac.js';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../support/cli.js';
import { rootConnection, sql } from '../support/mariadb.js';
import { startReplicatedSites, type ReplicatedSites } from '../support/replication.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const ns = 'orders';
const daemonUser = 'system:serviceaccount:bloodraven-system:bloodraven';
const roleKey = 'shipstream.io/role';
const freezeKey = 'shipstream.io/topology-freeze';
const recloneKey = 'shipstream.io/reclone-site';

type Json = Record<string, unknown>;
interface RestoreStatus {
  phase?: string;
  confirmTokenUsed?: string;
  mode?: string;
  targetSite?: string;
  backup?: string;
  jobName?: string;
  dryRun?: boolean;
  plan?: { backup: string; mode: string; drop: string[]; load: string[]; binlogs: unknown[]; gtidRanges?: string; expectedBytes: number; fencing: string[] };
  pointReached?: { gtidExecuted?: string; time?: string; binlogFile?: string; binlogPos?: number };
  fencedPods?: string[];
  rows?: number;
  bytes?: number;
  message?: string;
  completionTime?: string;
}
interface Group {
  metadata: { annotations?: Record<string, string>; generation?: number };
  status?: { restoreInPlace?: RestoreStatus };
}

let sites: ReplicatedSites;
let s3: S3TestServer;
let cluster: TestCluster<TestClock>;
let daemon: DaemonProcess;
let work: string;
let backupName: string;
/** The backup's GTID position (MysqlBackup status.gtidExecuted). */
let backupGtid: string;
let daemonKubeconfig: string;
/** Confirm tokens: increasing whole seconds, from a little before now. */
const tokenBase = Math.floor(Date.now() / 1000) * 1000 - 120_000;
let tokenSeq = 0;
function nextToken(): string {
  tokenSeq += 1;
  return new Date(tokenBase + tokenSeq * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

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
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- group status ---\n${JSON.stringify(group().status?.restoreInPlace)}\n--- daemon output ---\n${daemon.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

function group(): Group {
  return cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, 'orders') as unknown as Group;
}

function restore(): RestoreStatus | undefined {
  return group().status?.restoreInPlace;
}

function events(): Array<{ reason: string; note?: string; type: string; regarding?: { name?: string } }> {
  return cluster.api.list('events.k8s.io/v1', 'Event', ns) as never;
}

function podLabels(name: string): Record<string, string> {
  return ((cluster.api.get('v1', 'Pod', ns, name) as { metadata: { labels?: Record<string, string> } }).metadata.labels ?? {});
}

/** The pods the `-primary` Service selects (its selector: the group and role=primary). */
async function primaryEndpoints(): Promise<string[]> {
  const out = await kubectl(['-n', ns, 'get', 'pods', '-l', `shipstream.io/group=orders,${roleKey}=primary`, '-o', 'jsonpath={.items[*].metadata.name}']);
  return out.split(/\s+/).filter(Boolean).sort();
}

async function readOnly(): Promise<number> {
  const [row] = (await sql(sites.primary, 'SELECT @@global.read_only AS ro')) as Array<{ ro: number | string }>;
  return Number(row?.ro);
}

async function orderCount(): Promise<number> {
  const [row] = (await sql(sites.primary, 'SELECT COUNT(*) AS n FROM app.orders')) as Array<{ n: number | string }>;
  return Number(row?.n);
}

async function setRestore(spec: Json): Promise<void> {
  // A run under way ignores a new confirm until it ends: wait for the previous one.
  await until('no restore under way', () => {
    const phase = restore()?.phase;
    return phase === undefined || phase === 'Succeeded' || phase === 'Failed';
  });
  await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--type=merge', '-p', JSON.stringify({ spec: { restoreInPlace: spec } })]);
}

async function settled(token: string): Promise<RestoreStatus> {
  return until(`the restore confirmed by ${token} to end`, () => {
    const s = restore();
    return s?.confirmTokenUsed === token && (s.phase === 'Succeeded' || s.phase === 'Failed') ? s : undefined;
  });
}

/** A transaction holding a metadata lock on app.orders: the restore's DROP DATABASE waits for it. */
async function holdOrders(): Promise<Connection> {
  const conn = await rootConnection(sites.primary);
  await conn.query('BEGIN');
  await conn.query('SELECT COUNT(*) FROM app.orders');
  return conn;
}

/** The account applications write with: no SUPER, so read_only holds it back. */
function appConnection(): Promise<Connection> {
  return createConnection({ host: '127.0.0.1', port: sites.primary.port, user: 'app', password: 'app-pw' });
}

function sitePod(name: string, site: string, primary: boolean): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { 'shipstream.io/group': 'orders', 'shipstream.io/site': site, app: 'mysql', ...(primary ? { [roleKey]: 'primary' } : {}) } },
    spec: { containers: [{ name: 'mariadb', image: 'mariadb:11.4' }] },
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-kube-inplace-'));
  [sites, s3] = await Promise.all([startReplicatedSites(), startS3Server({ buckets: ['backups'] })]);
  await sql(
    sites.primary,
    `CREATE DATABASE app; CREATE TABLE app.orders (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO app.orders SELECT seq, CONCAT("order ", seq) FROM app.seq_1_to_500;
     CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON app.* TO 'app'@'%'; GRANT ALL ON other.* TO 'app'@'%'`,
  );
  await sites.caughtUp();
  cluster = await startTestCluster({ clock: createTestClock(), repoRoot, backoffMs: 200 });
  await kubectl(['apply', '-f', join(repoRoot, 'crds')]);
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'mysql-backup', `--from-literal=username=${sites.account.user}`, `--from-literal=password=${sites.account.password}`]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-creds', `--from-literal=AWS_ACCESS_KEY_ID=${s3rverCredentials.accessKeyId}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${s3rverCredentials.secretAccessKey}`]);
  // The sites' MySQL pods, as the group's operator labels them; nobody runs them.
  for (const pod of [sitePod('mysql-orders-east-0', 'east', true), sitePod('mysql-orders-west-0', 'west', false)]) await kubectl(['create', '-f', '-'], JSON.stringify(pod));
  daemonKubeconfig = join(work, 'daemon.kubeconfig');
  await cluster.api.writeKubeconfig(daemonKubeconfig, { token: daemonUser });
  daemon = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-0', home: join(work, 'home') });
  const manifest = {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name: 'orders', namespace: ns },
    spec: {
      sites: [
        { name: 'east', mysql: { host: '127.0.0.1', port: sites.primary.port } },
        { name: 'west', mysql: { host: '127.0.0.1', port: sites.replica.port } },
      ],
      credentials: { backupSecret: 'mysql-backup' },
      backup: {
        profiles: [{ name: 'offsite', storage: { type: 'S3', s3: { bucket: 'backups', prefix: 'orders', region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } }, dump: { threads: 2 } }],
        // The binlog archive a point in time replays from: the same profile (filled by `pitr archive --once` below).
        pitr: { enabled: false, profileName: 'offsite' },
      },
    },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
  await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeSite: 'east' } })]);
  await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name: 'before-the-mistake', namespace: ns }, spec: { failoverGroupRef: { name: 'orders' }, profileName: 'offsite' } }));
  const backup = await until('the backup', () => {
    const b = cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', ns, 'before-the-mistake') as { status?: { phase?: string; backupName?: string; gtidExecuted?: string } } | undefined;
    return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
  });
  if (backup.status?.phase !== 'Succeeded') throw new Error(`the backup failed:\n${daemon.output().slice(-4000)}`);
  backupName = backup.status?.backupName ?? '';
  backupGtid = backup.status?.gtidExecuted ?? '';
}, 240_000);

afterAll(async () => {
  await daemon?.stop();
  await cluster?.stop();
  await Promise.all([sites?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

// --- point in time (k11-ippitr): the archive, and the writes around the stop time ---

/** The point-in-time tests' writes: the second of the rows before the stop time and of those after, the binlogs holding them, the GTID position after the first. */
const pitr = { before: 0, after: 0, fileBefore: '', fileAfter: '', gtidBefore: '' };

/** metav1.Time of `seconds` since the epoch. */
function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Inserts app.events rows from..to, one transaction each, all stamped `at` (SET TIMESTAMP, seconds). */
async function writeEvents(at: number, from: number, to: number): Promise<void> {
  const conn = await rootConnection(sites.primary, 'app');
  try {
    await conn.query(`SET TIMESTAMP = ${at}`);
    for (let id = from; id <= to; id++) await conn.query('INSERT INTO events VALUES (?, ?)', [id, `event ${id}`]);
  } finally {
    await conn.end();
  }
}

/** The primary's current binlog, then seals it (FLUSH BINARY LOGS): the archiver takes sealed files. */
async function sealBinlog(): Promise<string> {
  const [status] = (await sql(sites.primary, 'SHOW MASTER STATUS')) as Array<{ File: string }>;
  await sql(sites.primary, 'FLUSH BINARY LOGS');
  return status?.File ?? '';
}

/** `bloodraven pitr archive --once` against east (site east, binlogs read from its data directory) into the offsite profile's storage. */
async function archiveOnce(): Promise<void> {
  const cfg = await mkdtemp(join(work, 'archiver-'));
  await writeFile(
    join(cfg, 'bloodraven.yaml'),
    `name: orders
mysql: { host: 127.0.0.1, port: ${sites.primary.port}, user: root }
backup:
  profiles:
    - name: offsite
      storage: { type: S3, s3: { bucket: backups, prefix: orders, region: us-east-1, endpointURL: "${s3.endpoint}" } }
  pitr: { enabled: true, profileName: offsite, site: east, source: { type: local } }
`,
  );
  const before = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = s3rverCredentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3rverCredentials.secretAccessKey;
  let run: Promise<Awaited<ReturnType<typeof runCli>>>;
  try {
    // The child takes the environment when it is spawned.
    run = runCli(['pitr', 'archive', '--once'], cfg);
  } finally {
    if (before.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = before.id;
    if (before.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = before.secret;
  }
  const archived = await run;
  if (archived.code !== 0 || /error:/.test(archived.stderr)) throw new Error(`pitr archive --once failed (${archived.code}):\n${archived.stderr}`);
}

/** app.events as (id, how many times) pairs. */
async function eventIds(): Promise<Array<{ id: number; n: number }>> {
  const rows = (await sql(sites.primary, 'SELECT id, COUNT(*) AS n FROM app.events GROUP BY id ORDER BY id')) as Array<{ id: number; n: number | string }>;
  return rows.map((r) => ({ id: Number(r.id), n: Number(r.n) }));
}

/** The sequence number of domain 0 in a MariaDB GTID position (the test servers write only there). */
function seqOf(position: string): number {
  const match = /(?:^|,)0-\d+-(\d+)/.exec(position);
  if (!match) throw new Error(`no domain 0 in GTID position "${position}"`);
  return Number(match[1]);
}

/** What a whole-instance restore to the time between the two batches of app.events leaves (the point-in-time test). */
async function restoredToTheTime(status: RestoreStatus): Promise<void> {
  expect(status.mode).toBe('instance');
  expect(status.fencedPods).toEqual(['mysql-orders-east-0']);
  // The backup's 500 orders, then the archive up to the time: the first test's DELETE, the table, the rows before the time, each once.
  expect(await orderCount()).toBe(100);
  expect(await eventIds()).toEqual([1, 2, 3, 4, 5].map((id) => ({ id, n: 1 })));
  // Where the replay stopped: the last write before the time, in the file that holds it.
  expect(status.pointReached?.time).toBe(isoSeconds(pitr.before));
  expect(status.pointReached?.binlogFile).toBe(pitr.fileBefore);
  expect(status.pointReached?.binlogPos).toBeGreaterThan(0);
  expect(status.pointReached?.gtidExecuted).toMatch(/^0-101-\d+/);
  expect(seqOf(status.pointReached?.gtidExecuted ?? '')).toBe(seqOf(pitr.gtidBefore));

  const download = await kubectl(['-n', ns, 'logs', `job/${status.jobName ?? ''}`, '-c', 'pitr-download']);
  const lines = download
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { site: string; file: string; path: string; sha256: string });
  expect(lines.map((l) => `${l.site}/${l.file}`)).toEqual([`east/${pitr.fileBefore}`]);
  expect(lines.every((l) => l.path.includes('pitr-binlogs') && /^[0-9a-f]{64}$/.test(l.sha256))).toBe(true);
  const main = await kubectl(['-n', ns, 'logs', `job/${status.jobName ?? ''}`, '-c', 'restore']);
  expect(main).toMatch(/^BLOODRAVEN_PITR_START \{/m);
  const applied = seqOf(pitr.gtidBefore) - seqOf(backupGtid);
  expect(main).toMatch(new RegExp(`^BLOODRAVEN_PITR_COMPLETE \\{.*"applied":${applied}\\b`, 'm'));

  // Fencing undone as after any whole-instance restore; the peer marked for re-cloning.
  expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
  expect(await primaryEndpoints()).toEqual(['mysql-orders-east-0']);
  expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
  expect(group().metadata.annotations?.[recloneKey]).toBe('west');
  expect(await readOnly()).toBe(0);
}

describe('Kubernetes mode: spec.restoreInPlace', { timeout: 240_000 }, () => {
  it('dry run: writes the plan into status.restoreInPlace.plan and changes nothing', async () => {
    // The mistake the later restore rolls back.
    await sql(sites.primary, 'DELETE FROM app.orders WHERE id > 100');
    const token = nextToken();
    await setRestore({ confirm: token, source: { mysqlBackupRef: { name: 'before-the-mistake' } }, dryRun: true });
    const status = await settled(token);
    expect(status).toMatchObject({ phase: 'Succeeded', dryRun: true, mode: 'instance', targetSite: 'east', backup: backupName });
    expect(status.plan).toMatchObject({ backup: backupName, mode: 'instance', drop: ['app'], load: ['app'], binlogs: [] });
    expect(status.plan?.expectedBytes).toBeGreaterThan(0);
    const fencing = status.plan?.fencing.join('\n') ?? '';
    expect(fencing).toContain('mysql-orders-east-0');
    expect(fencing).toContain(freezeKey);
    expect(fencing).toContain('read_only = 1');
    expect(fencing).toContain(`${recloneKey}=west`);
    expect(status.message).toMatch(/newer confirm/);
    // Nothing changed: rows, labels, annotations, read_only.
    expect(await orderCount()).toBe(100);
    expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
    expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
    expect(group().metadata.annotations?.[recloneKey]).toBeUndefined();
    expect(await readOnly()).toBe(0);
    // A dry run is not a restore: the restore metrics did not count it.
    expect((await daemon.get('/metrics')).body).not.toMatch(/^bloodraven_restore_runs_total\{/m);
    // The Job runner runs only its Jobs' pods: the sites' pods were never started.
    for (const name of ['mysql-orders-east-0', 'mysql-orders-west-0']) {
      expect((cluster.api.get('v1', 'Pod', ns, name) as { status?: { containerStatuses?: unknown } }).status?.containerStatuses, name).toBeUndefined();
    }
  });

  it('refuses a garbage confirm and a stale one with events, and changes nothing', async () => {
    const before = restore();
    await setRestore({ confirm: 'tomorrow morning', dryRun: false });
    const invalid = await until('the InvalidConfirm event', () => events().find((e) => e.reason === 'InvalidConfirm'));
    expect(invalid.type).toBe('Warning');
    expect(invalid.note).toContain('spec.restoreInPlace.confirm');
    expect(invalid.note).toMatch(/date -u \+%FT%TZ/);
    const future = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await setRestore({ confirm: future });
    await until('the InvalidConfirm event for a future time', () => events().find((e) => e.reason === 'InvalidConfirm' && e.note?.includes('ahead of the daemon')));
    await setRestore({ confirm: new Date(tokenBase).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    const stale = await until('the StaleConfirm event', () => events().find((e) => e.reason === 'StaleConfirm'));
    expect(stale.note).toContain('confirmTokenUsed');
    expect(restore()).toEqual(before);
    expect(await orderCount()).toBe(100);
    expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
    expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
  });

  // --- point in time (k11-ippitr). Before any whole-instance restore: each one is recorded in the
  // archive's storage (in-place-restores.json) and ends the backup's point-in-time coverage, so the
  // times replayed here must come before the first one. This test's own restore is recorded only
  // after its plan is made.
  it('point in time, dry run: the plan names the archived binlogs and the GTID ranges to replay, and nothing changes', async () => {
    // Rows stamped with two whole seconds, each batch sealed in a binlog of its own; the second
    // batch is written only once its second has come, so no binlog event is from the future.
    await sql(sites.primary, 'CREATE TABLE app.events (id INT NOT NULL, note VARCHAR(40), KEY (id))');
    pitr.before = Math.floor(Date.now() / 1000);
    await writeEvents(pitr.before, 1, 5);
    const [pos] = (await sql(sites.primary, 'SELECT @@gtid_binlog_pos AS pos')) as Array<{ pos: string }>;
    pitr.gtidBefore = pos?.pos ?? '';
    pitr.fileBefore = await sealBinlog();
    pitr.after = pitr.before + 2;
    await until('the second after the stop time', () => Date.now() >= pitr.after * 1000);
    await writeEvents(pitr.after, 6, 10);
    pitr.fileAfter = await sealBinlog();
    await archiveOnce();

    const token = nextToken();
    await setRestore({ confirm: token, dryRun: true, pointInTime: { stopDatetime: isoSeconds(pitr.before + 1) } });
    const status = await settled(token);
    expect(status.phase, status.message).toBe('Succeeded');
    expect(status).toMatchObject({ dryRun: true, mode: 'instance', targetSite: 'east', backup: backupName });
    // The file holding the writes up to the time (and the first test's DELETE), not the one after it.
    expect(status.plan?.binlogs).toEqual([{ site: 'east', file: pitr.fileBefore }]);
    // The transactions after the backup's position up to the last write before the time.
    expect(status.plan?.gtidRanges).toBe(`0-101-${seqOf(backupGtid) + 1}..${seqOf(pitr.gtidBefore)}`);
    expect(status.plan?.drop).toEqual(['app']);
    // Nothing changed: rows, labels, annotations, read_only.
    expect(await eventIds()).toHaveLength(10);
    expect(await orderCount()).toBe(100);
    expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
    expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
    expect(await readOnly()).toBe(0);
  });

  it('point in time, whole instance: pitr-download fetches the binlogs, the replay stops at stopDatetime with each transaction once, and the fencing is undone', async () => {
    const token = nextToken();
    await setRestore({ confirm: token, dryRun: false, pointInTime: { stopDatetime: isoSeconds(pitr.before + 1) } });
    try {
      const status = await settled(token);
      expect(status.phase, status.message).toBe('Succeeded');
      await restoredToTheTime(status);
    } finally {
      // The next tests' restores replay nothing, and west re-cloned, as its operator would, clears the mark.
      await setRestore({ pointInTime: null });
      await cluster.kubectl(['-n', ns, 'annotate', 'mysqlfailovergroup', 'orders', `${recloneKey}-`]);
    }
  });
  // --- end point in time (k11-ippitr) ---

  it('one schema: other schemas keep taking writes throughout; no fencing, no reclone', async () => {
    await sql(sites.primary, 'CREATE DATABASE other; CREATE TABLE other.t (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(3)); DELETE FROM app.orders WHERE id > 250');
    const app = await appConnection();
    let writes = 0;
    let failure: unknown;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        try {
          await app.query('INSERT INTO other.t (at) VALUES (NOW(3))');
          writes += 1;
        } catch (err) {
          failure = err;
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const hold = await holdOrders();
    let released = false;
    const succeeded = async (): Promise<number> => Number(/^bloodraven_restore_runs_total\{namespace="orders",group="orders",profile="offsite",result="success"\} (\d+)$/m.exec((await daemon.get('/metrics')).body)?.[1] ?? 0);
    const succeededBefore = await succeeded();
    try {
      const token = nextToken();
      await setRestore({ confirm: token, loadOptions: { includeSchemas: ['app'] } });
      await until('Restoring', () => restore()?.confirmTokenUsed === token && restore()?.phase === 'Restoring');
      expect(restore()?.mode).toBe('schema');
      const during = writes;
      await until('writes while restoring', () => writes > during + 10);
      expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
      expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
      expect(await readOnly()).toBe(0);
      await hold.query('COMMIT');
      released = true;
      const status = await settled(token);
      expect(status.phase, status.message).toBe('Succeeded');
      expect(status.fencedPods).toBeUndefined();
      expect(await succeeded()).toBe(succeededBefore + 1);
      const after = writes;
      await until('writes after the restore', () => writes > after + 5);
    } finally {
      if (!released) await hold.query('COMMIT').catch(() => undefined);
      await hold.end();
      stop = true;
      await writer;
      await app.end();
    }
    expect(failure).toBeUndefined();
    expect(await orderCount()).toBe(500);
    expect(group().metadata.annotations?.[recloneKey]).toBeUndefined();
    // Replication carried the schema's restore to the peer.
    await sites.caughtUp();
    const [west] = (await sql(sites.replica, 'SELECT COUNT(*) AS n FROM app.orders')) as Array<{ n: number | string }>;
    expect(Number(west?.n)).toBe(500);
  });

  it('whole instance: fences the primary (labels, freeze, read_only) while restoring, rolls the data back, then resumes and marks the peer for re-cloning, across a daemon killed mid-way', async () => {
    // Another mistake after the backup; the schema `other` was created after it too.
    await sql(sites.primary, 'DELETE FROM app.orders WHERE id > 100');
    expect(await orderCount()).toBe(100);
    const hold = await holdOrders();
    let released = false;
    try {
      const token = nextToken();
      await setRestore({ confirm: token, dryRun: false, loadOptions: { includeSchemas: [] } });
      const restoring = await until('Restoring', () => (restore()?.confirmTokenUsed === token && restore()?.phase === 'Restoring' ? restore() : undefined));
      expect(restoring?.mode).toBe('instance');
      expect(restoring?.fencedPods).toEqual(['mysql-orders-east-0']);
      // Fenced: the role label gone (the -primary Service has no endpoint), the topology frozen, the server read-only.
      expect(podLabels('mysql-orders-east-0')[roleKey]).toBeUndefined();
      expect(podLabels('mysql-orders-east-0')['shipstream.io/site']).toBe('east');
      expect(await primaryEndpoints()).toEqual([]);
      expect(group().metadata.annotations?.[freezeKey]).toBe(token);
      await until('read_only = 1 on the primary', async () => ((await readOnly()) === 1 ? true : undefined));
      const app = await appConnection();
      try {
        await expect(app.query('INSERT INTO app.orders VALUES (9999, "during")')).rejects.toThrow(/read-only|read_only/i);
      } finally {
        await app.end();
      }
      // A daemon killed mid-way: its successor continues from the status.
      await daemon.kill();
      daemon = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-1', home: join(work, 'home') });
      await hold.query('COMMIT');
      released = true;
      const status = await settled(token);
      expect(status.phase, status.message).toBe('Succeeded');
      expect(status.rows).toBe(500);
      expect(status.bytes).toBeGreaterThan(0);
      expect(await orderCount()).toBe(500);
      // The whole instance is the backup's: a schema made after it is gone.
      expect(await sql(sites.primary, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'other'")).toEqual([]);
      expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
      expect(await primaryEndpoints()).toEqual(['mysql-orders-east-0']);
      expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
      expect(group().metadata.annotations?.[recloneKey]).toBe('west');
      expect(await readOnly()).toBe(0);
      const reasons = events().map((e) => e.reason);
      expect(reasons).toEqual(expect.arrayContaining(['RestoreInPlacePreflight', 'RestoreInPlaceFencing', 'RestoreInPlaceRestoring', 'RestoreInPlaceResuming', 'RestoreInPlaceSucceeded']));
    } finally {
      if (!released) await hold.query('COMMIT').catch(() => undefined);
      await hold.end();
    }
  });

  it('a restore whose pod is killed midway is Failed with the labels and freeze undone and the server still fenced; a newer confirm re-arms it and lifts the fence', async () => {
    await sql(sites.primary, 'DELETE FROM app.orders WHERE id > 10');
    const hold = await holdOrders();
    let released = false;
    const token = nextToken();
    try {
      await setRestore({ confirm: token });
      const restoring = await until('Restoring', () => (restore()?.confirmTokenUsed === token && restore()?.phase === 'Restoring' ? restore() : undefined));
      await until('read_only = 1 on the primary', async () => ((await readOnly()) === 1 ? true : undefined));
      const pod = await until('the restore pod', () =>
        (cluster.api.list('v1', 'Pod', ns) as Array<{ metadata: { name: string; labels?: Record<string, string> } }>).find((p) => p.metadata.labels?.['job-name'] === restoring?.jobName || p.metadata.labels?.['batch.kubernetes.io/job-name'] === restoring?.jobName),
      );
      await kubectl(['-n', ns, 'delete', 'pod', pod.metadata.name, '--wait=false']);
      const failed = await settled(token);
      expect(failed.phase).toBe('Failed');
      expect(failed.message).toMatch(/newer spec\.restoreInPlace\.confirm/);
      expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
      expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
      // The routing is back, but the server may hold part of the backup: its writes stay fenced,
      // so nothing written now is lost when the restore is run again.
      expect(failed.message).toMatch(/writes stay fenced \(read_only = 1\)/);
      // Said as what happened, also when a replacement pod ran and was refused by the used token.
      expect(failed.message, failed.message).toMatch(/killed or deleted midway/);
      expect(failed.message).not.toMatch(/CONFIRM_STALE/);
      expect(await readOnly()).toBe(1);
      const app = await appConnection();
      try {
        await expect(app.query('INSERT INTO app.orders VALUES (9998, "after-kill")')).rejects.toThrow(/read-only|read_only/i);
      } finally {
        await app.end();
      }
      await until('the RestoreInPlaceFailed event', () => events().some((e) => e.reason === 'RestoreInPlaceFailed'));
      await hold.query('COMMIT');
      released = true;
    } finally {
      if (!released) await hold.query('COMMIT').catch(() => undefined);
      await hold.end();
    }
    const rearmed = nextToken();
    await setRestore({ confirm: rearmed });
    const status = await settled(rearmed);
    expect(status.phase, status.message).toBe('Succeeded');
    expect(await orderCount()).toBe(500);
    expect(await readOnly()).toBe(0);
    expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
    expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
  });

  it('refuses a direct S3 source at Preflight, naming spec.restoreInPlace.source, with nothing touched', async () => {
    const token = nextToken();
    await setRestore({ confirm: token, source: { mysqlBackupRef: null, s3: { bucket: 'backups', prefix: `orders/${backupName}`, endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } } });
    const status = await settled(token);
    expect(status.phase).toBe('Failed');
    expect(status.message).toMatch(/^spec\.restoreInPlace\.source: .*mysqlBackupRef instead of s3; nothing was touched/);
    expect(status.jobName).toBeUndefined();
    expect(podLabels('mysql-orders-east-0')[roleKey]).toBe('primary');
    expect(group().metadata.annotations?.[freezeKey]).toBeUndefined();
    await setRestore({ source: { s3: null, mysqlBackupRef: { name: 'before-the-mistake' } } });
  });

  it('wrote only objects Kubernetes’ own schemas accept, the restore pods under the restricted Pod Security Standard', () => {
    const written = cluster.api.writes.filter((w) => w.user === daemonUser);
    const crds = [failoverGroupCrd(), backupCrd()] as never[];
    const problems = written.flatMap((w) => kubeSchemaProblems(w.object, crds).map((p) => `${w.verb} ${w.kind} ${w.name}${w.subresource ? `/${w.subresource}` : ''}: ${p}`));
    expect(problems).toEqual([]);
    const jobs = written.filter((w) => w.kind === 'Job' && (w.object as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.['shipstream.io/restore'] === 'in-place');
    expect(jobs.length).toBeGreaterThan(2);
    const pods = jobs.map((w) => (w.object as { spec: { template: { spec: unknown } } }).spec.template.spec);
    expect(pods.flatMap((pod) => restrictedPodSecurityProblems(pod))).toEqual([]);
  });

  it('made only requests that deploy/’s RBAC grants the daemon (pods list and patch, group patch included)', async () => {
    const rendered = parseAllDocuments(await kubectl(['kustomize', join(repoRoot, 'deploy')])).map((d) => d.toJS() as unknown);
    const grants = rbacGrantsFor(rendered, { namespace: 'default', name: 'bloodraven' });
    const made = cluster.api.requests.filter((r) => r.user === daemonUser);
    expect(made.some((r) => r.resource === 'pods' && r.verb === 'patch')).toBe(true);
    expect(deniedRequests(grants, made)).toEqual([]);
  });
});
