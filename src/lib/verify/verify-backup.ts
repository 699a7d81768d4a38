/**
 * `verify`: proves a backup restorable. It checks every data file against the SHA-256 in the
 * record, loads the backup into a scratch server, and compares every table's row count and
 * content checksum with those taken at dump time. The result (with the measured restore time)
 * is saved beside the backup as `verification.json`.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { CatalogEntry } from '../catalog/catalog.js';
import type { BackupFileRecord, BackupTableRecord } from '../catalog/record.js';
import { AppError, ExitCode, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector } from '../mysql/connection.js';
import { prepareDumpSession } from '../dump/snapshot.js';
import type { KeyEncryptionKey } from '../crypto/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { backupView } from '../storage/encrypted-store.js';
import { loadDump, type LoadProgressReport } from '../load/loader.js';
import { tableChecksum } from './table-checksum.js';
import { writeJson } from '../storage/json.js';
import { verificationFileName } from '../catalog/names.js';


/** A server to restore into: started for the verification, or an existing one. */
export interface ScratchServer {
  connector: MysqlConnector;
  description: string;
  /** Stops (and throws away) what start() started; a no-op for an existing server. */
  release(): Promise<void>;
}

export interface VerifyDeps {
  store: ObjectStore;
  /** The profile's key, for an encrypted backup. */
  kek?: KeyEncryptionKey | null;
  logger: Logger;
  clock: Clock;
  /** Provides the scratch server, only once the files have been checked. */
  scratch: () => Promise<ScratchServer>;
}

export interface FileCheck {
  name: string;
  ok: boolean;
  problem?: string;
}

export interface TableCheck {
  schema: string;
  table: string;
  expectedRows: number;
  actualRows: number | null;
  expectedChecksum: string;
  actualChecksum: string | null;
  ok: boolean;
}

export interface VerificationResult {
  backup: string;
  ok: boolean;
  verifiedAt: string;
  scratch: string | null;
  files: { checked: number; failed: FileCheck[] };
  tables: TableCheck[];
  /** Tables whose rows or checksum differ, as `schema.table`. */
  mismatches: string[];
  restore: { durationMs: number; bytes: number; rows: number; bytesPerSecond: number } | null;
  /** Why verification could not finish (the load failed, say). */
  error: string | null;
}

async function sha256Of(store: ObjectStore, key: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await store.read(key, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function verifyBackup(
  deps: VerifyDeps,
  entry: CatalogEntry,
  options: { threads: number },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void; onPhase?: (phase: 'files' | 'restore' | 'checksums') => void },
): Promise<VerificationResult> {
  const { store, logger, clock } = deps;
  const record = entry.record;
  if (!record || record.phase !== 'Succeeded' || !entry.complete) {
    throw new AppError('BACKUP_NOT_VERIFIABLE', `backup ${entry.name} is not a complete, successful bloodraven backup (phase ${record?.phase ?? 'unknown'})`, ExitCode.precondition, {
      hint: 'verify a backup that succeeded',
    });
  }
  const result: VerificationResult = {
    backup: entry.name,
    ok: false,
    verifiedAt: clock.now().toISOString(),
    scratch: null,
    files: { checked: 0, failed: [] },
    tables: [],
    mismatches: [],
    restore: null,
    error: null,
  };

  // A missing or wrong key is refused before any work, like an incomplete backup.
  const dumpStore = backupView(store, entry.prefix, record, deps.kek ?? null);
  run.onPhase?.('files');
  result.files = await checkFiles(store, entry, record.files, run.signal, logger);
  if (result.files.failed.length === 0) {
    run.onPhase?.('restore');
    const scratch = await deps.scratch();
    result.scratch = scratch.description;
    try {
      Object.assign(result, await restoreAndCompare({ ...deps, store: dumpStore }, scratch, { entry, tables: record.tables, threads: options.threads }, run));
    } catch (err) {
      if (run.signal.aborted) throw err;
      result.error = errorMessage(err);
      logger.error('the backup could not be restored into the scratch server', { reason: result.error });
    } finally {
      await scratch.release();
    }
  }

  result.ok = result.files.failed.length === 0 && result.error === null && result.mismatches.length === 0;
  await writeJson(store, entry.prefix + verificationFileName, result);
  return result;
}

/** Every data file's stored bytes against the SHA-256 in the record. */
async function checkFiles(store: ObjectStore, entry: CatalogEntry, files: BackupFileRecord[], signal: AbortSignal, logger: Logger): Promise<VerificationResult['files']> {
  const failed: FileCheck[] = [];
  for (const f of files) {
    let problem: string | undefined;
    try {
      const actual = await sha256Of(store, entry.prefix + f.name, signal);
      if (actual !== f.sha256) problem = `SHA-256 ${actual} differs from the recorded ${f.sha256}`;
    } catch (err) {
      if (signal.aborted) throw err;
      problem = errorMessage(err);
    }
    if (problem) {
      failed.push({ name: f.name, ok: false, problem });
      logger.warn('a data file does not match its record', { file: f.name, problem });
    }
  }
  return { checked: files.length, failed };
}

/** Loads the backup into the scratch server and compares every table with the record. */
async function restoreAndCompare(
  deps: VerifyDeps,
  scratch: ScratchServer,
  { entry, tables: expectedTables, threads }: { entry: CatalogEntry; tables: BackupTableRecord[]; threads: number },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void; onPhase?: (phase: 'files' | 'restore' | 'checksums') => void },
): Promise<Pick<VerificationResult, 'restore' | 'tables' | 'mismatches'>> {
  const load = await loadDump(
    { connector: scratch.connector, store: deps.store, logger: deps.logger, clock: deps.clock },
    entry.prefix,
    { threads, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: false, resetProgress: false },
    run,
  );
  const durationMs = load.completedAt.getTime() - load.startedAt.getTime();
  run.onPhase?.('checksums');
  const tables: TableCheck[] = [];
  const session = await scratch.connector.connect();
  try {
    await prepareDumpSession(session);
    const manifestTables = new Map(load.manifest.schemas.flatMap((s) => s.tables).map((t) => [`${t.schema}\u0000${t.name}`, t]));
    for (const expected of expectedTables) {
      const table = manifestTables.get(`${expected.schema}\u0000${expected.table}`);
      const actual = table ? await tableChecksum(session, table) : null;
      tables.push({
        schema: expected.schema,
        table: expected.table,
        expectedRows: expected.rows,
        actualRows: actual?.rows ?? null,
        expectedChecksum: expected.checksum,
        actualChecksum: actual?.checksum ?? null,
        ok: actual !== null && actual.rows === expected.rows && actual.checksum === expected.checksum,
      });
    }
  } finally {
    await session.close();
  }
  return {
    restore: { durationMs, bytes: load.bytes, rows: load.rows, bytesPerSecond: durationMs > 0 ? Math.round(load.bytes / (durationMs / 1000)) : 0 },
    tables,
    mismatches: tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.table}`),
  };
}
