/**
 * A backup that cannot finish must say so: a clear error naming the cause, no @.done.json, and
 * (where storage is reachable) a record saying Failed with the reason.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupFailedError, runBackup } from '../../src/lib/backup/run-backup.js';
import { fixedClock, systemClock, type Clock } from '../../src/lib/clock.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import type { DumpOptions } from '../../src/lib/dump/options.js';
import { AppError, StorageError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/log.js';
import { createMysqlConnector, type MysqlConnector } from '../../src/lib/mysql/connection.js';
import { freePort } from '../../src/lib/mysql/sandbox.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { createS3Store } from '../../src/lib/storage/s3-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { startS3Server } from '../support/s3.js';

const dump = (o: Partial<DumpOptions> = {}): DumpOptions => ({
  threads: 2,
  bytesPerChunk: 128_000,
  compression: 'zstd',
  consistent: true,
  includeSchemas: ['shop'],
  excludeSchemas: [],
  lockWaitTimeoutSeconds: 5,
  ...o,
});

let server: TestServer;
let work: string;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-failures-'));
  server = await startTestServer();
  await sql(
    server,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200));
     INSERT INTO items SELECT seq, REPEAT('x', 150) FROM seq_1_to_30000;
     ANALYZE TABLE items;
     CREATE USER 'reader'@'%' IDENTIFIED BY 'right-password';
     GRANT SELECT, SHOW VIEW, EVENT, TRIGGER ON *.* TO 'reader'@'%';`,
  );
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface Attempt {
  error: unknown;
  record: BackupRecord | undefined;
  root: string;
}

async function attempt(
  connector: MysqlConnector,
  options: { store?: ObjectStore; dump?: Partial<DumpOptions>; signal?: AbortSignal; clock?: Clock; group?: string | undefined } = {},
): Promise<Attempt> {
  const root = join(work, `attempt-${++n}`);
  const store = options.store ?? createFsStore({ root });
  try {
    const record = await runBackup(
      { connector, store, logger: silentLogger, clock: options.clock ?? systemClock },
      // No `group` key: the config's `name` is set; `group: undefined`: it is not.
      { group: 'group' in options ? options.group : 'g', profile: 'p', dump: dump(options.dump), toolVersion: 'test' },
      { signal: options.signal ?? new AbortController().signal },
    );
    return { error: undefined, record, root };
  } catch (error) {
    return { error, record: error instanceof BackupFailedError ? error.record : undefined, root };
  }
}

/** The record as stored, and whether @.done.json exists, for the only backup folder under root. */
async function stored(root: string): Promise<{ record: BackupRecord; files: string[] }> {
  const [name] = await readdir(root);
  const files = await readdir(join(root, name!));
  return { record: JSON.parse(await readFile(join(root, name!, 'bloodraven.json'), 'utf8')) as BackupRecord, files };
}

function expectError(err: unknown, code: string, pattern: RegExp): AppError {
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(pattern);
  return e;
}

/** A table's data file (streamed with write(), or stored whole with put() when small). */
function isDataFile(key: string): boolean {
  return /\.tsv(\.zst|\.gz)?$/.test(key);
}

describe('backup failures', () => {
  it('an unreachable server: names the address; the record says Failed', async () => {
    const port = await freePort();
    const result = await attempt(createMysqlConnector({ host: '127.0.0.1', port, user: 'root', connectTimeoutMs: 2000 }));
    const e = expectError(result.error, 'MYSQL_UNREACHABLE', new RegExp(`127\\.0\\.0\\.1:${port}`));
    expect(e.hint).toMatch(/server is running/);
    expect(e.exitCode).toBe(1);
    const { record, files } = await stored(result.root);
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'MYSQL_UNREACHABLE' } });
    expect(files).not.toContain('@.done.json');
  });

  it('an unreachable server and no configured group: reported, and nothing written under a group named after the address', async () => {
    const port = await freePort();
    const result = await attempt(createMysqlConnector({ host: '127.0.0.1', port, user: 'root', connectTimeoutMs: 2000 }), { group: undefined });
    const e = expectError(result.error, 'MYSQL_UNREACHABLE', new RegExp(`127\\.0\\.0\\.1:${port}`));
    expect(e.exitCode).toBe(1);
    expect(result.record).toBeUndefined();
    expect(await readdir(result.root)).toEqual([]);
  });

  it('a wrong password: says access was refused and where the password came from', async () => {
    const result = await attempt(
      createMysqlConnector({ host: '127.0.0.1', port: server.port, user: 'reader', password: 'wrong', passwordSource: '/etc/creds/MYSQL_PASSWORD' }),
    );
    const e = expectError(result.error, 'MYSQL_ACCESS_DENIED', /refused user 'reader' \(password from \/etc\/creds\/MYSQL_PASSWORD\)/);
    expect(e.hint).toMatch(/password/);
    expect((await stored(result.root)).record.phase).toBe('Failed');
  });

  it('a missing RELOAD privilege: names it and the way out (exit 3); consistent: false still works', async () => {
    const reader = createMysqlConnector({ host: '127.0.0.1', port: server.port, user: 'reader', password: 'right-password' });
    const result = await attempt(reader);
    const e = expectError(result.error, 'SNAPSHOT_PRIVILEGE_MISSING', /FLUSH TABLES WITH READ LOCK/);
    expect(e.exitCode).toBe(3);
    expect(e.hint).toMatch(/GRANT RELOAD ON \*\.\*.*dump\.consistent: false/);
    const { record, files } = await stored(result.root);
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'SNAPSHOT_PRIVILEGE_MISSING' } });
    expect(files).not.toContain('@.done.json');

    const inconsistent = await attempt(reader, { dump: { consistent: false } });
    expect(inconsistent.error).toBeUndefined();
    expect(inconsistent.record).toMatchObject({ phase: 'Succeeded', consistent: false });
  });

  it('an unwritable folder: a storage error naming the path, before the server is touched', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'not a folder');
    const result = await attempt(rootConnector(server), { store: createFsStore({ root: join(file, 'backups') }) });
    expect(result.error).toBeInstanceOf(StorageError);
    expect((result.error as StorageError).message).toContain(join(file, 'backups'));
  });

  it('a missing bucket: says which bucket and where', async () => {
    const s3 = await startS3Server();
    try {
      const store = createS3Store({
        bucket: 'no-such-bucket',
        prefix: 'x',
        endpointURL: s3.endpoint,
        partSize: 5 * 1024 * 1024,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      const result = await attempt(rootConnector(server), { store });
      expectError(result.error, 'BUCKET_NOT_FOUND', /no-such-bucket/);
    } finally {
      await s3.stop();
    }
  });

  it('a target folder that already holds a backup is refused (exit 3) and left untouched', async () => {
    const clock = fixedClock(new Date('2026-05-05T05:05:05Z'));
    const store = createFsStore({ root: join(work, 'same-second') });
    const first = await attempt(rootConnector(server), { store, clock });
    expect(first.error).toBeUndefined();
    const dir = join(work, 'same-second', first.record!.name);
    const before = await readFile(join(dir, 'bloodraven.json'), 'utf8');
    const filesBefore = (await readdir(dir)).sort();
    const second = await attempt(rootConnector(server), { store, clock });
    const e = expectError(second.error, 'BACKUP_NAME_TAKEN', /another run \(pid \d+ on .*, Succeeded\) has already claimed the backup name/);
    expect(e.exitCode).toBe(3);
    expect(await readFile(join(dir, 'bloodraven.json'), 'utf8')).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(filesBefore);
  });

  it('storage failing mid-dump: the dump stops with that error and leaves no partial files', async () => {
    const inner = createFsStore({ root: join(work, 'flaky') });
    let dataWrites = 0;
    const flaky: ObjectStore = {
      ...inner,
      location: inner.location,
      type: inner.type,
      write(key: string, body: Readable, options) {
        if (++dataWrites === 3) {
          let seen = 0;
          const breaking = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              seen += chunk.length;
              cb(seen > 0 ? new StorageError('TEST_DISK_FULL', 'disk full while writing (injected)') : null, chunk);
            },
          });
          body.once('error', (err) => breaking.destroy(err));
          return inner.write(key, body.pipe(breaking), options);
        }
        return inner.write(key, body, options);
      },
      // A small data file is stored whole, with put().
      put(key, data, options) {
        if (isDataFile(key) && ++dataWrites === 3) return Promise.reject(new StorageError('TEST_DISK_FULL', 'disk full while writing (injected)'));
        return inner.put(key, data, options);
      },
    };
    const result = await attempt(rootConnector(server), { store: flaky });
    expectError(result.error, 'TEST_DISK_FULL', /disk full/);
    const { record, files } = await stored(join(work, 'flaky'));
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'TEST_DISK_FULL' } });
    // The files written before the failure (metadata, scripts, two data files) are gone; the
    // record stays, as the history of the attempt, and says nothing is left.
    expect(files).toEqual(['bloodraven.json']);
    expect(record.leftover).toEqual({ files: 0, bytes: 0, error: null });
    expect(record.sizeBytes).toBe(0);
  });

  it('storage failing mid-dump and refusing deletes: the dump fails with its own error; what is left is counted in the record, with the reason', async () => {
    const inner = createFsStore({ root: join(work, 'undeletable') });
    let dataWrites = 0;
    const store: ObjectStore = {
      ...inner,
      location: inner.location,
      type: inner.type,
      write(key: string, body: Readable, options) {
        if (++dataWrites === 3) {
          body.resume();
          return Promise.reject(new StorageError('TEST_DISK_FULL', 'disk full while writing (injected)'));
        }
        return inner.write(key, body, options);
      },
      put(key, data, options) {
        if (isDataFile(key) && ++dataWrites === 3) return Promise.reject(new StorageError('TEST_DISK_FULL', 'disk full while writing (injected)'));
        return inner.put(key, data, options);
      },
      deleteMany: () => Promise.reject(new StorageError('TEST_DELETE_REFUSED', 'deletes refused (injected)')),
    };
    const result = await attempt(rootConnector(server), { store });
    expectError(result.error, 'TEST_DISK_FULL', /disk full/);
    const { record, files } = await stored(join(work, 'undeletable'));
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'TEST_DISK_FULL' } });
    const left = files.filter((f) => f !== 'bloodraven.json');
    expect(left.length).toBeGreaterThan(0);
    expect(record.leftover).toMatchObject({ files: left.length, error: 'deletes refused (injected)' });
    expect(record.leftover!.bytes).toBeGreaterThan(0);
    expect(record.sizeBytes).toBe(record.leftover!.bytes);
  });

  it('the backup folder removed mid-dump: a named error saying the folder vanished, not a raw ENOENT; the record says Failed', async () => {
    const root = join(work, 'vanishing');
    const inner = createFsStore({ root });
    let dataWrites = 0;
    const store: ObjectStore = {
      ...inner,
      location: inner.location,
      type: inner.type,
      write(key: string, body: Readable, options) {
        if (++dataWrites !== 2) return inner.write(key, body, options);
        // Someone removes the folder just as the file's last bytes are written, before it is put in place.
        const removing = new Transform({
          transform: (chunk: Buffer, _enc, cb) => cb(null, chunk),
          flush: (cb) => {
            rmSync(join(root, key.split('/')[0]!), { recursive: true, force: true });
            cb();
          },
        });
        body.once('error', (err) => removing.destroy(err));
        return inner.write(key, body.pipe(removing), options);
      },
    };
    // Chunks big enough to be streamed (a small one is stored whole with put(): the next test).
    const result = await attempt(rootConnector(server), { store, dump: { bytesPerChunk: 2_000_000 } });
    const e = expectError(result.error, 'FOLDER_VANISHED', /^cannot write .*: its folder .*\/g-p-\d{8}-\d{6} vanished while it was being written \(something removed it\)$/);
    expect(e.message).not.toMatch(/ENOENT/);
    expect(e.hint).toMatch(/find what removes it/);
    const { record } = await stored(root);
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'FOLDER_VANISHED' } });
  });

  it('the backup folder removed between two small data files (each stored whole): FOLDER_VANISHED, not a folder made again to hold a dump with holes', async () => {
    const root = join(work, 'vanishing-small');
    const inner = createFsStore({ root });
    let dataPuts = 0;
    let removed: string | undefined;
    // Puts one at a time, so that no other write is under way when the folder goes (its rename
    // would fail and name the loss anyway): only the next put's own open finds the folder gone.
    let previous: Promise<unknown> = Promise.resolve();
    const store: ObjectStore = {
      ...inner,
      location: inner.location,
      type: inner.type,
      put(key, data, options) {
        const next = previous.then(() => {
          if (isDataFile(key) && ++dataPuts === 2) {
            removed = join(root, key.split('/')[0]!);
            rmSync(removed, { recursive: true, force: true });
          }
          return inner.put(key, data, options);
        });
        previous = next.catch(() => undefined);
        return next;
      },
    };
    const result = await attempt(rootConnector(server), { store });
    expect(removed).toBeDefined();
    const e = expectError(result.error, 'FOLDER_VANISHED', /^cannot write .*: its folder .*\/g-p-\d{8}-\d{6} vanished while it was being written \(something removed it\)$/);
    expect(e.hint).toMatch(/find what removes it/);
    // The record is written again (a record may make its folder again), and says Failed; no
    // data file and no completion marker stands in the folder made for it.
    const { record, files } = await stored(root);
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'FOLDER_VANISHED' } });
    expect(files.filter((f) => isDataFile(f) || f === '@.done.json')).toEqual([]);
  });

  it('an interrupt (Ctrl-C) mid-dump: stops, says interrupted, records Failed', async () => {
    const inner = createFsStore({ root: join(work, 'interrupted') });
    const controller = new AbortController();
    const store: ObjectStore = {
      ...inner,
      location: inner.location,
      type: inner.type,
      write(key, body, options) {
        controller.abort(new Error('SIGINT'));
        return inner.write(key, body, options);
      },
      put(key, data, options) {
        if (isDataFile(key)) controller.abort(new Error('SIGINT'));
        return inner.put(key, data, options);
      },
    };
    const result = await attempt(rootConnector(server), { store, signal: controller.signal });
    expectError(result.error, 'ABORTED', /interrupted: SIGINT/);
    const { record, files } = await stored(join(work, 'interrupted'));
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'ABORTED' }, leftover: { files: 0, bytes: 0, error: null } });
    expect(files).toEqual(['bloodraven.json']);
  });

  it('the server dying mid-dump: names the lost connection; the record says Failed', async () => {
    const doomed = await startTestServer();
    try {
      await sql(doomed, 'CREATE DATABASE shop; USE shop; CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(200)); INSERT INTO items SELECT seq, REPEAT("y", 150) FROM seq_1_to_30000; ANALYZE TABLE items;');
      const inner = createFsStore({ root: join(work, 'crash') });
      let crashed: Promise<void> | undefined;
      const store: ObjectStore = {
        ...inner,
        location: inner.location,
        type: inner.type,
        write(key, body, options) {
          crashed ??= doomed.crash();
          return inner.write(key, body, options);
        },
        put(key, data, options) {
          if (isDataFile(key)) crashed ??= doomed.crash();
          return inner.put(key, data, options);
        },
      };
      const result = await attempt(rootConnector(doomed), { store });
      await crashed;
      expectError(result.error, 'MYSQL_CONNECTION_LOST', /lost the connection/);
      const { record, files } = await stored(join(work, 'crash'));
      expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'MYSQL_CONNECTION_LOST' } });
      expect(files).not.toContain('@.done.json');
    } finally {
      await doomed.stop();
    }
  });
});
