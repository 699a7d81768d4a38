/**
 * `verify` against real servers: a good backup verifies (files, a real restore into a sandbox,
 * per-table content); a tampered file, or content that differs from the dump-time checksum, is
 * caught and named; the result is saved beside the backup.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { inventoryFileName, type InventoryFile } from '../../src/lib/dump/inventory-file.js';
import { listBackups, resolveBackup } from '../../src/lib/catalog/catalog.js';
import { existsSync } from 'node:fs';
import { expectAppError } from '../support/expect-error.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/log.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { sandboxScratch, urlScratch } from '../../src/lib/verify/scratch.js';
import { verifyBackup, type VerificationResult } from '../../src/lib/verify/verify-backup.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { awkwardDataSql } from '../support/sample-data.js';

let source: TestServer;
let work: string;

async function backupInto(root: string): Promise<{ store: ObjectStore; record: BackupRecord }> {
  const store = createFsStore({ root });
  const record = await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'g',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
  return { store, record };
}

async function verify(store: ObjectStore): Promise<VerificationResult> {
  return verifyBackup(
    { store, logger: silentLogger, clock: systemClock, scratch: sandboxScratch(nodeProcessRunner) },
    await resolveBackup(store, 'latest'),
    { threads: 2 },
    { signal: new AbortController().signal },
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-verify-'));
  source = await startTestServer();
  await sql(source, awkwardDataSql);
  await sql(source, 'CREATE DATABASE bulk; USE bulk; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100)); INSERT INTO t SELECT seq, REPEAT("v", 80) FROM seq_1_to_20000; ANALYZE TABLE t;');
});

afterAll(async () => {
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('verify', () => {
  it('verifies a good backup: every file, a real restore, every table, and saves the result', async () => {
    const { store, record } = await backupInto(join(work, 'good'));
    const result = await verify(store);
    expect(result.ok).toBe(true);
    // Every data file by its stored SHA-256, every metadata and DDL script by its content, and the inventory file.
    const contents = JSON.parse(await readFile(join(store.location, record.name, inventoryFileName), 'utf8')) as InventoryFile;
    expect(contents.scripts.length).toBeGreaterThan(10);
    expect(result.files).toEqual({ checked: record.files.length + contents.scripts.length + 1, failed: [] });
    expect(result.tables).toHaveLength(record.tables.length);
    expect(result.tables.every((t) => t.ok && t.actualRows === t.expectedRows)).toBe(true);
    expect(result.restore!.rows).toBe(record.tables.reduce((n, t) => n + t.rows, 0));
    expect(result.restore!.durationMs).toBeGreaterThan(0);
    expect(result.scratch).toMatch(/^sandbox/);
    const saved = JSON.parse(await readFile(join(store.location, record.name, 'verification.json'), 'utf8')) as VerificationResult;
    expect(saved).toEqual(result);
  });

  it('names a data file whose stored bytes changed (one flipped byte), and restores nothing', async () => {
    const { store, record } = await backupInto(join(work, 'tampered'));
    const victim = record.files.find((f) => f.name.startsWith('bulk@t@'))!;
    const path = join(store.location, record.name, victim.name);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(path, bytes);
    const result = await verify(store);
    expect(result.ok).toBe(false);
    expect(result.files.failed).toEqual([expect.objectContaining({ name: victim.name, problem: expect.stringMatching(/SHA-256/) as unknown })]);
    expect(result.restore).toBeNull();
  });

  it('names a table whose restored content differs from the dump-time checksum', async () => {
    const { store, record } = await backupInto(join(work, 'content'));
    // Files intact, but the record says the table held something else: content must be compared.
    const recordPath = join(store.location, record.name, 'bloodraven.json');
    const changed = JSON.parse(await readFile(recordPath, 'utf8')) as BackupRecord;
    changed.tables.find((t) => t.schema === 'fidelity' && t.table === 'texts')!.checksum = '0123456789abcdef';
    changed.tables.find((t) => t.schema === 'bulk' && t.table === 't')!.rows += 1;
    await writeFile(recordPath, JSON.stringify(changed));
    const result = await verify(store);
    expect(result.ok).toBe(false);
    expect(result.mismatches.sort()).toEqual(['bulk.t', 'fidelity.texts']);
    expect(result.files.failed).toEqual([]);
  });

  it('a failed verification shows as FAILED in the catalog, never as verified', async () => {
    const { store, record } = await backupInto(join(work, 'failed-shows'));
    const victim = record.files.find((f) => f.name.startsWith('bulk@t@'))!;
    await writeFile(join(store.location, record.name, victim.name), 'garbage');
    expect((await verify(store)).ok).toBe(false);
    const [entry] = await listBackups(store);
    expect(entry).toMatchObject({ verified: false, verification: 'failed' });
  });

  it('a scratch server that cannot take the backup (its objects already there) is refused (exit 3), and nothing is saved against the backup', async () => {
    const { store, record } = await backupInto(join(work, 'scratch-refused'));
    // The source itself holds every object of the backup.
    const err = await expectAppError(
      verifyBackup(
        { store, logger: silentLogger, clock: systemClock, scratch: urlScratch(`mysql://root@127.0.0.1:${source.port}`, undefined) },
        await resolveBackup(store, 'latest'),
        { threads: 2 },
        { signal: new AbortController().signal },
      ),
      'TARGET_HAS_OBJECTS',
    );
    expect(err.exitCode).toBe(3);
    expect(existsSync(join(store.location, record.name, 'verification.json'))).toBe(false);
    expect((await listBackups(store))[0]).toMatchObject({ verification: null });
  });

  it('exits 1 from the CLI, naming the mismatch, with the result as --json', async () => {
    const { store, record } = await backupInto(join(work, 'cli'));
    const victim = record.files.find((f) => f.name.startsWith('fidelity@texts@'))!;
    await writeFile(join(store.location, record.name, victim.name), 'garbage');
    const cwd = await mkdtemp(join(work, 'cfg-'));
    await writeFile(join(cwd, 'bloodraven.yaml'), `backup: { profiles: [ { name: p, storage: { type: PVC, pvc: { path: ${JSON.stringify(store.location)} } } } ] }\n`);
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'run.js'), 'verify', '--json'], { cwd });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(out.code).toBe(1);
    const doc = JSON.parse(out.stdout) as VerificationResult;
    expect(doc).toMatchObject({ ok: false, backup: record.name });
    expect(out.stderr).toContain(`file ${victim.name}`);
  });
});
