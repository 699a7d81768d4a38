/**
 * Backpressure between the source's result sets and storage (issue 14). A dump task pauses its
 * query while its data file's buffer is full; its last block can fill that buffer after the
 * result set has ended, and a pause then used to stay on the worker's connection: no drain could
 * lift it (the file ends right after), so the worker's next query never got a row and the backup
 * hung, holding the source's locks, with the store waiting for bytes and so no stall to see.
 * Small encoder blocks made that ending likely; any size could hit it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { systemClock } from '../../src/lib/clock.js';
import type { Compression } from '../../src/lib/config/schema.js';
import { profileKeys } from '../../src/lib/crypto/keys.js';
import { silentLogger } from '../../src/lib/log.js';
import type { MysqlSession } from '../../src/lib/mysql/connection.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { createS3Store } from '../../src/lib/storage/s3-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';

let source: TestServer;
let s3: S3TestServer;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-backpressure-'));
  [source, s3] = await Promise.all([startTestServer(), startS3Server({ buckets: ['backups'] })]);
});

afterAll(async () => {
  await Promise.all([source?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** `promise`, or a rejection naming `what` once `ms` have passed (the broken code waited for ever). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a raw query', () => {
  it('leaves its connection free once its result set has ended, even if paused afterwards', async () => {
    await sql(source, 'CREATE DATABASE IF NOT EXISTS rawq');
    const session: MysqlSession = await rootConnector(source).connect();
    try {
      const query = session.raw('SELECT seq FROM rawq.seq_1_to_1000', () => undefined);
      expect(await query.done).toBe(1000);
      // What a dump task did when its last block filled its file's buffer.
      query.pause();
      const rows = await within(10_000, 'the next statement on the connection', session.query<{ n: number }>('SELECT 42 AS n'));
      expect(rows[0]?.n).toBe(42);
    } finally {
      session.destroy();
    }
  });
});

interface Case {
  storage: 'S3' | 'PVC';
  encrypted: boolean;
  compression: Compression;
  threads: number;
  bytesPerChunk: number;
  encoderBlockBytes: number;
  /** Bytes of the `note` column (row width). */
  noteBytes: number;
}

/**
 * Each case dumps a freshly loaded table (its statistics still say small, as in the report) of
 * many chunks per worker, so that many result sets end while their file's buffer is full.
 */
const cases: Case[] = [
  // The report: encrypted S3, 8M chunks, 2 threads, with the 16 KiB blocks of small tables.
  { storage: 'S3', encrypted: true, compression: 'zstd', threads: 2, bytesPerChunk: 8_000_000, encoderBlockBytes: 16 * 1024, noteBytes: 128 },
  { storage: 'S3', encrypted: false, compression: 'zstd', threads: 2, bytesPerChunk: 8_000_000, encoderBlockBytes: 16 * 1024, noteBytes: 128 },
  { storage: 'PVC', encrypted: true, compression: 'zstd', threads: 2, bytesPerChunk: 8_000_000, encoderBlockBytes: 16 * 1024, noteBytes: 128 },
];

const rowsPerTable = 200_000;

describe('a dump whose result sets end while their files are full', () => {
  it.each(cases)('ends, with every row stored: $storage encrypted=$encrypted $compression threads=$threads chunks=$bytesPerChunk block=$encoderBlockBytes note=$noteBytes', async (c) => {
    const schema = `bp_${c.storage}_${c.encrypted ? 'enc' : 'plain'}_${c.threads}_${c.encoderBlockBytes}`.toLowerCase();
    await sql(
      source,
      `CREATE DATABASE ${schema}; USE ${schema};
       CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), note TEXT, KEY (name));
       INSERT INTO items SELECT seq, CONCAT('item-', seq), LEFT(REPEAT(MD5(seq), ${Math.ceil(c.noteBytes / 32)}), ${c.noteBytes}) FROM seq_1_to_${rowsPerTable};`,
    );
    const store: ObjectStore =
      c.storage === 'S3'
        ? createS3Store({ bucket: 'backups', prefix: schema, endpointURL: s3.endpoint, credentials: s3rverCredentials, partSize: 5 * 1024 * 1024 })
        : createFsStore({ root: join(work, schema) });
    const passphrase = join(work, `${schema}.passphrase`);
    await writeFile(passphrase, 'backpressure passphrase\n');
    const kek = c.encrypted ? await profileKeys(store, passphrase, 'encryption.passphraseFile').forWriting() : null;
    // The bound ends the run if it hangs, so the server's sessions and the test both end.
    const controller = new AbortController();
    const record: BackupRecord = await within(
      60_000,
      'backup now',
      runBackup(
        { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
        {
          group: 'g',
          profile: schema,
          toolVersion: 'test',
          dump: {
            threads: c.threads,
            bytesPerChunk: c.bytesPerChunk,
            compression: c.compression,
            consistent: true,
            includeSchemas: [schema],
            excludeSchemas: [],
            lockWaitTimeoutSeconds: 10,
            encoderBlockBytes: c.encoderBlockBytes,
          },
          encryption: kek,
        },
        { signal: controller.signal },
      ),
    ).catch((err: unknown) => {
      controller.abort(err);
      throw err;
    });
    expect(record.phase).toBe('Succeeded');
    expect(record.tables.map((t) => [t.table, t.rows])).toEqual([['items', rowsPerTable]]);
    // Several files per table: result sets ended on a worker that then ran another.
    expect(record.files.filter((f) => f.name.startsWith(`${schema}@items@`) && !f.name.endsWith('.idx')).length).toBeGreaterThan(c.threads);
  });
});
