/**
 * PITR archiving in the cluster: `bloodraven pitr archive --sidecar` beside each of two real
 * MariaDB servers in GTID replication (test/support/pitr-sidecars.ts: non-root processes reading
 * a binlog folder they cannot write), S3 on s3rver, and `bloodraven daemon --kubernetes` (a real
 * process on the test cluster) publishing the pruning cutoff.
 *
 * Shown here: only the primary's sidecar uploads, and /archiver/status says so with the
 * reference's fields; a null cutoff prunes nothing; a failover moves archiving to the new
 * primary under its own site while the old one stops; a point-in-time restore (the CLI, into a
 * third server) across the switch holds every transaction exactly once; the daemon's cutoff,
 * from a MysqlBackup the cluster took, prunes the binlogs before it from storage and manifest
 * and keeps the one after; an unreachable daemon prunes nothing, says so, and archiving goes on;
 * a server that goes away and comes back is waited for, without the sidecar exiting.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import { planCutoffPrune } from '../../src/lib/pitr/cutoff-prune.js';
import { readSiteManifest, type SiteManifest } from '../../src/lib/pitr/manifest.js';
import { windowFromStorage } from '../../src/lib/pitr/point-in-time.js';
import { createS3Store } from '../../src/lib/storage/s3-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { runCli } from '../support/cli.js';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { startDaemon, type DaemonProcess } from '../support/kube/daemon-process.js';
import { createTestClock, type TestClock } from '../support/kube/test-clock.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { groupSites, startPitrSidecarSites, type ArchiveStorage, type PitrSidecarSites } from '../support/pitr-sidecars.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const ns = 'orders';

let s3: S3TestServer;
let cluster: TestCluster<TestClock>;
let daemon: DaemonProcess;
let pitr: PitrSidecarSites;
let store: ObjectStore;
let storage: ArchiveStorage;
let work: string;
/** A folder with a bloodraven.yaml for the CLI run as a person would (root, the primary east). */
let cwd: string;
/** The backup taken before the failover, and the time the restore stops at (after the switch). */
let firstBackup: string;
/** A backup the CLI took in set-up, with no MysqlBackup. */
let cliBackup: string;
let stopAt: Date;
const servers: TestServer[] = [];

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}\n--- east sidecar ---\n${pitr?.sidecars.east.output().slice(-3000)}\n--- west sidecar ---\n${pitr?.sidecars.west.output().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The sealed binlogs of a server (every one but the file it writes). */
async function sealed(server: TestServer): Promise<string[]> {
  const logs = (await sql(server, 'SHOW BINARY LOGS')) as Array<{ Log_name: string }>;
  return logs.slice(0, -1).map((l) => l.Log_name);
}

/**
 * A site's manifest. s3rver writes an object straight into its final file (real S3 replaces it
 * whole), so a read racing a sidecar's write can see half of it: read again then.
 */
async function manifest(site: string): Promise<SiteManifest> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readSiteManifest(store, site);
    } catch (err) {
      if (attempt >= 5 || !(err instanceof Error && /is not valid JSON/.test(err.message))) throw err;
      await sleep(100);
    }
  }
}

async function insert(server: TestServer, origin: string, from: number, to: number): Promise<void> {
  const values = Array.from({ length: to - from + 1 }, (_, i) => `(${from + i}, '${origin}')`).join(', ');
  await sql(server, `INSERT INTO app.t VALUES ${values}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Creates a MysqlBackup of the group's archive profile and waits for it; returns the stored backup's name. */
async function clusterBackup(name: string, extra: Record<string, string> = {}): Promise<string> {
  await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name, namespace: ns }, spec: { failoverGroupRef: { name: 'orders' }, profileName: 'archive', triggeredBy: 'manual', ...extra } }));
  const done = await until(`MysqlBackup ${name} to end`, () => {
    const b = cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', ns, name) as { status?: { phase?: string; backupName?: string } } | undefined;
    return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
  });
  if (done.status?.phase !== 'Succeeded' || !done.status.backupName) throw new Error(`MysqlBackup ${name} failed: ${JSON.stringify(done.status)}\n${daemon.output().slice(-3000)}`);
  return done.status.backupName;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-pitr-sidecar-'));
  s3 = await startS3Server({ buckets: ['backups'] });
  storage = { endpoint: s3.endpoint, bucket: 'backups', prefix: 'orders', profile: 'archive' };
  store = createS3Store({ bucket: 'backups', prefix: 'orders', endpointURL: s3.endpoint, partSize: 5 * 1024 * 1024, credentials: s3rverCredentials });
  cluster = await startTestCluster({ clock: createTestClock(), repoRoot, backoffMs: 200 });
  await kubectl(['apply', '-f', join(repoRoot, 'crds')]);
  await kubectl(['create', 'namespace', ns]);
  const daemonKubeconfig = join(work, 'daemon.kubeconfig');
  await cluster.api.writeKubeconfig(daemonKubeconfig);
  daemon = await startDaemon({ kubeconfig: daemonKubeconfig, identity: 'bloodraven-0', home: join(work, 'home'), extraArgs: ['--no-leader-elect'] });
  const cutoffUrl = `${daemon.url}/pitr-cutoff?namespace=${ns}&group=orders&profile=archive`;
  pitr = await startPitrSidecarSites({
    work,
    storage,
    settings: { east: { cutoffUrl }, west: { cutoffUrl } },
    prepare: async (sites) => {
      // No primary key: a transaction applied twice would show as a duplicate row.
      await sql(sites.primary, "CREATE DATABASE app; CREATE TABLE app.t (v INT NOT NULL, origin VARCHAR(8) NOT NULL); INSERT INTO app.t VALUES (1, 'east'), (2, 'east'), (3, 'east'), (4, 'east'), (5, 'east')");
      await sql(sites.primary, 'FLUSH BINARY LOGS');
    },
  });
  const { sites } = pitr;
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'mysql-backup', `--from-literal=username=${sites.account.user}`, `--from-literal=password=${sites.account.password}`]);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-creds', `--from-literal=AWS_ACCESS_KEY_ID=${s3rverCredentials.accessKeyId}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${s3rverCredentials.secretAccessKey}`]);
  const group = {
    apiVersion: 'shipstream.io/v1alpha1',
    kind: 'MysqlFailoverGroup',
    metadata: { name: 'orders', namespace: ns },
    spec: {
      sites: groupSites(sites),
      credentials: { backupSecret: 'mysql-backup' },
      backup: {
        profiles: [{ name: 'archive', storage: { type: 'S3', s3: { bucket: 'backups', prefix: 'orders', region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } }, dump: { threads: 2 } }],
        pitr: { enabled: true, profileName: 'archive' },
      },
    },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(group));
  await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeSite: 'east' } })]);

  // The CLI as a person runs it, as root, against east: the first full backup.
  cwd = await mkdtemp(join(work, 'cli-'));
  const aws = join(cwd, 'aws');
  await mkdir(aws);
  await writeFile(join(aws, 'AWS_ACCESS_KEY_ID'), s3rverCredentials.accessKeyId, { mode: 0o400 });
  await writeFile(join(aws, 'AWS_SECRET_ACCESS_KEY'), s3rverCredentials.secretAccessKey, { mode: 0o400 });
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: orders
mysql: { host: 127.0.0.1, port: ${sites.primary.port}, user: root }
backup:
  profiles:
    - name: archive
      storage: { type: S3, s3: { bucket: backups, prefix: orders, region: us-east-1, endpointURL: "${s3.endpoint}", credentialsDir: ./aws } }
      dump: { threads: 2, includeSchemas: [app] }
  pitr: { enabled: true, profileName: archive }
`,
  );
  // A backup in storage with no MysqlBackup (the CLI run as a person runs it): pruning would be
  // allowed by storage alone, and the daemon's null cutoff must still hold it back.
  const cliRun = await runCli(['backup', 'now', '--json'], cwd);
  if (cliRun.code !== 0) throw new Error(`backup now failed: ${cliRun.stderr}`);
  cliBackup = (JSON.parse(cliRun.stdout) as { name: string }).name;
}, 240_000);

afterAll(async () => {
  await pitr?.stop();
  await daemon?.stop();
  await cluster?.stop();
  await Promise.all([s3?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('pitr archive --sidecar', () => {
  it('uploads from the primary only, reading a folder it cannot write, and reports it on /archiver/status', async () => {
    const { east, west } = pitr.sidecars;
    const eastFiles = await sealed(pitr.sites.primary);
    const archived = await until('east to archive its sealed binlogs', async () => {
      const m = await manifest('east');
      return eastFiles.every((f) => m.entries.some((e) => e.file === f)) && m;
    });
    expect(archived.entries.map((e) => e.file)).toEqual(eastFiles);
    expect((await stat(east.binlogDir)).mode & 0o777).toBe(0o555);

    const status = await until('east to have read the cutoff', async () => {
      const s = await east.status();
      return s.prune.lastPolledAt !== null && s.prune.lastError === null && s;
    });
    expect(status).toMatchObject({
      enabled: true,
      primary: true,
      site: 'east',
      storageType: 'S3',
      manifestPrefix: 's3://backups/orders/binlogs/',
      lastError: null,
      mode: 'sidecar',
      prune: { cutoff: null, filesPruned: 0 },
    });
    expect(status.filesArchived).toBe(eastFiles.length);
    expect(Date.parse(status.lastScanAt ?? '')).toBeGreaterThan(0);

    // The replica: read-only, so it uploads nothing and writes no manifest.
    const replica = await west.status();
    expect(replica).toMatchObject({ enabled: true, primary: false, site: 'west', filesArchived: 0, lastError: null });
    expect((await manifest('west')).entries).toEqual([]);
    expect(await store.exists('binlogs/manifest-west.json')).toBe(false);

    // No MysqlBackup yet: the daemon's cutoff is null, and nothing is pruned although the backup
    // in storage would let the oldest binlogs go under any cutoff.
    expect(JSON.parse((await daemon.get('/pitr-cutoff?namespace=orders&group=orders&profile=archive')).body)).toEqual({ cutoff: null });
    expect(planCutoffPrune(await listBackups(store), archived, new Date()).length).toBeGreaterThan(0);
    expect((await manifest('east')).entries).toHaveLength(eastFiles.length);
    expect((await east.get('/healthz')).status).toBe(200);
    // Labelled by the namespace, group and profile of its --pitr-cutoff-url (how the daemon knows it).
    const eastMetrics = (await east.get('/metrics')).body;
    const labels = `namespace="${ns}",group="orders",profile="archive"`;
    expect(eastMetrics).toContain(`bloodraven_pitr_archiver_primary{${labels}} 1\n`);
    expect(eastMetrics).toContain(`bloodraven_pitr_archiver_archived_files_total{${labels}} ${eastFiles.length}\n`);
    expect(eastMetrics).toContain(`bloodraven_pitr_archiver_info{${labels},site="east"} 1\n`);
    // The window read after its scans, under the same labels: no backup yet, so nothing restorable and no gap.
    expect(eastMetrics).toContain(`bloodraven_pitr_window_gaps{${labels}} 0\n`);
    expect(eastMetrics).not.toContain('bloodraven_pitr_window_end_timestamp_seconds{');
    expect((await west.get('/metrics')).body).toContain(`bloodraven_pitr_archiver_primary{${labels}} 0\n`);
  });

  it('moves archiving to the new primary under its own site on a failover; the old primary stops', async () => {
    const { primary, replica } = pitr.sites;
    const { east, west } = pitr.sidecars;
    // The first full backup, taken by the cluster (a MysqlBackup, so the in-cluster restore can
    // read it by reference), then more rows on east before the switch.
    firstBackup = await clusterBackup('before-switch');
    await insert(primary, 'east', 6, 10);
    await sql(primary, 'FLUSH BINARY LOGS');
    await pitr.failover();
    await kubectl(['-n', ns, 'patch', 'mysqlfailovergroup', 'orders', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeSite: 'west' } })]);
    await insert(replica, 'west', 11, 15);
    // The restore stops at a whole second after those rows and before the next one.
    await sleep(1100);
    stopAt = new Date(Math.ceil(Date.now() / 1000) * 1000);
    while (Date.now() < stopAt.getTime() + 1100) await sleep(100);
    await insert(replica, 'late', 16, 16);
    await sql(replica, 'FLUSH BINARY LOGS');
    // A file east seals now, read-only, must not be uploaded.
    await sql(primary, 'FLUSH BINARY LOGS');
    const eastNewest = (await sealed(primary)).at(-1)!;
    const flushedAt = Date.now();

    const westFiles = await sealed(replica);
    const westManifest = await until('west to archive its sealed binlogs under its own site', async () => {
      const m = await manifest('west');
      return westFiles.every((f) => m.entries.some((e) => e.file === f)) && m;
    });
    expect(westManifest.site).toBe('west');
    expect(westManifest.entries.every((e) => e.key.startsWith('binlogs/west/'))).toBe(true);
    expect(await west.status()).toMatchObject({ primary: true, site: 'west', lastError: null });

    const old = await until('east to scan after the switch', async () => {
      const s = await east.status();
      return Date.parse(s.lastScanAt ?? '') > flushedAt + 1000 && s;
    });
    expect(old).toMatchObject({ primary: false, site: 'east' });
    expect((await manifest('east')).entries.map((e) => e.file)).not.toContain(eastNewest);
  });

  it("serves the group's status page at /: its MysqlBackups from the cluster, the window read from the S3 archive", async () => {
    // The window as `pitr window` computes it from the same storage.
    const window = await windowFromStorage(store);
    expect(window.ranges.length).toBeGreaterThan(0);
    const res = await fetch(`${daemon.url}/?group=${encodeURIComponent(`${ns}/orders`)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const page = await res.text();
    expect(page).toContain(`bloodraven status: ${ns}/orders`);
    // The MysqlBackup the cluster took, as a table row and a point on the timeline.
    expect(page).toMatch(/<tr[^>]*data-backup="before-switch"[^>]*data-phase="Succeeded"/);
    expect(page).toMatch(/<g[^>]*class="backup[^"]*"[^>]*data-backup="before-switch"/);
    // Every restorable range, with the sites, from the archive.
    for (const r of window.ranges) expect(page).toContain(`datetime="${r.from}"`);
    expect(page).toMatch(/<rect[^>]*class="range/);
    expect(page).toContain('s3://backups/orders');
    expect(page).not.toContain('cannot read');
    // No credentials: the Secret's values never reach the page.
    expect(page).not.toContain(s3rverCredentials.secretAccessKey);
    // Without ?group: the first group, with links to the others.
    const index = await (await fetch(`${daemon.url}/`)).text();
    expect(index).toContain('<nav id="groups"');
  });

  it('restores a fresh server to a time after the switch with every transaction exactly once', async () => {
    const target = await startTestServer();
    servers.push(target);
    const r = await runCli(['restore', 'bootstrap', '--backup', firstBackup, '--stop-datetime', stopAt.toISOString(), '--port', String(target.port), '--json'], cwd);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^BLOODRAVEN_PITR_COMPLETE /m);
    const rows = (await sql(target, 'SELECT v, origin, COUNT(*) AS n FROM app.t GROUP BY v, origin ORDER BY v')) as Array<{ v: number; origin: string; n: string | number }>;
    const expected = [...Array.from({ length: 10 }, (_, i) => ({ v: i + 1, origin: 'east', n: 1 })), ...Array.from({ length: 5 }, (_, i) => ({ v: i + 11, origin: 'west', n: 1 }))];
    expect(rows.map((row) => ({ ...row, n: Number(row.n) }))).toEqual(expected);
  });

  it('restores a new group in the cluster (initFromBackup with stopDatetime) across the switch, each transaction once', async () => {
    const target = await startTestServer();
    servers.push(target);
    const { account } = pitr.sites;
    await sql(target, `CREATE USER '${account.user}'@'%' IDENTIFIED BY '${account.password}'; GRANT ALL ON *.* TO '${account.user}'@'%' WITH GRANT OPTION`);
    const group = {
      apiVersion: 'shipstream.io/v1alpha1',
      kind: 'MysqlFailoverGroup',
      metadata: { name: 'orders-restored', namespace: ns },
      spec: {
        sites: [{ name: 'main', mysql: { host: '127.0.0.1', port: target.port } }],
        credentials: { backupSecret: 'mysql-backup' },
        backup: {
          profiles: [{ name: 'archive', storage: { type: 'S3', s3: { bucket: 'backups', prefix: 'orders', region: 'us-east-1', endpointURL: s3.endpoint, credentialsSecret: 's3-creds' } } }],
          pitr: { enabled: false, profileName: 'archive' },
        },
        initFromBackup: { source: { mysqlBackupRef: { name: 'before-switch' } }, pointInTime: { stopDatetime: stopAt.toISOString() } },
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(group));
    const status = await until(
      'the restored group to finish its initFromBackup',
      () => {
        const g = cluster.api.get('shipstream.io/v1alpha1', 'MysqlFailoverGroup', ns, 'orders-restored') as { status?: { initFromBackup?: { phase?: string; message?: string; pointReached?: { time?: string; gtidExecuted?: string }; backup?: string } } } | undefined;
        const s = g?.status?.initFromBackup;
        return s?.phase === 'Succeeded' || s?.phase === 'Failed' ? s : undefined;
      },
      180_000,
    );
    expect(status.phase, `${status.message}\n${daemon.output().slice(-3000)}`).toBe('Succeeded');
    expect(status.backup).toBe(firstBackup);
    // Stopped at the target: the last applied transaction is west's row 15, before stopAt.
    expect(Date.parse(status.pointReached?.time ?? '')).toBeLessThanOrEqual(stopAt.getTime());
    const rows = (await sql(target, 'SELECT v, origin, COUNT(*) AS n FROM app.t GROUP BY v, origin ORDER BY v')) as Array<{ v: number; origin: string; n: string | number }>;
    const expected = [...Array.from({ length: 10 }, (_, i) => ({ v: i + 1, origin: 'east', n: 1 })), ...Array.from({ length: 5 }, (_, i) => ({ v: i + 11, origin: 'west', n: 1 }))];
    expect(rows.map((row) => ({ ...row, n: Number(row.n) }))).toEqual(expected);
    // The init container downloaded west's archive (the transactions after the switch live only
    // there; east's rows 6-10 may come from either site, since west logged them as a replica),
    // and the replay said where it stopped.
    const logs = await kubectl(['-n', ns, 'logs', 'job/mysql-orders-restored-init-restore', '-c', 'pitr-download']);
    const sitesDownloaded = new Set(logs.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { site: string }).site));
    expect(sitesDownloaded.has('west')).toBe(true);
    expect(await kubectl(['-n', ns, 'logs', 'job/mysql-orders-restored-init-restore', '-c', 'restore'])).toMatch(/^BLOODRAVEN_PITR_COMPLETE /m);
  });

  it("prunes each site's archive by the daemon's cutoff: the binlogs before it go from storage and manifest, the one after it stays", async () => {
    const { replica } = pitr.sites;
    const { west } = pitr.sidecars;
    // Everything west archived so far is older than the backup about to be taken.
    const before = (await manifest('west')).entries;
    expect(before.length).toBeGreaterThan(0);
    await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackup', metadata: { name: 'after-switch', namespace: ns }, spec: { failoverGroupRef: { name: 'orders' }, profileName: 'archive', triggeredBy: 'manual', sourceSiteOverride: 'west' } }));
    const done = await until('the MysqlBackup to succeed', () => {
      const b = cluster.api.get('shipstream.io/v1alpha1', 'MysqlBackup', ns, 'after-switch') as { status?: { phase?: string; completionTime?: string } } | undefined;
      return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
    });
    expect(done.status?.phase).toBe('Succeeded');
    const cutoff = new Date(done.status!.completionTime!);
    // The first backup goes as retention would take it: its MysqlBackup deleted, the cleanup Job
    // removing the stored backup (kubectl waits for the finalizer).
    await kubectl(['-n', ns, 'delete', 'mysqlbackup', 'before-switch']);
    expect(await store.exists(`${firstBackup}/@.done.json`)).toBe(false);
    // The CLI's backup has no MysqlBackup: it goes as a person removes it.
    const deleted = await runCli(['backup', 'delete', cliBackup, '--yes'], cwd);
    expect(deleted.code, deleted.stderr).toBe(0);
    // A binlog after the cutoff.
    await insert(replica, 'after', 17, 17);
    await sql(replica, 'FLUSH BINARY LOGS');
    const after = (await sealed(replica)).at(-1)!;
    expect(before.every((e) => (e.lastEventTime ?? e.uploadedAt) < cutoff.toISOString())).toBe(true);

    const pruned = await until('west to prune to the cutoff', async () => {
      const m = await manifest('west');
      return m.entries.some((e) => e.file === after) && before.every((b) => !m.entries.some((e) => e.file === b.file)) && m;
    });
    expect(pruned.entries.map((e) => e.file)).toEqual([after]);
    // Tombstones, so that west does not upload them again while its server still has them.
    expect(pruned.pruned?.map((p) => p.file)).toEqual(expect.arrayContaining(before.map((b) => b.file)));
    for (const b of before) expect(await store.exists(b.key), b.key).toBe(false);
    expect(await store.exists(pruned.entries[0]!.key)).toBe(true);
    const status = await west.status();
    expect(new Date(status.prune.cutoff ?? 0).getTime()).toBe(cutoff.getTime());
    expect(status.prune).toMatchObject({ lastError: null, filesPruned: before.length });
    // East prunes its own site the same way: every transaction it archived is in the backup from west.
    await until('east to prune its own site', async () => (await manifest('east')).entries.length === 0 && (await pitr.sidecars.east.status()).prune.filesPruned > 0);
  });

  it('prunes nothing while the daemon cannot be reached, says so, and archives on', async () => {
    const { replica } = pitr.sites;
    const { west } = pitr.sidecars;
    await daemon.stop();
    const failing = await until('west to report the unreachable daemon', async () => {
      const s = await west.status();
      return s.prune.lastError !== null && s;
    });
    expect(failing.prune.lastError).toMatch(/cannot read the pruning cutoff from http:\/\/127\.0\.0\.1:\d+\/pitr-cutoff/);
    const prunedBefore = failing.prune.filesPruned;
    const kept = (await manifest('west')).entries.map((e) => e.file);
    await insert(replica, 'offline', 18, 18);
    await sql(replica, 'FLUSH BINARY LOGS');
    const newest = (await sealed(replica)).at(-1)!;
    const m = await until('west to archive while pruning fails', async () => {
      const now = await manifest('west');
      return now.entries.some((e) => e.file === newest) && now;
    });
    expect(m.entries.map((e) => e.file)).toEqual([...kept, newest]);
    await sleep(2500);
    const s = await west.status();
    expect(s).toMatchObject({ primary: true, lastError: null });
    expect(s.prune.filesPruned).toBe(prunedBefore);
    expect(s.prune.lastError).not.toBeNull();
    expect((await manifest('west')).entries.map((e) => e.file)).toEqual([...kept, newest]);
  });

  it('waits for its server while it is down, without exiting, and archives again once it is back', async () => {
    const { replica } = pitr.sites;
    const { west } = pitr.sidecars;
    await replica.crash();
    const waiting = await until('west to notice its server is gone', async () => {
      const s = await west.status();
      return s.lastError !== null && s;
    });
    expect(waiting.lastError).toMatch(/ECONNREFUSED|connect|server/i);
    expect((await west.get('/healthz')).status).toBe(200);
    await replica.restart();
    await sql(replica, 'SET GLOBAL read_only = 0');
    await insert(replica, 'back', 19, 19);
    await sql(replica, 'FLUSH BINARY LOGS');
    const newest = (await sealed(replica)).at(-1)!;
    await until('west to archive again', async () => (await manifest('west')).entries.some((e) => e.file === newest));
    expect(await west.status()).toMatchObject({ primary: true, lastError: null });
    expect(await Promise.race([west.exited.then(() => 'exited'), sleep(10).then(() => 'running')])).toBe('running');
  });
});
