/**
 * The `backup now` use case: one attempt at a full backup of the configured server into a
 * profile's storage, leaving a backup record that tells the truth about how it ended.
 *
 * Order of writes: `bloodraven.json` (Running) → `@.json` → DDL and data → `bloodraven.json`
 * (Succeeded, with every file's checksum) → `@.done.json`. If anything fails, the record is
 * rewritten as Failed with the reason (where storage is reachable) and `@.done.json` is never
 * written. The one failure that leaves no record: the server cannot be reached and no group is
 * configured, so there is no trustworthy name to record it under. An attempt that never reached
 * the server does leave one otherwise: the records are the only history of attempts (`status`
 * shows the last failure, the daemon counts failures across restarts from them), and a schedule
 * failing since a password change must show there. A failed attempt's data files are removed;
 * its record stays, saying what could not be removed.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { AppError, ConfigError, PreconditionError, StorageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector } from '../mysql/connection.js';
import { watchServer, type ServerWatch } from '../mysql/server-watch.js';
import { detectFlavor, type ServerInfo } from '../mysql/flavor.js';
import type { ObjectStore } from '../storage/object-store.js';
import { heartbeatIntervalMs } from '../catalog/catalog.js';
import { readConfirmToken } from '../catalog/confirm-token.js';
import { backupName, backupPrefix, groupFromHostname, recordFileName } from '../catalog/names.js';
import { serializeRecord, type BackupRecord } from '../catalog/record.js';
import { dumpInstance, writeDoneMarker, type DumpProgress, type DumpResult } from '../dump/dump-instance.js';
import { defaultStorageStallTimeoutSeconds, type DumpOptions } from '../dump/options.js';
import { selectSchemas, type SelectionFieldName } from '../dump/select-schemas.js';
import { assertKeyIsCurrent, newDataKey, type KeyEncryptionKey } from '../crypto/keys.js';
import { defaultSegmentSize } from '../crypto/segments.js';
import { encryptedBackupStore } from '../storage/encrypted-store.js';
import { stallGuardedStore } from '../storage/stall-guard.js';

export interface BackupDeps {
  connector: MysqlConnector;
  store: ObjectStore;
  logger: Logger;
  clock: Clock;
}

export interface BackupRequest {
  /** The group (config `name`); default: the server's host name. */
  group?: string | undefined;
  profile: string;
  dump: DumpOptions;
  toolVersion: string;
  trigger?: BackupRecord['trigger'];
  /** The profile's key: the backup is encrypted under a data key of its own, wrapped with it. */
  encryption?: KeyEncryptionKey | null | undefined;
  /** How the user wrote includeSchemas/excludeSchemas (a flag or a config path), for errors. */
  fieldName?: SelectionFieldName | undefined;
}

export interface BackupRunOptions {
  signal: AbortSignal;
  onProgress?: (progress: DumpProgress) => void;
  /** Called once the backup's name and location are fixed, before the dump starts. */
  onStart?: (record: BackupRecord) => void;
}

export class BackupFailedError extends AppError {
  readonly record: BackupRecord | undefined;

  constructor(cause: unknown, record: BackupRecord | undefined) {
    const base = cause instanceof AppError ? cause : undefined;
    super(base?.code ?? 'BACKUP_FAILED', errorMessage(cause), base?.exitCode ?? 1, {
      cause,
      ...(base?.hint ? { hint: base.hint } : {}),
    });
    this.record = record;
  }
}

/** How long an interrupted run tries to record that it failed before it gives up and exits. */
const recordAfterInterruptMs = 10_000;

/** How long a failed backup may take to remove its data files before it gives up on the rest. */
const failedDataRemovalMs = 30_000;

/** How long the look at what a failed attempt left may take (after the removal, whatever its end). */
const leftoverListingMs = 5_000;


export async function runBackup(deps: BackupDeps, request: BackupRequest, run: BackupRunOptions): Promise<BackupRecord> {
  // A source that stops answering stops the run (SERVER_UNRESPONSIVE), from the first probe to
  // the last statement: its sessions are dropped, so a resumed server releases the backup lock.
  // A watch that cannot connect is the probe's failure: the attempt is recorded as for any other.
  let watch: ServerWatch | undefined;
  let unreachable: Error | undefined;
  try {
    watch = await watchServer(deps.connector, { signal: run.signal });
  } catch (err) {
    if (run.signal.aborted) throw err;
    unreachable = err instanceof Error ? err : new Error(String(err));
  }
  try {
    return await backupWatched(watch ? { ...deps, connector: watch.connector } : deps, request, watch ? { ...run, signal: watch.signal } : run, unreachable);
  } finally {
    await watch?.stop();
  }
}

async function backupWatched(deps: BackupDeps, request: BackupRequest, run: BackupRunOptions, unreachable: Error | undefined): Promise<BackupRecord> {
  const { connector, logger, clock } = deps;
  // Every write of the backup is bounded: a store that stops taking bytes fails the run.
  const store = stallGuardedStore(deps.store, {
    stallTimeoutMs: (request.dump.storageStallTimeoutSeconds ?? defaultStorageStallTimeoutSeconds) * 1000,
    configField: 'dump.storageStallTimeout of the profile',
  });
  const startedAt = clock.now();
  await store.check({ signal: run.signal });

  let server: ServerInfo | undefined;
  let probeError: unknown;
  try {
    if (unreachable !== undefined) throw unreachable;
    const session = await connector.connect();
    try {
      const flavor = await detectFlavor(session);
      server = flavor.info;
      // A selection of nothing (a typo in includeSchemas) is refused before anything is written.
      await selectSchemas(session, flavor.systemSchemas, request.dump, { target: connector.target, logger, ...(request.fieldName ? { fieldName: request.fieldName } : {}) });
    } finally {
      await session.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    probeError = err;
  }
  if (probeError !== undefined && request.group === undefined) {
    // Without a configured group the name would be guessed from the address, perhaps a mistyped
    // one: a Failed record there would start a group of backups that does not exist.
    throw new BackupFailedError(probeError, undefined);
  }

  // A server an interrupted in-place restore left half loaded must not become a backup (and `latest`).
  await refusePartlyRestored(store, connector.target);

  const group = request.group ?? groupFromHostname(server?.hostname ?? connector.target.replace(/:\d+$/, '').replace(/^socket /, 'localhost'));
  const name = backupName(group, request.profile, startedAt);
  const prefix = backupPrefix(name);
  const record = newRecord({ name, group, request, store, target: connector.target, server, startedAt });
  const existing = await store.list(prefix, { signal: run.signal });
  if (existing.some((o) => o.key === prefix + recordFileName)) throw await nameTaken(store, prefix, record);
  if (existing.length > 0) {
    // Never mix two dumps in one folder, and never touch the one already there.
    throw new PreconditionError('TARGET_NOT_EMPTY', `${record.location} already holds ${existing.length} file(s) of another backup`, {
      hint: 'backups are named by the second they start; wait a second and run again, or remove that folder if it is a leftover',
    });
  }

  // Writes are queued so a heartbeat never lands after (and undoes) the final record.
  let writes: Promise<void> = Promise.resolve();
  const writeRecord = (bound?: AbortSignal): Promise<void> => {
    // The final record must be written even when the run was interrupted, so not under run.signal.
    const next = writes.then(() => store.put(prefix + recordFileName, serializeRecord(record), bound ? { signal: bound } : {}));
    writes = next.catch(() => undefined);
    if (!bound) return next;
    // After an interrupt the wait is short, whatever is queued before it (a stalled heartbeat).
    const gaveUp = new Promise<never>((_, reject) =>
      bound.addEventListener('abort', () => reject(new StorageError('RECORD_NOT_WRITTEN', 'the record could not be written in time after the interrupt')), { once: true }),
    );
    gaveUp.catch(() => undefined);
    return Promise.race([next, gaveUp]);
  };
  let heartbeat: NodeJS.Timeout | undefined;
  const stopHeartbeat = (): void => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  const markFailed = async (err: unknown): Promise<never> => {
    stopHeartbeat();
    record.phase = 'Failed';
    record.completedAt = clock.now().toISOString();
    record.failure = { code: err instanceof AppError ? err.code : 'INTERNAL', message: errorMessage(err) };
    // After an interrupt the whole way out (record, data removed, record again) gets one short budget.
    const budget = run.signal.aborted ? AbortSignal.timeout(recordAfterInterruptMs) : undefined;
    const recordFailure = async (): Promise<boolean> => {
      try {
        await writeRecord(budget);
        return true;
      } catch (writeErr) {
        logger.error('could not record the failure in storage', { reason: errorMessage(writeErr) });
        return false;
      }
    };
    // The failure is recorded first: it is what matters most, should the cleanup be cut short.
    // (On a full disk this first write may fail; the second, after the removal, then has room.)
    const recorded = await recordFailure();
    // A storage that stopped answering would only make the removal wait its whole budget, and
    // the record after it time out again: the run ends after one record write, and the files
    // stay for the next prune (maxFailedKeep) or a person.
    // So does a storage that could not be reached for a whole retry budget (storage.s3.retryTimeout)
    // and still cannot take the record: the catalog counts the Running record of a run that is
    // gone as Failed (its heartbeat stops, its process is gone).
    if (err instanceof AppError && (err.code === 'STORAGE_STALLED' || (!recorded && err instanceof StorageError && err.retryable))) {
      logger.error('the failed backup\'s data is left in storage, which stopped answering', { location: record.location });
      throw new BackupFailedError(err, record);
    }
    // The source's sessions are gone by now (the dump drops them first); what the attempt stored
    // goes next, so that a failure caused by a full volume does not keep it full.
    record.leftover = await removeFailedData(store, prefix, budget ?? AbortSignal.timeout(failedDataRemovalMs));
    record.sizeBytes = record.leftover.bytes;
    if (record.leftover.error) logger.error('could not remove the failed backup\'s data; it is named in the record', { location: record.location, reason: record.leftover.error });
    if (!(await recordFailure()) && recorded) logger.warn('the record says Failed, without what the cleanup left', { location: record.location });
    throw new BackupFailedError(err, record);
  };

  // Everything but the record goes through the backup's data key, when the profile encrypts.
  let dumpStore = store;
  if (request.encryption) {
    const { key, wrapped } = newDataKey(request.encryption, defaultSegmentSize);
    record.encryption = wrapped;
    dumpStore = encryptedBackupStore(store, prefix, key, wrapped.segmentSize);
  }

  // The record is the claim on the name: of two runs started in the same second, one creates it
  // and the other is refused before it writes anything.
  await claimName(store, prefix, record, run.signal);
  if (probeError !== undefined) return markFailed(probeError);
  run.onStart?.(record);
  logger.info('backup started', { name, location: record.location, server: connector.target });
  // So that a catalog read elsewhere can tell this run is alive (catalog.ts).
  heartbeat = setInterval(() => {
    record.heartbeatAt = clock.now().toISOString();
    writeRecord().catch((err: unknown) => logger.warn('could not update the backup heartbeat', { reason: errorMessage(err) }));
  }, heartbeatIntervalMs);
  heartbeat.unref();

  let result: DumpResult;
  try {
    result = await dumpInstance({ connector, store: dumpStore, logger, clock }, prefix, request.dump, {
      signal: run.signal,
      dumper: `bloodraven ${request.toolVersion}`,
      ...(request.fieldName ? { fieldName: request.fieldName } : {}),
      ...(run.onProgress ? { onProgress: run.onProgress } : {}),
    });
  } catch (err) {
    return markFailed(err);
  }

  stopHeartbeat();
  try {
    if (request.encryption) await assertKeyIsCurrent(store, request.encryption);
    await assertStillStored(store, prefix, record, result, run.signal);
  } catch (err) {
    return markFailed(err);
  }
  Object.assign(record, succeededFields(result));
  try {
    await writeRecord();
    // Last: the marker that makes this a complete dump.
    await writeDoneMarker(dumpStore, prefix, result, run.signal);
  } catch (err) {
    return markFailed(err);
  }
  logger.info('backup succeeded', { name, sizeBytes: record.sizeBytes, rows: record.tables.reduce((n, t) => n + t.rows, 0) });
  return record;
}

/**
 * Removes every file a failed attempt stored except its record, which stays as the history of the
 * attempt. Best effort within `bound`: what cannot be removed (a storage that is failing, which is
 * often why the backup failed) is counted, and the reason returned, never thrown over the
 * backup's own failure.
 */
async function removeFailedData(store: ObjectStore, prefix: string, bound: AbortSignal): Promise<NonNullable<BackupRecord['leftover']>> {
  const isData = (key: string): boolean => key !== prefix + recordFileName;
  let error: string | null = null;
  try {
    const keys = (await store.list(prefix, { signal: bound })).map((o) => o.key).filter(isData);
    if (keys.length > 0) await store.deleteMany(keys, { signal: bound });
  } catch (err) {
    error = bound.aborted ? 'not finished in the time a failed run is given to clean up' : errorMessage(err);
  }
  // What is left is read back rather than assumed: a delete may have half worked.
  try {
    const left = (await store.list(prefix, { signal: AbortSignal.timeout(leftoverListingMs) })).filter((o) => isData(o.key));
    return { files: left.length, bytes: left.reduce((n, o) => n + o.size, 0), error };
  } catch (err) {
    return { files: null, bytes: 0, error: error ?? `cannot tell what is left: ${errorMessage(err)}` };
  }
}

/**
 * Checks, before the backup is declared Succeeded, that its folder still holds what the dump
 * wrote and that its record is still this run's: a prune that took the run for dead (a clock
 * far off, a heartbeat that could not be written for minutes) may have deleted it meanwhile, and
 * a backup must never claim files that are gone.
 */
async function assertStillStored(store: ObjectStore, prefix: string, record: BackupRecord, result: DumpResult, signal: AbortSignal): Promise<void> {
  const stored = new Set((await store.list(prefix, { signal })).map((o) => o.key.slice(prefix.length)));
  const expected = ['@.json', recordFileName, ...result.tables.flatMap((t) => t.files.map((f) => f.name))];
  const missing = expected.filter((name) => !stored.has(name));
  let phase: string = record.phase;
  if (missing.length === 0) {
    const now = JSON.parse((await store.get(prefix + recordFileName, { signal })).toString('utf8')) as Partial<BackupRecord>;
    phase = now.phase ?? 'unknown';
  }
  if (missing.length === 0 && phase === 'Running') return;
  const what = missing.length > 0 ? `${missing.length} of its files are gone (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})` : `its record now says ${phase}`;
  throw new StorageError('BACKUP_REMOVED_WHILE_RUNNING', `${record.location} was changed by someone else while the backup ran: ${what}; it is not a backup`, {
    hint: 'a prune that took this run for dead (check that the hosts running backups and prune agree on the time), or a person or job removing files from the storage folder; run the backup again',
  });
}

/** Creates the backup's first record, unless another run has: then refuses (exit 3) naming it. */
async function claimName(store: ObjectStore, prefix: string, record: BackupRecord, signal: AbortSignal): Promise<void> {
  let claimed: boolean;
  try {
    claimed = await store.putIfAbsent(prefix + recordFileName, serializeRecord(record), { signal });
  } catch (err) {
    throw new BackupFailedError(err, undefined);
  }
  if (!claimed) throw await nameTaken(store, prefix, record);
}

/** The refusal when another run holds the name: names that run as its record describes it. */
async function nameTaken(store: ObjectStore, prefix: string, mine: BackupRecord): Promise<PreconditionError> {
  let holder = 'another run';
  // The winner's record may still be on its way (S3 refuses a second conditional write while the
  // first is in flight): it is looked for a few times before the refusal names no one.
  for (let attempt = 0; attempt < 5 && holder === 'another run'; attempt++) {
    if (attempt > 0) await sleep(200);
    try {
      const other = JSON.parse((await store.get(prefix + recordFileName)).toString('utf8')) as Partial<BackupRecord>;
      if (other.runner) holder = `another run (pid ${other.runner.pid} on ${other.runner.hostname}, started ${other.startedAt ?? 'at an unknown time'}, ${other.phase ?? 'in an unknown state'})`;
    } catch {
      // Not there yet, or unreadable: the name is still not ours.
    }
  }
  return new PreconditionError('BACKUP_NAME_TAKEN', `${holder} has already claimed the backup name ${mine.name} at ${mine.location}; nothing was written`, {
    hint: 'backups are named by the second they start: two runs of one profile in the same second cannot both be taken; run again in a second',
  });
}

function newRecord(o: {
  name: string;
  group: string;
  request: BackupRequest;
  store: ObjectStore;
  target: string;
  server: ServerInfo | undefined;
  startedAt: Date;
}): BackupRecord {
  const { server } = o;
  return {
    recordVersion: 1,
    name: o.name,
    group: o.group,
    profile: o.request.profile,
    phase: 'Running',
    location: `${o.store.location.replace(/\/$/, '')}/${o.name}`,
    storageType: o.store.type,
    source: {
      target: o.target,
      hostname: server?.hostname ?? null,
      serverUuid: server?.serverUuid ?? null,
      serverId: server?.serverId ?? null,
      flavor: server?.flavor ?? null,
      version: server?.version ?? null,
    },
    consistent: null,
    gtidExecuted: null,
    binlogFile: null,
    binlogPos: null,
    startedAt: o.startedAt.toISOString(),
    completedAt: null,
    dataBytes: 0,
    sizeBytes: 0,
    compression: o.request.dump.compression,
    threads: o.request.dump.threads,
    bytesPerChunk: o.request.dump.bytesPerChunk,
    tables: [],
    files: [],
    tool: { name: 'bloodraven', version: o.request.toolVersion },
    runner: { hostname: hostname(), pid: process.pid },
    heartbeatAt: o.startedAt.toISOString(),
    trigger: o.request.trigger ?? { kind: 'manual' },
  };
}

/** What a finished dump adds to its record. */
function succeededFields(result: DumpResult): Partial<BackupRecord> {
  return {
    phase: 'Succeeded',
    consistent: result.consistent,
    gtidExecuted: result.gtidExecuted,
    binlogFile: result.binlog?.file ?? null,
    binlogPos: result.binlog?.position ?? null,
    completedAt: result.completedAt.toISOString(),
    snapshotAt: result.snapshotAt.toISOString(),
    dataBytes: result.dataBytes,
    sizeBytes: result.storedBytes,
    tables: result.tables.map((t) => ({
      schema: t.schema,
      table: t.table,
      rows: t.rows,
      checksum: t.checksum,
      rawBytes: t.rawBytes,
      storedBytes: t.storedBytes,
      largestValue: t.largestValue,
      largestRowBytes: t.largestRowBytes,
    })),
    files: result.tables.flatMap((t) =>
      t.files.map((f) => ({ name: f.name, rows: f.rows, checksum: f.checksum, rawBytes: f.rawBytes, storedBytes: f.storedBytes, sha256: f.sha256 })),
    ),
    inventoryFile: result.inventoryFile,
  };
}

/** Refuses (SERVER_PARTLY_RESTORED) a server an in-place restore left part-way: fenced, or stopped after it began. */
async function refusePartlyRestored(store: ObjectStore, target: string): Promise<void> {
  const token = await readConfirmToken(store);
  const fence = token?.fence;
  if (fence && fence.target === target) {
    throw new PreconditionError('SERVER_PARTLY_RESTORED', `${target} holds a partly finished in-place restore (its fence was raised ${fence.raisedAt} and never lowered): a backup of it now would not be a backup of your data`, {
      hint: 'finish the restore first: run the same restore in-place again (with a newer --confirm); it takes the fence over and lowers it',
    });
  }
  const unfinished = token?.unfinished;
  if (unfinished && unfinished.target === target) {
    throw new PreconditionError('SERVER_PARTLY_RESTORED', `${target} holds a partly finished in-place restore (begun ${unfinished.since}, stopped: ${unfinished.reason}): a backup of it now would not be a backup of your data`, {
      hint: 'finish the restore first: run the restore in-place again (with a newer --confirm), or restore another backup',
    });
  }
}
