/**
 * Check before touch: every precondition of a restore is checked before its first change, and a
 * refusal (exit 3) leaves the target exactly as it was: its schemas, every table's content, its
 * read_only setting, and the confirm token. Also what a load proves as it goes: a damaged file, a
 * changed value or a rebuilt target fail instead of reporting a success.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import { readInPlaceRestores } from '../../src/lib/catalog/in-place-history.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { fixedClock, systemClock } from '../../src/lib/clock.js';
import type { LoadOptions } from '../../src/lib/load/load-plan.js';
import type { LoadProgressReport } from '../../src/lib/load/loader.js';
import { silentLogger } from '../../src/lib/log.js';
import { createMysqlConnector, type MysqlConnector } from '../../src/lib/mysql/connection.js';
import { restoreBootstrap, type RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import { planRestoreInPlace, restoreInPlace, type InPlaceResult } from '../../src/lib/restore/restore-in-place.js';
import { sourceFromCatalog, type RestoreSource } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { expectAppError } from '../support/expect-error.js';
import { watchingDataReads } from '../support/interrupting-view.js';
import type { AppError } from '../../src/lib/errors.js';
import { zstdDecompressSync } from 'node:zlib';
import { checksumTable, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

let source: TestServer;
let target: TestServer;
let work: string;
let store: ObjectStore;
let record: BackupRecord;
const clock = fixedClock(new Date('2026-07-01T12:00:00Z'));
let confirmAt = Date.parse('2026-07-01T00:00:00Z');

/** Everything a refused restore must leave as it was. */
async function fingerprint(): Promise<unknown> {
  const schemas = (await sql(target, "SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")) as Array<{ s: string }>;
  const tables = (await sql(target, "SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")) as Array<{ t: string }>;
  const checksums: Record<string, string> = {};
  for (const { t } of tables) checksums[t] = await checksumTable(target, t);
  const [settings] = (await sql(target, 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.local_infile AS li')) as unknown[];
  const token = await store.get('restore-in-place.json').then((b) => b.toString(), () => null);
  return { schemas: schemas.map((r) => r.s), checksums, settings, token };
}

function inPlace(options: { connector?: MysqlConnector; source?: ObjectStore; includeSchema?: string } = {}): Promise<InPlaceResult> {
  return (async () => {
    const from = await sourceFromCatalog(options.source ?? store, 'latest', null);
    const deps = { connector: options.connector ?? rootConnector(target), catalog: store, logger: silentLogger, clock };
    const plan = await planRestoreInPlace(deps, from, { includeSchema: options.includeSchema, threads: 2 });
    confirmAt += 60_000;
    return restoreInPlace(deps, from, plan, { confirm: new Date(confirmAt) }, { signal: new AbortController().signal });
  })();
}

/** `restore bootstrap` of the latest backup in `from` (a store, or a source as it is), resuming. */
function bootstrap(
  into: TestServer,
  options: Partial<LoadOptions> = {},
  from: ObjectStore | RestoreSource = store,
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void } = { signal: new AbortController().signal },
): Promise<RestoreResult> {
  return (async () =>
    restoreBootstrap(
      { connector: rootConnector(into), logger: silentLogger, clock: systemClock },
      'prefix' in from ? from : await sourceFromCatalog(from, 'latest', null),
      { threads: 2, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: true, resetProgress: false, ...options },
      run,
    ))();
}

/** Expects a refusal (exit 3) with `code`, and the target exactly as it was. */
async function expectRefusedUntouched(attempt: () => Promise<unknown>, code: string): Promise<AppError> {
  const before = await fingerprint();
  const err = await expectAppError(attempt(), code);
  expect(err.exitCode, err.message).toBe(3);
  expect(await fingerprint()).toEqual(before);
  return err;
}

/** A copy of the backup whose files `change` edits (name → new content, or null to delete, or 'dir' to make it a folder). */
async function alteredCopy(change: (name: string) => Buffer | null | 'dir' | undefined): Promise<ObjectStore> {
  const copy = createFsStore({ root: await mkdtemp(join(work, 'copy-')) });
  for (const o of await store.list('')) {
    const name = o.key.slice(o.key.indexOf('/') + 1);
    const replaced = o.key.includes('/') ? change(name) : undefined;
    if (replaced === null) continue;
    if (replaced === 'dir') await mkdir(join(copy.location, o.key), { recursive: true });
    else await copy.put(o.key, replaced ?? (await store.get(o.key)));
  }
  return copy;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-preconditions-'));
  [source, target] = await Promise.all([startTestServer({ extraArgs: ['--max-allowed-packet=64M'] }), startTestServer()]);
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(40));
     INSERT INTO orders SELECT seq, seq / 100, CONCAT('order ', seq) FROM seq_1_to_20000;
     CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB);
     INSERT INTO blobs VALUES (1, REPEAT(UNHEX('00FF'), 1048576)), (2, 'small');
     CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
     CREATE SEQUENCE order_seq START WITH 500 INCREMENT BY 5;
     DO NEXTVAL(order_seq); DO NEXTVAL(order_seq);
     CREATE TABLE keyless (v VARCHAR(250));
     INSERT INTO keyless SELECT REPEAT(CHAR(65 + seq % 26), 200) FROM seq_1_to_3000;
     CREATE DATABASE extra; CREATE TABLE extra.notes (id INT PRIMARY KEY, body TEXT); INSERT INTO extra.notes VALUES (1, 'one'), (2, 'two');
     ANALYZE TABLE orders, keyless;`,
  );
  store = createFsStore({ root: join(work, 'backups') });
  record = await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    { group: 'g', profile: 'p', toolVersion: 'test', dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 } },
    { signal: new AbortController().signal },
  );
  // The live server to roll back: the same schema with later changes, and one more schema.
  await sql(
    target,
    `CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(40));
     INSERT INTO shop.orders VALUES (1, 9.99, 'live'), (2, 19.99, 'live');
     CREATE DATABASE crm; CREATE TABLE crm.people (id INT PRIMARY KEY, name TEXT); INSERT INTO crm.people VALUES (1, 'Ada');`,
  );
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('an in-place restore refuses before its first change, leaving the target as it was', () => {
  it('local_infile OFF (no schema is dropped, the token is not used)', async () => {
    await sql(target, 'SET GLOBAL local_infile = 0');
    try {
      const err = await expectRefusedUntouched(() => inPlace(), 'LOCAL_INFILE_OFF');
      expect(err.hint).toMatch(/SET GLOBAL local_infile = 1/);
    } finally {
      await sql(target, 'SET GLOBAL local_infile = 1');
    }
  });

  it('an account without a privilege a step needs (DROP), or without the fence and binlog privileges', async () => {
    await sql(target, "CREATE USER 'restorer'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON *.* TO 'restorer'@'%'; REVOKE DROP, BINLOG ADMIN, READ_ONLY ADMIN, SUPER ON *.* FROM 'restorer'@'%'");
    const restorer = createMysqlConnector({ host: '127.0.0.1', port: target.port, user: 'restorer', password: 'pw' });
    const err = await expectRefusedUntouched(() => inPlace({ connector: restorer }), 'RESTORE_PRIVILEGE_MISSING');
    expect(err.message).toMatch(/DROP on `crm`\.\*/);
    expect(err.message).toMatch(/DROP on `shop`\.\*/);
    expect(err.message).toMatch(/DROP on `shop`\.\* \(to replace the view placeholders, to drop it before the restore\)/);
    expect(err.message).toMatch(/sql_log_bin = 0, as a whole-instance restore in place does\) was refused/);
    expect(err.message).toMatch(/SET GLOBAL read_only\) was refused/);
    expect(err.message).toMatch(/restore is refused; nothing was changed/);
  });

  it('a data file cut short, a data file missing, a file storage cannot read', async () => {
    const victim = record.files.find((f) => f.name.startsWith('shop@orders@'))!;
    const cut = await alteredCopy((name) => (name === victim.name ? Buffer.alloc(10) : undefined));
    const short = await expectRefusedUntouched(() => inPlace({ source: cut }), 'DUMP_FILE_MISMATCH');
    expect(short.message).toContain(`${victim.name}: it holds 10 bytes, the record says ${victim.storedBytes}`);

    const missing = await alteredCopy((name) => (name === victim.name ? null : undefined));
    const gone = await expectRefusedUntouched(() => inPlace({ source: missing }), 'DUMP_CORRUPT');
    expect(gone.message).toMatch(/shop\.orders.*chunk \d+ is missing/);

    const unreadable = await alteredCopy((name) => (name === 'shop@orders.sql' ? 'dir' : undefined));
    const dir = await expectRefusedUntouched(() => inPlace({ source: unreadable }), 'DUMP_FILE_MISMATCH');
    expect(dir.message).toContain('shop@orders.sql');
  });

  it('a value larger than the target max_allowed_packet', async () => {
    await sql(target, 'SET GLOBAL max_allowed_packet = 1048576');
    try {
      const err = await expectRefusedUntouched(() => inPlace(), 'TARGET_PACKET_TOO_SMALL');
      expect(err.message).toMatch(/`shop`\.`blobs` holds a value of 2097152 bytes .* in column `b`/);
    } finally {
      await sql(target, 'SET GLOBAL max_allowed_packet = 16777216');
    }
  });

  it('a fence left up by an in-place restore that was killed is taken over and lowered; a foreign one is refused, naming the way out', async () => {
    // Someone else's read_only: refused, and the hint says what to do if it is a killed restore's.
    await sql(target, 'SET GLOBAL read_only = 1');
    try {
      const err = await expectRefusedUntouched(() => inPlace(), 'TARGET_READ_ONLY');
      expect(err.hint).toMatch(/killed, its fence is still up/);
    } finally {
      await sql(target, 'SET GLOBAL read_only = 0');
    }
  });

  it('and then, with nothing in the way, restores and proves it, recording itself where the PITR archive is too', async () => {
    const archive = createFsStore({ root: await mkdtemp(join(work, 'archive-')) });
    const from = await sourceFromCatalog(store, 'latest', null);
    const deps = { connector: rootConnector(target), catalog: store, historyIn: [archive], logger: silentLogger, clock };
    confirmAt += 60_000;
    const result = await restoreInPlace(deps, from, await planRestoreInPlace(deps, from, { threads: 2 }), { confirm: new Date(confirmAt) }, { signal: new AbortController().signal });
    const [event] = await readInPlaceRestores(archive);
    expect(event).toMatchObject({ mode: 'instance', backup: `backup ${record.name}`, target: rootConnector(target).target });
    expect((await readInPlaceRestores(store)).at(-1)).toEqual(event);
    expect(result.dropped).toEqual(['crm', 'shop']);
    expect(result.verified).toEqual({ filesBySha256: record.files.length, filesLoaded: record.files.length, tablesCounted: 5, objectsFound: 6 });
    expect(await checksumTable(target, 'shop.orders')).toBe(await checksumTable(source, 'shop.orders'));
    expect(await checksumTable(target, 'shop.blobs')).toBe(await checksumTable(source, 'shop.blobs'));
  });
});

describe('an interrupted in-place restore', () => {
  it('leaves its fence recorded; the next in-place restore takes it over and lowers it, and says what state it left', async () => {
    const controller = new AbortController();
    const from = await sourceFromCatalog(store, 'latest', null);
    const deps = { connector: rootConnector(target), catalog: store, logger: silentLogger, clock };
    const plan = await planRestoreInPlace(deps, from, { threads: 1 });
    confirmAt += 60_000;
    const killed = restoreInPlace(deps, from, plan, { confirm: new Date(confirmAt) }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'data' && p.filesDone > 0) controller.abort(new Error('stop'));
      },
    });
    const err = await expectAppError(killed, 'ABORTED');
    expect(err.hint).toMatch(/the server now holds part of the backup .*run the same restore in place again/);
    // A process killed outright never lowers its fence: as it leaves the server and the catalog.
    await sql(target, 'SET GLOBAL read_only = 1');
    const token = JSON.parse((await store.get('restore-in-place.json')).toString()) as { fence: unknown };
    await store.put('restore-in-place.json', JSON.stringify({ ...token, fence: { target: rootConnector(target).target, previous: 0, raisedAt: new Date(confirmAt).toISOString() } }));
    // A backup of the half-restored server would become `latest`: refused, nothing written.
    const backupsBefore = (await listBackups(store)).map((e) => e.name);
    const refused = await expectAppError(
      runBackup(
        { connector: rootConnector(target), store, logger: silentLogger, clock: systemClock },
        { group: 'g', profile: 'p', toolVersion: 'test', dump: { threads: 1, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 } },
        { signal: new AbortController().signal },
      ),
      'SERVER_PARTLY_RESTORED',
    );
    expect(refused.exitCode).toBe(3);
    expect((await listBackups(store)).map((e) => e.name)).toEqual(backupsBefore);
    const result = await inPlace();
    expect(result.checked.join('\n')).toMatch(/fence of an earlier in-place restore of it that was interrupted/);
    expect(await sql(target, 'SELECT @@GLOBAL.read_only AS ro')).toEqual([{ ro: '0' }]);
    expect((JSON.parse((await store.get('restore-in-place.json')).toString()) as { fence: unknown }).fence).toBeNull();
    expect(await checksumTable(target, 'shop.orders')).toBe(await checksumTable(source, 'shop.orders'));
  });
});

describe('a restore that cannot prove its work fails instead of reporting success', () => {
  it('a damaged DDL script is refused before anything is created (exit 3)', async () => {
    const fresh = await startTestServer();
    try {
      const edited = await alteredCopy((name) => (name === 'shop@orders.sql' ? Buffer.from('CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY);\n') : undefined));
      const err = await expectAppError(bootstrap(fresh, {}, edited), 'DUMP_FILE_MISMATCH');
      expect(err.exitCode).toBe(3);
      expect(err.message).toContain('shop@orders.sql');
      expect(await sql(fresh, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('shop', 'extra')")).toEqual([{ n: '0' }]);
    } finally {
      await fresh.stop();
    }
  });

  it('an interrupted load resumes: a sequence half loaded, a keyless table interrupted twice', async () => {
    const fresh = await startTestServer();
    try {
      const copy = await alteredCopy(() => undefined);
      const from = await sourceFromCatalog(copy, 'latest', null);
      /** A restore that stops when it opens the file matching `at` (its `nth` time). */
      const stoppedAt = async (at: RegExp, nth = 1): Promise<void> => {
        const controller = new AbortController();
        let seen = 0;
        const view = watchingDataReads(from.store, (key) => {
          if (at.test(key) && ++seen === nth) controller.abort(new Error('stop'));
        });
        await expectAppError(bootstrap(fresh, { threads: 1 }, { ...from, store: view }, { signal: controller.signal }), 'ABORTED');
      };
      // The sequence's first file is in, its last one is not.
      await stoppedAt(/shop@order_seq@@/);
      // The keyless table: one file in, then emptied to be loaded whole, and stopped again.
      await stoppedAt(/shop@keyless@1\./);
      await stoppedAt(/shop@keyless@0\./);
      const done = await bootstrap(fresh, {}, copy);
      expect(done.verified.tablesCounted).toBe(5);
      for (const t of ['shop.orders', 'shop.keyless', 'shop.blobs', 'extra.notes']) expect(await checksumTable(fresh, t), t).toBe(await checksumTable(source, t));
      const seq = 'SELECT next_not_cached_value AS n, cycle_count AS c FROM shop.order_seq';
      expect(await sql(fresh, seq)).toEqual(await sql(source, seq));
    } finally {
      await fresh.stop();
    }
  });

  it('loads another schema of a backup into a server that has one of its schemas from an earlier load', async () => {
    const fresh = await startTestServer();
    try {
      const copy = await alteredCopy(() => undefined);
      expect((await bootstrap(fresh, { includeSchemas: ['extra'] }, copy)).schemas).toEqual(['extra']);
      const shop = await bootstrap(fresh, { includeSchemas: ['shop'] }, copy);
      expect(shop.schemas).toEqual(['shop']);
      expect(await checksumTable(fresh, 'shop.orders')).toBe(await checksumTable(source, 'shop.orders'));
      await expectAppError(bootstrap(fresh, { includeSchemas: ['extra'] }, copy), 'LOAD_ALREADY_COMPLETE');
    } finally {
      await fresh.stop();
    }
  });

  it('one flipped byte in a data file fails the restore, naming the file, with none of its rows loaded', async () => {
    const fresh = await startTestServer();
    try {
      const victim = record.files.find((f) => f.name.startsWith('shop@orders@'))!;
      const flipped = await alteredCopy(() => undefined);
      const path = join(flipped.location, record.name, victim.name);
      const bytes = await readFile(path);
      bytes[bytes.length >> 1]! ^= 0x01;
      await writeFile(path, bytes);
      const err = await expectAppError(bootstrap(fresh, {}, flipped), 'DUMP_FILE_MISMATCH');
      expect(err.exitCode).toBe(1);
      expect(err.message).toContain(victim.name);
      expect(err.message).toMatch(/SHA-256/);
      // What to do with the target, which holds part of this backup: another one is refused until that is gone.
      expect(err.hint).toMatch(/the target now holds part of this backup: drop what it created \(schemas .*`shop`.*\), then restore another backup with --reset-progress$/);
      // Not one row of the damaged file is in the table: its transaction was rolled back.
      const ids = zstdDecompressSync(await store.get(`${record.name}/${victim.name}`))
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => Number(line.split('\t')[0]));
      expect(ids).toHaveLength(victim.rows);
      const [row] = (await sql(fresh, `SELECT COUNT(*) AS n FROM shop.orders WHERE id IN (${ids.join(', ')})`)) as Array<{ n: string }>;
      expect(row!.n).toBe('0');
    } finally {
      await fresh.stop();
    }
  });

  it('a load warning that a value changed fails the restore, naming the table and the warning', async () => {
    const fresh = await startTestServer();
    try {
      // The target's table keeps one decimal: 0.25 would be stored as 0.3 (Note 1265).
      await sql(fresh, 'CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, amount DECIMAL(10,1), note VARCHAR(40))');
      const err = await expectAppError(bootstrap(fresh, { ignoreExistingObjects: true, includeSchemas: ['shop'] }), 'LOAD_VALUE_CHANGED');
      expect(err.message).toMatch(/into `shop`\.`orders` changed values/);
      expect(err.message).toMatch(/1265: Data truncated for column 'amount'/);
    } finally {
      await fresh.stop();
    }
  });

  it('a finished restore run again is refused; after its schemas were dropped (a server rebuilt at the same address), as stale; --reset-progress loads it again', async () => {
    const fresh = await startTestServer();
    try {
      const first = await bootstrap(fresh);
      expect(first.rows).toBe(23005);
      const done = await expectAppError(bootstrap(fresh), 'LOAD_ALREADY_COMPLETE');
      expect(done.exitCode).toBe(3);
      expect(done.hint).toMatch(/drop the schemas it created/);
      await sql(fresh, 'DROP DATABASE shop; DROP DATABASE IF EXISTS extra');
      // Nothing of it is there: not "loaded already, drop what it created", but a log that no longer fits the server.
      const err = await expectAppError(bootstrap(fresh), 'LOAD_PROGRESS_STALE');
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(/schema `shop`/);
      expect(err.hint).toMatch(/--reset-progress/);
      expect(await sql(fresh, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'")).toEqual([{ n: '0' }]);
      const again = await bootstrap(fresh, { resetProgress: true });
      expect(again.rows).toBe(23005);
      expect(again.resumedSteps).toBe(0);
    } finally {
      await fresh.stop();
    }
  });

  it('a resume into a server rebuilt at the same address is refused as stale; --reset-progress starts over', async () => {
    const fresh = await startTestServer();
    try {
      const copy = await alteredCopy(() => undefined);
      const controller = new AbortController();
      let loaded = 0;
      const interrupted = bootstrap(fresh, { threads: 1 }, copy, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.filesDone > 3 && ++loaded === 1) controller.abort(new Error('stop'));
        },
      });
      await expectAppError(interrupted, 'ABORTED');
      // The server is rebuilt: same address, same server id, nothing of the earlier load.
      await sql(fresh, 'DROP DATABASE shop; DROP DATABASE IF EXISTS extra');
      const err = await expectAppError(bootstrap(fresh, {}, copy), 'LOAD_PROGRESS_STALE');
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(/schema `shop`/);
      expect(await sql(fresh, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'")).toEqual([{ n: '0' }]);
      const over = await bootstrap(fresh, { resetProgress: true }, copy);
      expect(over.rows).toBe(23005);
      expect(await checksumTable(fresh, 'shop.orders')).toBe(await checksumTable(source, 'shop.orders'));
    } finally {
      await fresh.stop();
    }
  });
});
