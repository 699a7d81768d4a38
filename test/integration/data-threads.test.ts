/**
 * The data path's per-byte work runs in worker threads, not on the main thread (issue 12): a
 * backup's rows are compressed, and a restore's files decompressed, in the dump and load threads.
 * Seen through async_hooks, which are per thread: the main thread creates Workers and no zlib or
 * zstd stream of its own while it backs up and restores a dump whose files stream (larger than a
 * whole-read file), and the restore is exact.
 */
import { createHook } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { systemClock } from '../../src/lib/clock.js';
import { AppError, StorageError } from '../../src/lib/errors.js';
import type { LoadOptions } from '../../src/lib/load/loader.js';
import { silentLogger } from '../../src/lib/log.js';
import { wholeFileBytes } from '../../src/lib/load/file-input.js';
import { restoreBootstrap } from '../../src/lib/restore/restore-bootstrap.js';
import { sourceFromCatalog } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { BackupView } from '../../src/lib/storage/encrypted-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

let source: TestServer;
let target: TestServer;
let work: string;
let store: ObjectStore;

/** The load options of these tests: 2 threads, no progress file unless asked. */
function loadOptions(o: Partial<LoadOptions> = {}): LoadOptions {
  return { threads: 2, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: false, resetProgress: false, ...o };
}

/** Async resources of each type the main thread creates while `work` runs. */
async function resourcesCreatedDuring(work: () => Promise<unknown>): Promise<Map<string, number>> {
  const created = new Map<string, number>();
  const hook = createHook({
    init(_id, type) {
      created.set(type, (created.get(type) ?? 0) + 1);
    },
  }).enable();
  try {
    await work();
  } finally {
    hook.disable();
  }
  return created;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-data-threads-'));
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  // About 6 MB of rows that compress poorly: files of ~1 MB, streamed (not read whole) on restore.
  await sql(
    source,
    `CREATE DATABASE big; USE big;
     CREATE TABLE t (id INT PRIMARY KEY, payload VARBINARY(600));
     INSERT INTO t SELECT seq, RANDOM_BYTES(512) FROM seq_1_to_12000;
     ANALYZE TABLE t;`,
  );
  store = createFsStore({ root: join(work, 'backups') });
});

afterAll(async () => {
  await Promise.all([source, target].map((s) => s?.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the data path in worker threads', () => {
  it('backs up and restores with no compression stream on the main thread, exactly', async () => {
    const backupResources = await resourcesCreatedDuring(() =>
      runBackup(
        { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
        {
          group: 'src',
          profile: 'p',
          toolVersion: 'test',
          dump: { threads: 2, bytesPerChunk: 1_000_000, compression: 'zstd', consistent: true, includeSchemas: ['big'], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
        },
        { signal: new AbortController().signal },
      ),
    );
    expect(backupResources.get('WORKER') ?? 0).toBeGreaterThanOrEqual(2);
    expect(backupResources.get('ZLIB') ?? 0).toBe(0);

    const from = await sourceFromCatalog(store, 'latest', null);
    const streamed = from.record!.files.filter((f) => f.name.endsWith('.tsv.zst') && f.storedBytes > wholeFileBytes);
    expect(streamed.length, JSON.stringify(from.record!.files.map((f) => [f.name, f.storedBytes]))).toBeGreaterThanOrEqual(3);

    const restoreResources = await resourcesCreatedDuring(() =>
      restoreBootstrap(
        { connector: rootConnector(target), logger: silentLogger, clock: systemClock },
        from,
        loadOptions({ resume: true }),
        { signal: new AbortController().signal },
      ),
    );
    expect(restoreResources.get('WORKER') ?? 0).toBeGreaterThanOrEqual(2);
    expect(restoreResources.get('ZLIB') ?? 0).toBe(0);

    const checksum = 'CHECKSUM TABLE big.t';
    expect(await sql(target, checksum)).toEqual(await sql(source, checksum));
    expect(await sql(target, 'SELECT COUNT(*) AS n FROM big.t')).toEqual([{ n: '12000' }]);
  });

  it('a storage read that fails midway fails the file with the storage error (not as a damaged file)', async () => {
    // The backup the test above took.
    const from = await sourceFromCatalog(store, 'latest', null);
    const big = from.record!.files.find((f) => f.name.endsWith('.tsv.zst') && f.storedBytes > 2 * wholeFileBytes)!;
    const failing: BackupView = {
      ...from.store,
      async read(key, options) {
        if (!key.endsWith(big.name)) return from.store.read(key, options);
        const whole = await from.store.get(key, options);
        // Half the file, then the connection drops.
        const body = new PassThrough();
        body.write(whole.subarray(0, whole.length >> 1));
        setImmediate(() => body.destroy(new StorageError('S3_REQUEST_FAILED', `S3 GetObject of ${big.name} failed: socket hang up`, { hint: 'check the endpoint' })));
        return body;
      },
    };
    const fresh = await startTestServer();
    try {
      const err = await restoreBootstrap(
        { connector: rootConnector(fresh), logger: silentLogger, clock: systemClock },
        { ...from, store: failing },
        loadOptions(),
        { signal: new AbortController().signal },
      ).then(
        () => undefined,
        (e: unknown) => e as AppError,
      );
      expect(err).toBeInstanceOf(AppError);
      expect(err!.code).toBe('LOAD_DATA_FAILED');
      expect(err!.message).toContain(`loading ${big.name}`);
      expect(err!.message).toContain('socket hang up');
      expect(err!.message).not.toMatch(/damaged/);
      expect(err!.hint).toBe('check the endpoint');
    } finally {
      await fresh.stop();
    }
  });

  it('a stored stream that fails after its file was handed over does not take the process down', async () => {
    // A read's stream can still fail once the thread has all of it (the run's signal fires as
    // another file fails): the error must have a listener, or Node ends the process.
    const from = await sourceFromCatalog(store, 'latest', null);
    const handedOver: PassThrough[] = [];
    const lingering: BackupView = {
      ...from.store,
      async read(key, options) {
        if (!/@t@\d+\.tsv\.zst$/.test(key)) return from.store.read(key, options);
        const body = new PassThrough({ autoDestroy: false });
        body.end(await from.store.get(key, options));
        handedOver.push(body);
        return body;
      },
    };
    const fresh = await startTestServer();
    try {
      await restoreBootstrap(
        { connector: rootConnector(fresh), logger: silentLogger, clock: systemClock },
        { ...from, store: lingering },
        loadOptions(),
        { signal: new AbortController().signal },
      );
      expect(handedOver.length).toBeGreaterThanOrEqual(3);
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown): void => {
        uncaught.push(err);
      };
      process.on('uncaughtException', onUncaught);
      try {
        for (const body of handedOver) body.destroy(new Error('aborted after the load'));
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off('uncaughtException', onUncaught);
      }
      expect(uncaught).toEqual([]);
      expect(await sql(fresh, 'SELECT COUNT(*) AS n FROM big.t')).toEqual([{ n: '12000' }]);
    } finally {
      await fresh.stop();
    }
  });

  it('a file that matches its record but does not decompress fails as damaged, with a hint that does not say to resume', async () => {
    // Last: it damages the backup the tests above share. The record is rewritten to match, so
    // only the decompression can tell (as when the dump was damaged before it was recorded).
    const from = await sourceFromCatalog(store, 'latest', null);
    const big = from.record!.files.find((f) => f.name.endsWith('.tsv.zst') && f.storedBytes > 2 * wholeFileBytes)!;
    const folder = join(work, 'backups', from.record!.name);
    const cut = (await readFile(join(folder, big.name))).subarray(0, Math.floor(big.storedBytes * 0.6));
    await writeFile(join(folder, big.name), cut);
    const recordPath = join(folder, 'bloodraven.json');
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as BackupRecord;
    const entry = record.files.find((f) => f.name === big.name)!;
    entry.storedBytes = cut.length;
    entry.sha256 = createHash('sha256').update(cut).digest('hex');
    await writeFile(recordPath, JSON.stringify(record));

    const fresh = await startTestServer();
    try {
      const err = await restoreBootstrap(
        { connector: rootConnector(fresh), logger: silentLogger, clock: systemClock },
        await sourceFromCatalog(store, 'latest', null),
        loadOptions({ resume: true }),
        { signal: new AbortController().signal },
      ).then(
        () => undefined,
        (e: unknown) => e as AppError,
      );
      expect(err).toBeInstanceOf(AppError);
      expect(err!.code).toBe('DUMP_FILE_DAMAGED');
      expect(err!.message).toContain(`loading ${big.name}`);
      expect(err!.hint).toMatch(/damaged/);
      expect(err!.hint).toMatch(/drop what it created/);
      expect(err!.hint).not.toMatch(/resume/);
    } finally {
      await fresh.stop();
    }
  });
});
