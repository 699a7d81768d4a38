/**
 * Point-in-time recovery proven on real servers: rows written in batches with binlog rotations
 * between them are archived; a new server restored to a time between two batches holds exactly
 * the earlier ones; a restore with one transaction excluded lacks exactly that change; targets
 * outside the window or past a gap are refused before anything is touched; a replay that would
 * fall short of what the archive holds fails instead of succeeding; and a primary/replica
 * pair where the replica is promoted midway restores across the switch from both sites' manifests.
 *
 * Batches carry SET TIMESTAMP times well after the backup, a minute apart, so that times between
 * them are exact whatever the machine's speed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import { systemClock } from '../../src/lib/clock.js';
import type { PitrConfig } from '../../src/lib/config/schema.js';
import { AppError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/log.js';
import { archiveOnce } from '../../src/lib/pitr/archiver.js';
import { parseGtid } from '../../src/lib/pitr/gtid-space.js';
import { readAllManifests, writeSiteManifest } from '../../src/lib/pitr/manifest.js';
import { planFromStorage, windowFromStorage, type PitrLineKind } from '../../src/lib/pitr/point-in-time.js';
import { computeWindow } from '../../src/lib/pitr/window.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { restoreBootstrap } from '../../src/lib/restore/restore-bootstrap.js';
import { planRestoreInPlace, restoreInPlace } from '../../src/lib/restore/restore-in-place.js';
import { sourceFromCatalog } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { expectAppError } from '../support/expect-error.js';
import { rootConnection, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

let work: string;
const servers: TestServer[] = [];

async function server(extraArgs: string[] = []): Promise<TestServer> {
  const s = await startTestServer({ extraArgs });
  servers.push(s);
  return s;
}

const pitrConfig = (site: string): PitrConfig => ({ enabled: true, profileName: 'p', archivePollInterval: 60, site, source: { type: 'local' } });

async function backup(source: TestServer, store: ObjectStore): Promise<void> {
  await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'g',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 64_000_000, compression: 'zstd', consistent: true, includeSchemas: ['app'], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
}

/** Writes ids [from, to] as one transaction each, all stamped `at` (unix seconds); returns their GTIDs. */
async function batch(s: TestServer, at: number, from: number, to: number): Promise<string[]> {
  const conn = await rootConnection(s, 'app');
  const gtids: string[] = [];
  try {
    await conn.query(`SET TIMESTAMP = ${at}`);
    for (let id = from; id <= to; id++) {
      await conn.query('INSERT INTO events VALUES (?, ?, ?)', [id, at, `row ${id}`]);
      const [rows] = await conn.query('SELECT @@last_gtid AS g');
      gtids.push((rows as Array<{ g: string }>)[0]!.g);
    }
  } finally {
    await conn.end();
  }
  return gtids;
}

async function restoreTo(store: ObjectStore, target: TestServer, at: Date, exclude: string[] = []): Promise<{ lines: Array<[PitrLineKind, Record<string, unknown>]> }> {
  const plan = await planFromStorage(store, at);
  const lines: Array<[PitrLineKind, Record<string, unknown>]> = [];
  await restoreBootstrap(
    { connector: rootConnector(target), logger: silentLogger, clock: systemClock },
    await sourceFromCatalog(store, plan.dump.entry.name, null),
    { threads: 2, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: false, resetProgress: false },
    { signal: new AbortController().signal },
    { target: at, exclude: exclude.map(parseGtid), store, runner: nodeProcessRunner, plan, onLine: (k, f) => lines.push([k, f]) },
  );
  return { lines };
}

async function ids(s: TestServer): Promise<number[]> {
  return ((await sql(s, 'SELECT id FROM app.events ORDER BY id')) as Array<{ id: number }>).map((r) => r.id);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-pitr-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('point-in-time recovery on one server', () => {
  let primary: TestServer;
  let store: ObjectStore;
  let t0: number;
  let badUpdate: string;
  let firstScan: Awaited<ReturnType<typeof archiveOnce>>;

  beforeAll(async () => {
    primary = await server();
    await sql(primary, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, at INT, note VARCHAR(50)); INSERT INTO app.events SELECT seq, 0, "base" FROM app.seq_1_to_10');
    store = createFsStore({ root: join(work, 'one') });
    await backup(primary, store);
    t0 = Math.floor(Date.now() / 1000) + 600;
    await batch(primary, t0, 11, 20);
    await sql(primary, 'FLUSH BINARY LOGS');
    await batch(primary, t0 + 60, 21, 30);
    const conn = await rootConnection(primary, 'app');
    await conn.query(`SET TIMESTAMP = ${t0 + 70}`);
    await conn.query("UPDATE events SET note = 'oops' WHERE id = 5");
    badUpdate = ((await conn.query('SELECT @@last_gtid AS g'))[0] as Array<{ g: string }>)[0]!.g;
    await conn.end();
    await sql(primary, 'FLUSH BINARY LOGS');
    await batch(primary, t0 + 120, 31, 40);
    await sql(primary, 'FLUSH BINARY LOGS');
    firstScan = await archiveOnce({ connector: rootConnector(primary), store, runner: nodeProcessRunner, logger: silentLogger, clock: systemClock }, pitrConfig('a'));
  });

  it('archives each sealed binlog once, with times and GTIDs read from its events', async () => {
    expect(firstScan.primary).toBe(true);
    expect(firstScan.archived.length).toBeGreaterThanOrEqual(3);
    const again = await archiveOnce({ connector: rootConnector(primary), store, runner: nodeProcessRunner, logger: silentLogger, clock: systemClock }, pitrConfig('a'));
    expect(again.archived).toEqual([]);
    const [manifest] = await readAllManifests(store);
    expect(manifest!.site).toBe('a');
    const withBatch3 = manifest!.entries.find((e) => e.lastEventTime === new Date((t0 + 120) * 1000).toISOString());
    expect(withBatch3).toMatchObject({ transactions: 10, endedWith: 'rotate', flavor: 'mariadb', serverId: primary.serverId });
    expect(withBatch3!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The file being written is never archived.
    const [status] = (await sql(primary, 'SHOW MASTER STATUS')) as Array<{ File: string }>;
    expect(manifest!.entries.map((e) => e.file)).not.toContain(status!.File);
  });

  it('reports the restorable window from storage alone', async () => {
    const window = computeWindow(await listBackups(store), await readAllManifests(store));
    expect(window.to).toBe(new Date((t0 + 120) * 1000).toISOString());
    expect(Date.parse(window.from!)).toBeLessThan(t0 * 1000);
    expect(window.ranges).toHaveLength(1);
    expect(window.ranges[0]).toMatchObject({ from: window.from, to: window.to });
    expect(window.gaps).toEqual([]);
  });

  it('restores a new server to a time between two batches: exactly the earlier ones', async () => {
    const target = await server();
    const { lines } = await restoreTo(store, target, new Date((t0 + 90) * 1000));
    expect(await ids(target)).toEqual(range(1, 30));
    expect(await sql(target, 'SELECT note FROM app.events WHERE id = 5')).toEqual([{ note: 'oops' }]);
    expect(lines.map(([k]) => k)).toEqual(['START', 'COMPLETE']);
    expect(lines[1]![1]).toMatchObject({ applied: 21 });
  });

  it('leaves out exactly the excluded transaction', async () => {
    const target = await server();
    const { lines } = await restoreTo(store, target, new Date((t0 + 120) * 1000), [badUpdate]);
    expect(await ids(target)).toEqual(range(1, 40));
    expect(await sql(target, 'SELECT note FROM app.events WHERE id = 5')).toEqual([{ note: 'base' }]);
    expect(lines[1]![1]).toMatchObject({ applied: 30, excluded: [badUpdate] });
  });

  it('says NOOP when the archive proves nothing lies between the backup and the target', async () => {
    const target = await server();
    const { lines } = await restoreTo(store, target, new Date((t0 - 60) * 1000));
    expect(await ids(target)).toEqual(range(1, 10));
    expect(lines.map(([k]) => k)).toEqual(['START', 'NOOP']);
  });

  it('refuses a target outside the window before touching anything, naming the range', async () => {
    for (const at of [new Date(Date.now() - 3600_000), new Date((t0 + 3600) * 1000)]) {
      const err = await planFromStorage(store, at).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('PITR_OUT_OF_RANGE');
      expect((err as AppError).exitCode).toBe(3);
      expect((err as AppError).message).toMatch(/the nearest restorable times are (none|\d{4}-\S+Z) before it and (none|\d{4}-\S+Z) after it/);
    }
  });

  it('reports a binlog missing from the archive as a gap, and refuses to restore past it', async () => {
    const copy = createFsStore({ root: join(work, 'gap') });
    for (const o of await store.list('')) await copy.put(o.key, await store.get(o.key));
    const [manifest] = await readAllManifests(copy);
    // Lose the file with the second batch.
    const lost = manifest!.entries.find((e) => e.lastEventTime === new Date((t0 + 70) * 1000).toISOString())!;
    await writeSiteManifest(copy, { ...manifest!, entries: manifest!.entries.filter((e) => e !== lost) });
    const window = computeWindow(await listBackups(copy), await readAllManifests(copy));
    // Coverage ends at the last archived event before the lost transactions, and nothing bridges it.
    expect(window.ranges).toHaveLength(1);
    expect(window.to).toBe(new Date(t0 * 1000).toISOString());
    expect(window.gaps).toHaveLength(1);
    expect(window.gaps[0]).toMatchObject({ from: new Date(t0 * 1000).toISOString(), to: null });
    expect(window.gaps[0]!.reason).toMatch(/domain 0, sequence numbers \d+\.\.\d+/);
    await expect(planFromStorage(copy, new Date((t0 + 120) * 1000))).rejects.toMatchObject({ code: 'PITR_OUT_OF_RANGE', message: expect.stringMatching(/transactions missing from the archive/) as unknown });
    // Up to the last event before the gap is fine; any later time might need what is missing.
    await expect(planFromStorage(copy, new Date((t0 + 30) * 1000))).rejects.toMatchObject({ code: 'PITR_OUT_OF_RANGE' });
    const plan = await planFromStorage(copy, new Date(t0 * 1000));
    expect(plan.files.length).toBeGreaterThan(0);
  });

  it('fails a replay that would apply fewer transactions than the archive holds before the target, applying none', async () => {
    const copy = createFsStore({ root: join(work, 'short') });
    for (const o of await store.list('')) await copy.put(o.key, await store.get(o.key));
    const [manifest] = await readAllManifests(copy);
    // The manifest says the file of the first batch holds five transactions more than it does.
    const first = manifest!.entries.find((e) => e.lastEventTime === new Date(t0 * 1000).toISOString())!;
    const overstated = { ...first, gtidRanges: first.gtidRanges.map((r) => ({ ...r, last: r.last + 5 })) };
    await writeSiteManifest(copy, { ...manifest!, entries: manifest!.entries.map((e) => (e === first ? overstated : e)) });
    const target = await server();
    const err = await expectAppError(restoreTo(copy, target, new Date((t0 + 30) * 1000)), 'PITR_REPLAY_INCOMPLETE');
    expect(err.message).toMatch(/would leave out transactions the archive holds before it \(domain 0, sequence numbers \d+\.\.\d+\)/);
    // The binlogs are read before the load: the target was not touched at all.
    expect(await sql(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'")).toEqual([{ n: '0' }]);
  });
  it('rolls the live primary back in place to a point (the last test here: it changes the primary)', async () => {
    const at = new Date((t0 + 90) * 1000);
    const plan = await planFromStorage(store, at);
    const lines: PitrLineKind[] = [];
    const deps = { connector: rootConnector(primary), catalog: store, logger: silentLogger, clock: systemClock };
    const from = await sourceFromCatalog(store, plan.dump.entry.name, null);
    const restorePlan = await planRestoreInPlace(deps, from, { threads: 2 });
    const result = await restoreInPlace(
      deps,
      from,
      restorePlan,
      { confirm: new Date(), pointInTime: { target: at, exclude: [], store, runner: nodeProcessRunner, plan, onLine: (k) => lines.push(k) } },
      { signal: new AbortController().signal },
    );
    expect(result.pitr).toMatchObject({ applied: 21 });
    expect(lines).toEqual(['START', 'COMPLETE']);
    expect(await ids(primary)).toEqual(range(1, 30));
    expect(await sql(primary, 'SELECT @@GLOBAL.read_only AS ro')).toEqual([{ ro: '0' }]);
    // The restore went outside the binary log: no coverage reaches across it any more.
    const restoredAt = Date.parse(result.startedAt);
    const after = await windowFromStorage(store);
    expect(after.ranges.every((r) => Date.parse(r.to) < restoredAt || Date.parse(r.from) > restoredAt)).toBe(true);
    expect(after.gaps.map((g) => g.reason).join('\n')).toMatch(/restored in place from backup .*outside the binary log/);
    await expectAppError(planFromStorage(store, at), 'PITR_OUT_OF_RANGE');
  });
});

describe('point-in-time recovery across a failover', () => {
  it('restores across the switch from both sites, applying each transaction once', async () => {
    const a = await server();
    const b = await server(['--log-slave-updates']);
    await sql(b, `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${a.port}, MASTER_USER='root', MASTER_USE_GTID=slave_pos; START SLAVE`);
    await sql(a, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, at INT, note VARCHAR(50)); INSERT INTO app.events SELECT seq, 0, "base" FROM app.seq_1_to_10');
    const store = createFsStore({ root: join(work, 'failover') });
    await backup(a, store);
    const t0 = Math.floor(Date.now() / 1000) + 600;
    const last = (await batch(a, t0, 11, 20)).at(-1)!;
    await sql(a, 'FLUSH BINARY LOGS');
    const deps = (s: TestServer): Parameters<typeof archiveOnce>[0] => ({ connector: rootConnector(s), store, runner: nodeProcessRunner, logger: silentLogger, clock: systemClock });
    expect((await archiveOnce(deps(a), pitrConfig('site-a'))).archived.length).toBeGreaterThan(0);
    // The replica caught up; promote it: the old primary turns read-only, the new one takes writes.
    for (let i = 0; i < 100; i++) {
      const [row] = (await sql(b, 'SELECT @@gtid_slave_pos AS p')) as Array<{ p: string }>;
      if (row!.p === last) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await sql(b, 'STOP SLAVE; RESET SLAVE ALL');
    await sql(a, 'SET GLOBAL read_only = 1');
    expect((await archiveOnce(deps(a), pitrConfig('site-a'))).primary).toBe(false);
    await batch(b, t0 + 60, 21, 30);
    await sql(b, 'FLUSH BINARY LOGS');
    await archiveOnce(deps(b), pitrConfig('site-b'));

    const manifests = await readAllManifests(store);
    expect(manifests.map((m) => m.site)).toEqual(['site-a', 'site-b']);
    const window = computeWindow(await listBackups(store), manifests);
    expect(window.gaps).toEqual([]);
    expect(window.to).toBe(new Date((t0 + 60) * 1000).toISOString());

    const target = await server();
    await restoreTo(store, target, new Date((t0 + 60) * 1000));
    expect(await ids(target)).toEqual(range(1, 30));
    const fromBoth = await planFromStorage(store, new Date((t0 + 60) * 1000));
    expect(new Set(fromBoth.files.map((f) => f.site))).toEqual(new Set(['site-a', 'site-b']));
  });
});
