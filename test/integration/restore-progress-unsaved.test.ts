/**
 * A restore whose progress file cannot be written (the dump's folder is read-only to bloodraven)
 * still loads, but an interrupted run's hint must promise only the resume the saved file allows:
 * none when nothing could be saved, a resume from the last saved step when later writes failed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { systemClock } from '../../src/lib/clock.js';
import { StorageError } from '../../src/lib/errors.js';
import type { LoadOptions } from '../../src/lib/load/loader.js';
import { silentLogger } from '../../src/lib/log.js';
import { restoreBootstrap, type RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import { sourceFromCatalog, type RestoreSource } from '../../src/lib/restore/source.js';
import type { BackupView } from '../../src/lib/storage/encrypted-store.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { expectAppError } from '../support/expect-error.js';
import { watchingDataReads } from '../support/interrupting-view.js';
import { checksumTable, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

const options: LoadOptions = {
  threads: 1,
  includeSchemas: [],
  excludeSchemas: [],
  ignoreExistingObjects: false,
  skipBinlog: false,
  deferIndexes: 'all',
  resume: true,
  resetProgress: false,
};

let source: TestServer;
let work: string;
let backup: RestoreSource;
const targets: TestServer[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-unsaved-'));
  source = await startTestServer();
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE a (id INT PRIMARY KEY, pad VARCHAR(100));
     CREATE TABLE b (id INT PRIMARY KEY, pad VARCHAR(100));
     INSERT INTO a SELECT seq, REPEAT('a', 100) FROM seq_1_to_20000;
     INSERT INTO b SELECT seq, REPEAT('b', 100) FROM seq_1_to_20000;`,
  );
  const store = createFsStore({ root: join(work, 'backups') });
  await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'src',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 1, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['shop'], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
  backup = await sourceFromCatalog(store, 'latest', null);
});

afterAll(async () => {
  await Promise.all([source, ...targets].map((s) => s?.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * The backup, with its progress file unwritable after `writable` writes, and an interrupt when
 * the second data file of table b is opened (table a is loaded by then).
 */
function faulty(writable: number): { from: RestoreSource; controller: AbortController } {
  const controller = new AbortController();
  let writes = 0;
  let bFiles = 0;
  const watched = watchingDataReads(backup.store, (key) => {
    if (key.includes('shop@b@') && ++bFiles === 2) controller.abort(new Error('SIGINT'));
  });
  const store: BackupView = {
    ...watched,
    put(key, data, opts) {
      if (key.includes('load-progress.') && ++writes > writable) {
        return Promise.reject(new StorageError('STORAGE_WRITE_FAILED', `cannot write ${key}: EROFS: read-only file system`));
      }
      return backup.store.put(key, data, opts);
    },
  };
  return { from: { ...backup, store }, controller };
}

function restore(target: TestServer, from: RestoreSource, signal = new AbortController().signal, load = options): Promise<RestoreResult> {
  return restoreBootstrap({ connector: rootConnector(target), logger: silentLogger, clock: systemClock }, from, load, { signal });
}

async function newTarget(): Promise<TestServer> {
  const t = await startTestServer();
  targets.push(t);
  return t;
}

describe('an interrupted restore whose progress file could not be written', () => {
  it('says that running it again cannot resume (nothing was saved), and a rerun is indeed refused', async () => {
    const target = await newTarget();
    const { from, controller } = faulty(0);
    const err = await expectAppError(restore(target, from, controller.signal), 'ABORTED');
    // Before: "run the same restore again to resume where it stopped", which the rerun below refutes.
    expect(err.hint).not.toContain('resume where it stopped');
    expect(err.hint).toMatch(/^the target now holds part of the backup, and the progress file \S*load-progress\.\S+\.json could not be written \(.*EROFS.*\), so running it again cannot resume: drop what it created \(schemas `shop`/);
    const again = await expectAppError(restore(target, backup), 'TARGET_HAS_OBJECTS');
    expect(again.exitCode).toBe(3);
  });

  it('says it resumes from the last saved step when later writes failed, and a rerun does', async () => {
    const target = await newTarget();
    // The first write (tables created) goes through; the ones after it fail.
    const { from, controller } = faulty(1);
    const err = await expectAppError(restore(target, from, controller.signal), 'ABORTED');
    expect(err.hint).toMatch(/could not be written \(.*EROFS.*\) after some steps were saved: run the same restore again to resume from the last saved step/);
    const second = await restore(target, backup);
    expect(second.resumedSteps).toBeGreaterThan(0);
    for (const t of ['shop.a', 'shop.b']) expect(await checksumTable(target, t), t).toBe(await checksumTable(source, t));
  });

  it('started with --reset-progress, says to run it again without that flag (with it, the rerun would start over and be refused), and that resumes', async () => {
    const target = await newTarget();
    const { from, controller } = faulty(Number.POSITIVE_INFINITY);
    const err = await expectAppError(restore(target, from, controller.signal, { ...options, resetProgress: true }), 'ABORTED');
    expect(err.hint).toBe('the target now holds part of the backup: run the restore again without --reset-progress to resume where it stopped');
    await expectAppError(restore(target, backup, undefined, { ...options, resetProgress: true }), 'TARGET_HAS_OBJECTS');
    const second = await restore(target, backup);
    expect(second.resumedSteps).toBeGreaterThan(0);
    for (const t of ['shop.a', 'shop.b']) expect(await checksumTable(target, t), t).toBe(await checksumTable(source, t));
  });
});
