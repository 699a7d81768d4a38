/**
 * `verify`: proves a backup restorable and faithful to what the source held. It checks every file
 * against the record (data files by the SHA-256 of their stored bytes, scripts by their content),
 * loads the backup into a scratch server sized for it (max_allowed_packet for its largest row),
 * checks that the scratch server then holds every object of the source's inventory, and compares
 * every table's row count and content checksum with those taken at dump time. A backup whose
 * record has no inventory (taken before bloodraven kept one) cannot be proven complete and fails.
 * The result (with the measured restore time) is saved beside the backup as `verification.json`.
 */
import type { Clock } from '../clock.js';
import type { CatalogEntry } from '../catalog/catalog.js';
import type { BackupRecord, BackupTableRecord } from '../catalog/record.js';
import { AppError, ExitCode, ServerUnresponsiveError, abortError, errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector } from '../mysql/connection.js';
import { watchServer } from '../mysql/server-watch.js';
import { prepareDumpSession } from '../dump/snapshot.js';
import type { KeyEncryptionKey } from '../crypto/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { backupView, type BackupView } from '../storage/encrypted-store.js';
import { loadDump, type LoadProgressReport } from '../load/loader.js';
import { checkFiles } from '../restore/check-files.js';
import { inventoryFileName, readInventoryFile, type InventoryFile } from '../dump/inventory-file.js';
import { planRestore, TargetRefusedError } from '../restore/plan.js';
import { nextPacketSize } from '../restore/target-checks.js';
import type { RestoreSource } from '../restore/source.js';
import { tableChecksum } from './table-checksum.js';
import { writeJson } from '../storage/json.js';
import { verificationFileName } from '../catalog/names.js';
import { BackupGoneError, takeReaderLease, type ReaderLease } from '../catalog/reader-lease.js';


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
  /**
   * Provides the scratch server, only once the files have been checked, sized for the backup.
   * When `signal` fires while it starts, it stops what it started and throws.
   */
  scratch: (needs: ScratchNeeds, signal: AbortSignal) => Promise<ScratchServer>;
}

/** What the scratch server must be able to take. */
export interface ScratchNeeds {
  /** Bytes: the largest row and value of the backup, with room (target-checks.ts nextPacketSize). */
  maxAllowedPacket: number;
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
  /** When the verification began (RFC 3339). */
  verifiedAt: string;
  /** When it ended (RFC 3339); null in results saved before it was kept. */
  completedAt: string | null;
  scratch: string | null;
  files: { checked: number; failed: FileCheck[] };
  tables: TableCheck[];
  /** Tables whose rows or checksum differ, as `schema.table`. */
  mismatches: string[];
  /** The scratch restore: its duration, what it loaded, and the source inventory's objects found on the scratch server afterwards. */
  restore: { durationMs: number; bytes: number; rows: number; bytesPerSecond: number; objects?: number } | null;
  /** Why verification could not finish (the load failed, say). */
  error: string | null;
}

/**
 * The packet size a scratch server needs to load and read back this backup: room for its largest
 * row and value. Records from before these were kept get the server's maximum, 1 GiB.
 */
export function scratchNeeds(record: BackupRecord): ScratchNeeds {
  const known = record.tables.every((t) => t.largestRowBytes !== undefined);
  if (!known) return { maxAllowedPacket: 1024 * 1024 * 1024 };
  const largest = Math.max(0, ...record.tables.map((t) => Math.max(t.largestRowBytes ?? 0, t.largestValue?.bytes ?? 0)));
  return { maxAllowedPacket: Math.max(64 * 1024 * 1024, nextPacketSize(Math.ceil(largest * 1.25))) };
}

export async function verifyBackup(
  deps: VerifyDeps,
  entry: CatalogEntry,
  options: { threads: number },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void; onPhase?: (phase: 'files' | 'restore' | 'checksums') => void },
): Promise<VerificationResult> {
  const { store, clock } = deps;
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
    completedAt: null,
    scratch: null,
    files: { checked: 0, failed: [] },
    tables: [],
    mismatches: [],
    restore: null,
    error: null,
  };

  // A missing or wrong key is refused before any work, like an incomplete backup.
  const dumpStore = backupView(store, entry.prefix, record, deps.kek ?? null);
  // While the lease lives, prune leaves the backup alone; one already being deleted is refused.
  // Wall time, not the run's clock: leases are compared across processes.
  const lease = await takeReaderLease(store, entry.name, { purpose: 'verify', logger: deps.logger, signal: run.signal });
  try {
    try {
      await checkAndRestore({ ...deps, dumpStore }, { entry, record, result }, options, run);
    } catch (err) {
      if (!run.signal.aborted) {
        // Files that vanished mid-way are the backup's removal, not a fault of the backup.
        const gone = await lease.assertBackupPresent().then(
          () => null,
          (e: unknown) => (e instanceof BackupGoneError ? e : null),
        );
        throw gone ?? err;
      }
      // An interrupted verification proves nothing either way: the last finished result (a pass
      // or a failure, or none) stays what the catalog shows, since the backup's files have not
      // changed; writing "failed" would brand a good backup bad.
      const interrupted = abortError(run.signal);
      throw interrupted;
    }
    result.ok = result.files.failed.length === 0 && result.error === null && result.mismatches.length === 0;
    result.completedAt = clock.now().toISOString();
    // A result is saved only beside a backup that is there: a failure caused by its removal says
    // nothing about it, and a write into its deleted folder would make a folder of one file.
    await lease.assertBackupPresent(run.signal);
    await saveResult(store, entry, result, lease);
    return result;
  } finally {
    await lease.release();
  }
}

/**
 * Writes `verification.json` beside the backup. Should the backup have been removed in the
 * moment between the check and the write (the write then made its folder again), the file is
 * taken back, with the folder if nothing else is in it, and BACKUP_GONE thrown.
 */
async function saveResult(store: ObjectStore, entry: CatalogEntry, result: VerificationResult, lease: ReaderLease): Promise<void> {
  await writeJson(store, entry.prefix + verificationFileName, result);
  try {
    await lease.assertBackupPresent();
  } catch (err) {
    await store.delete(entry.prefix + verificationFileName);
    if ((await store.list(entry.prefix)).length === 0) await store.deletePrefix(entry.prefix);
    throw err;
  }
}

/** The checks, the restore and the comparison, filling in `result`. */
async function checkAndRestore(
  deps: VerifyDeps & { dumpStore: BackupView },
  { entry, record, result }: { entry: CatalogEntry; record: BackupRecord; result: VerificationResult },
  options: { threads: number },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void; onPhase?: (phase: 'files' | 'restore' | 'checksums') => void },
): Promise<void> {
  const { dumpStore, logger } = deps;
  run.onPhase?.('files');
  let contents: InventoryFile | null = null;
  try {
    contents = await readInventoryFile(dumpStore, entry.prefix, record.inventoryFile, run.signal);
  } catch (err) {
    if (run.signal.aborted) throw err;
    result.files.failed.push({ name: inventoryFileName, ok: false, problem: errorMessage(err) });
  }
  const checked = await checkRecordedFiles({ store: dumpStore, prefix: entry.prefix, record, contents }, run.signal, logger);
  result.files = { checked: checked.checked + (contents ? 1 : 0), failed: [...result.files.failed, ...checked.failed] };
  if (!record.inventoryFile) {
    result.error = 'the record holds no inventory of the source (the backup was taken by an older bloodraven): it cannot be proven complete; take a new backup';
  } else if (result.files.failed.length === 0) {
    run.onPhase?.('restore');
    const scratch = await deps.scratch(scratchNeeds(record), run.signal);
    result.scratch = scratch.description;
    try {
      const source: RestoreSource = { store: dumpStore, prefix: entry.prefix, description: `backup ${entry.name}`, record };
      Object.assign(result, await restoreAndCompare({ ...deps, store: dumpStore }, scratch, { source, tables: record.tables, threads: options.threads }, run));
    } catch (err) {
      // A scratch server that cannot take the backup says nothing about the backup: no result is saved.
      if (run.signal.aborted || err instanceof TargetRefusedError || err instanceof ServerUnresponsiveError) throw err;
      result.error = errorMessage(err);
      logger.error('the backup could not be restored into the scratch server', { reason: result.error });
    } finally {
      await scratch.release();
    }
  }
}

/** Every file the record lists, against the record: data files by stored size and SHA-256, scripts by content. */
async function checkRecordedFiles(
  { store, prefix, record, contents }: { store: BackupView; prefix: string; record: BackupRecord; contents: InventoryFile | null },
  signal: AbortSignal,
  logger: Logger,
): Promise<VerificationResult['files']> {
  const dataFiles = new Map(record.files.map((f) => [f.name, { bytes: f.storedBytes, sha256: f.sha256 }]));
  const scripts = new Map((contents?.scripts ?? []).map((s) => [s.name, { bytes: s.bytes, sha256: s.sha256 }]));
  const failed: FileCheck[] = (await checkFiles(store, prefix, dataFiles, scripts, { signal })).map((p) => ({ name: p.name, ok: false, problem: p.problem }));
  for (const f of failed) logger.warn('a file does not match its record', { file: f.name, problem: f.problem ?? '' });
  return { checked: dataFiles.size + scripts.size, failed };
}

/** Loads the backup into the scratch server and compares every table with the record. */
async function restoreAndCompare(
  deps: VerifyDeps,
  scratch: ScratchServer,
  what: { source: RestoreSource; tables: BackupTableRecord[]; threads: number },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void; onPhase?: (phase: 'files' | 'restore' | 'checksums') => void },
): Promise<Pick<VerificationResult, 'restore' | 'tables' | 'mismatches'>> {
  // A scratch server that stops answering stops the verification (SERVER_UNRESPONSIVE).
  const watch = await watchServer(scratch.connector, { signal: run.signal });
  try {
    return await compareWatched(deps, { ...scratch, connector: watch.connector }, what, { ...run, signal: watch.signal });
  } finally {
    await watch.stop();
  }
}

async function compareWatched(
  deps: VerifyDeps,
  scratch: ScratchServer,
  { source, tables: expectedTables, threads }: { source: RestoreSource; tables: BackupTableRecord[]; threads: number },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void; onPhase?: (phase: 'files' | 'restore' | 'checksums') => void },
): Promise<Pick<VerificationResult, 'restore' | 'tables' | 'mismatches'>> {
  const scratchDeps = { connector: scratch.connector, logger: deps.logger, clock: deps.clock };
  const plan = await planRestore(
    scratchDeps,
    source,
    {
      mode: 'scratch',
      verifyFiles: false,
      load: { threads, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: false, resetProgress: false },
    },
    run.signal,
  );
  // Verify compares every table itself, rows and content, and reports each one that differs; the
  // load compares the scratch server's inventory with the source's (LOAD_INCOMPLETE).
  const load = await loadDump({ ...scratchDeps, store: source.store }, { ...plan.load, tableRows: new Map() }, run);
  const durationMs = load.completedAt.getTime() - load.startedAt.getTime();
  run.onPhase?.('checksums');
  deps.logger.info('restored; comparing every table with the dump', { tables: expectedTables.length });
  const tables: TableCheck[] = [];
  throwIfAborted(run.signal);
  const session = await scratch.connector.connect();
  // A checksum reads a whole table: an interrupt drops the session rather than wait for it.
  const onAbort = (): void => session.destroy();
  run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await prepareDumpSession(session);
    const manifestTables = new Map(load.manifest.schemas.flatMap((s) => s.tables).map((t) => [`${t.schema}\u0000${t.name}`, t]));
    for (const expected of expectedTables) {
      throwIfAborted(run.signal);
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
    run.signal.removeEventListener('abort', onAbort);
    if (run.signal.aborted) session.destroy();
    else await session.close();
  }
  return {
    restore: { durationMs, bytes: load.bytes, rows: load.rows, bytesPerSecond: durationMs > 0 ? Math.round(load.bytes / (durationMs / 1000)) : 0, objects: load.verified.objectsFound },
    tables,
    mismatches: tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.table}`),
  };
}
