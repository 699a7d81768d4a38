/**
 * The field cases of ../shared/cases (each modelled on a public bug report about logical
 * backups): the case's SQL is loaded into a fresh source server, backed up, and restored into a
 * fresh target (started with the case's `.dstargs`); the case's check.sql, run by the stock
 * `mariadb` client on both servers, must print the same. Cases whose right behaviour is a
 * refusal check that nothing was touched. (14b-long-write is test/integration/snapshot-lock.test.ts.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { resolveBackup } from '../../src/lib/catalog/catalog.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { systemClock } from '../../src/lib/clock.js';
import type { LoadOptions } from '../../src/lib/load/load-plan.js';
import { digestOf, inventoryFileContent, inventoryFileName, type InventoryFile } from '../../src/lib/dump/inventory-file.js';
import { silentLogger } from '../../src/lib/log.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { restoreBootstrap, type RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import { sourceFromCatalog } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { sandboxScratch } from '../../src/lib/verify/scratch.js';
import { verifyBackup, type VerificationResult } from '../../src/lib/verify/verify-backup.js';
import { expectAppError } from '../support/expect-error.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

const casesDir = join(import.meta.dirname, '..', '..', '..', 'shared', 'cases');
let work: string;

/** Output of `mariadb --batch` running `script` (a check.sql) on `server`. */
function runClient(server: TestServer, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', ['--no-defaults', '-uroot', `--socket=${server.socket}`, '--batch', '--skip-column-names'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`mariadb exited ${code}: ${err}`))));
    child.stdin.end(script);
  });
}

async function caseFile(name: string): Promise<string> {
  return readFile(join(casesDir, name), 'utf8');
}

interface CaseRun {
  source: TestServer;
  store: ObjectStore;
  record: BackupRecord;
  stop(): Promise<void>;
}

/** A source server holding the case's data, and a backup of it. Sources take large values (256M packets). */
async function backedUp(name: string): Promise<CaseRun> {
  const source = await startTestServer({ extraArgs: ['--max-allowed-packet=256M'] });
  await sql(source, await caseFile(`${name}.sql`));
  const store = createFsStore({ root: await mkdtemp(join(work, `${name}-`)) });
  const record = await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'cases',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
  return { source, store, record, stop: () => source.stop() };
}

async function inventoryOf(run: CaseRun): Promise<InventoryFile> {
  return JSON.parse(await readFile(join(run.store.location, run.record.name, inventoryFileName), 'utf8')) as InventoryFile;
}

async function restoreInto(target: TestServer, run: CaseRun, options: Partial<LoadOptions> = {}): Promise<RestoreResult> {
  return restoreBootstrap(
    { connector: rootConnector(target), logger: silentLogger, clock: systemClock },
    await sourceFromCatalog(run.store, 'latest', null),
    { threads: 2, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: false, resetProgress: false, ...options },
    { signal: new AbortController().signal },
  );
}

async function verify(run: CaseRun): Promise<VerificationResult> {
  return verifyBackup(
    { store: run.store, logger: silentLogger, clock: systemClock, scratch: sandboxScratch(nodeProcessRunner) },
    await resolveBackup(run.store, 'latest'),
    { threads: 2 },
    { signal: new AbortController().signal },
  );
}

/** Backs the case up, restores it into a fresh target, and compares check.sql on both. */
async function expectFaithful(name: string, targetArgs: string[] = [], options: Partial<LoadOptions> = {}): Promise<{ run: CaseRun; result: RestoreResult }> {
  const run = await backedUp(name);
  const target = await startTestServer({ extraArgs: targetArgs });
  try {
    const result = await restoreInto(target, run, options);
    const check = await caseFile(`${name}.check.sql`);
    const expected = await runClient(run.source, check);
    expect(expected.trim().length).toBeGreaterThan(0);
    expect(await runClient(target, check)).toBe(expected);
    return { run, result };
  } finally {
    await target.stop();
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cases-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('field cases', () => {
  it('01-sequence: sequences come before the tables that use them, with their options and state', async () => {
    const { run } = await expectFaithful('01-sequence');
    await run.stop();
  });

  it('02-system-versioning: versioned tables with their history; verify proves it, and a table left out fails verify', async () => {
    const { run, result } = await expectFaithful('02-system-versioning');
    try {
      // Both versioned tables, history rows included, in the record and the restore.
      const contents = await inventoryOf(run);
      expect(contents.inventory.objects.filter((o) => o.type === 'SYSTEM VERSIONED').map((o) => o.name).sort()).toEqual(['audit', 'price']);
      expect(result.tables.find((t) => t.table === 'price')!.rows).toBe(3);
      expect((await verify(run)).ok).toBe(true);

      // The inventory says what the source held: a table it lists that the dump lacks fails verify.
      contents.inventory.objects.push({ kind: 'table', schema: 'h02', name: 'left_out', type: 'SYSTEM VERSIONED' });
      const content = inventoryFileContent(contents);
      await writeFile(join(run.store.location, run.record.name, inventoryFileName), content);
      const recordPath = join(run.store.location, run.record.name, 'bloodraven.json');
      const record = JSON.parse(await readFile(recordPath, 'utf8')) as BackupRecord;
      record.inventoryFile = digestOf(inventoryFileName, content);
      await writeFile(recordPath, JSON.stringify(record));
      const failed = await verify(run);
      expect(failed.ok).toBe(false);
      expect(failed.error).toMatch(/table `h02`\.`left_out` is missing/);
    } finally {
      await run.stop();
    }
  });

  it('10-zero-dates: invalid and zero dates arrive as the source holds them', async () => {
    const { run } = await expectFaithful('10-zero-dates');
    await run.stop();
  });

  it('15a-large-row: a 60 MiB value restores into a target sized for it, and verify sizes its sandbox itself', async () => {
    const { run } = await expectFaithful('15a-large-row', ['--max-allowed-packet=256M']);
    try {
      const big = run.record.tables.find((t) => t.table === 'big')!;
      expect(big.largestValue).toEqual({ columnIndex: 1, bytes: 62914560 });
      const verification = await verify(run);
      expect(verification.error).toBeNull();
      expect(verification.ok).toBe(true);
    } finally {
      await run.stop();
    }
  });

  it('15b-large-row-small-packet: a target whose max_allowed_packet is too small is refused before anything is created', async () => {
    const run = await backedUp('15b-large-row-small-packet');
    const dstArgs = (await caseFile('15b-large-row-small-packet.dstargs')).split(/\s+/).filter(Boolean);
    const target = await startTestServer({ extraArgs: dstArgs });
    try {
      const err = await expectAppError(restoreInto(target, run), 'TARGET_PACKET_TOO_SMALL');
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(/`h15b`\.`big`.*20971520 bytes.*column `b`.*max_allowed_packet of 16777216/);
      expect(err.hint).toMatch(/SET GLOBAL max_allowed_packet = 22020096/);
      expect(await sql(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'h15b'")).toEqual([{ n: '0' }]);
      // Raised as the hint says, the same restore loads the value intact.
      await sql(target, 'SET GLOBAL max_allowed_packet = 22020096');
      await restoreInto(target, run);
      const check = await caseFile('15b-large-row-small-packet.check.sql');
      expect(await runClient(target, check)).toBe(await runClient(run.source, check));
    } finally {
      await target.stop();
      await run.stop();
    }
  });

  it('16-check-constraint: rows that violate a CHECK constraint arrive as the source holds them', async () => {
    const { run } = await expectFaithful('16-check-constraint');
    await run.stop();
  });

  it('19-definer-missing: accounts are dumped and loaded with --load-users; without it, missing definers are named', async () => {
    const { run, result } = await expectFaithful('19-definer-missing', [], { loadUsers: true });
    try {
      expect((await inventoryOf(run)).inventory.accounts).toContain("'app'@'%'");
      expect(result.users!.created).toContain("'app'@'%'");
      expect(result.missingDefiners).toEqual([]);
      const target = await startTestServer();
      try {
        const without = await restoreInto(target, run);
        expect(without.users).toBeNull();
        expect(without.missingDefiners).toEqual([
          { object: 'procedure `h19`.`p`', definer: "'app'@'%'" },
          { object: 'view `h19`.`v`', definer: "'app'@'%'" },
        ]);
      } finally {
        await target.stop();
      }
    } finally {
      await run.stop();
    }
  });
});
