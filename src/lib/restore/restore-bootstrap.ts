/**
 * `restore bootstrap`: loads a backup (or any MySQL Shell dump) into the configured server,
 * which is expected to be new or at least free of the objects the dump creates.
 */
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { quoteId, type MysqlConnector } from '../mysql/connection.js';
import { watchServer } from '../mysql/server-watch.js';
import { detectFlavor } from '../mysql/flavor.js';
import { loadDump, type LoadOptions, type LoadProgressReport, type LoadResult } from '../load/loader.js';
import { hostname } from 'node:os';
import { planRestore, releasePlan, type RestorePlan } from './plan.js';
import { applyPreparedReplay, prepareReplay, replayMark, type PointInTimeRequest, type PreparedReplay } from '../pitr/point-in-time.js';
import type { ReplayMark } from '../load/load-progress.js';
import { replayFailureHint, type ReplayResult } from '../pitr/replay.js';
import type { RestoreSource } from './source.js';
import { takeReaderLease, type ReaderLease } from '../catalog/reader-lease.js';

export interface RestoreDeps {
  connector: MysqlConnector;
  logger: Logger;
  clock: Clock;
}

export interface RestoreResult {
  source: string;
  backup: string | null;
  target: string;
  schemas: string[];
  tables: LoadResult['tables'];
  rows: number;
  /** Uncompressed bytes loaded. */
  bytes: number;
  warnings: number;
  resumedSteps: number;
  startedAt: string;
  completedAt: string;
  durationMs: number;
  /** Uncompressed bytes per second. */
  bytesPerSecond: number;
  /** Accounts created (--load-users), and those the target had already. */
  users: LoadResult['users'];
  /** Objects whose DEFINER account the target lacks: they fail when used until it exists. */
  missingDefiners: LoadResult['missingDefiners'];
  /** What the plan checked before anything was touched. */
  checked: string[];
  /** What the load proved as it went and at the end. */
  verified: LoadResult['verified'];
  /** The binlog replay of a point-in-time restore. */
  pitr?: ReplayResult;
  /**
   * Where the target's data now stands: after a point-in-time replay, the target's GTID state and
   * the last replayed transaction (its commit time, archived file and end position); otherwise
   * the backup's own capture point (its GTID set, binlog coordinates and snapshot time).
   */
  pointReached: PointReached;
}

export interface PointReached {
  gtidExecuted: string | null;
  /** RFC 3339. */
  time: string | null;
  binlogFile: string | null;
  binlogPos: number | null;
}

/** The dump's capture point: its record's when it is a bloodraven backup, else its @.json's. */
function capturePoint(plan: RestorePlan, record: RestoreSource['record']): PointReached {
  const manifest = plan.load.manifest;
  return {
    gtidExecuted: record?.gtidExecuted ?? (manifest.gtidExecuted === '' ? null : manifest.gtidExecuted),
    time: record ? (record.snapshotAt ?? record.startedAt) : null,
    binlogFile: record?.binlogFile ?? manifest.binlogFile,
    binlogPos: record?.binlogPos ?? manifest.binlogPosition,
  };
}

/**
 * The target's GTID state: MySQL's gtid_executed; MariaDB's gtid_binlog_pos (the replayed
 * transactions keep their source's server id, so gtid_current_pos leaves them out), or
 * gtid_current_pos when the binary log is off.
 */
async function targetGtidState(connector: MysqlConnector): Promise<string | null> {
  const session = await connector.connect();
  try {
    const flavor = await detectFlavor(session);
    const sql = flavor.info.flavor === 'mariadb' ? 'SELECT COALESCE(NULLIF(@@GLOBAL.gtid_binlog_pos, \'\'), @@GLOBAL.gtid_current_pos) AS v' : 'SELECT @@GLOBAL.gtid_executed AS v';
    const [row] = await session.query<{ v: string | null }>(sql);
    return row?.v ? String(row.v).replace(/\s+/g, '') : null;
  } finally {
    await session.close();
  }
}

export function toRestoreResult(plan: RestorePlan, load: LoadResult, record: RestoreSource['record'] = null): RestoreResult {
  const durationMs = load.completedAt.getTime() - load.startedAt.getTime();
  return {
    source: plan.source,
    backup: plan.backup,
    target: plan.target,
    schemas: load.schemas,
    tables: load.tables,
    rows: load.rows,
    bytes: load.bytes,
    warnings: load.warnings,
    resumedSteps: load.resumedSteps,
    startedAt: load.startedAt.toISOString(),
    completedAt: load.completedAt.toISOString(),
    durationMs,
    bytesPerSecond: durationMs > 0 ? Math.round(load.bytes / (durationMs / 1000)) : 0,
    users: load.users,
    missingDefiners: load.missingDefiners,
    checked: plan.checked,
    verified: load.verified,
    pointReached: capturePoint(plan, record),
  };
}

/**
 * A load that stopped midway says what the target holds and what to do; the resume it promises
 * is the one the progress file allows (it may not have been writable).
 */
/** Failures of the backup itself: running the same restore again meets them again. */
const damagedBackup = new Set(['DUMP_FILE_MISMATCH', 'ENCRYPTED_FILE_TAMPERED', 'DUMP_FILE_DAMAGED', 'LOAD_ROWS_MISMATCH']);

function resumable(err: unknown, resume: boolean, plan: RestorePlan, resetProgress: boolean): unknown {
  if (err instanceof AppError && damagedBackup.has(err.code)) {
    // "Restore another backup" alone leads nowhere: the target holds part of this one, and a
    // restore of another into it is refused until that is gone.
    const schemas = plan.load.schemas.map((s) => quoteId(s.name)).join(', ');
    return new AppError(err.code, err.message, err.exitCode, {
      cause: err,
      hint: `${err.hint ?? 'the backup is damaged'}; the target now holds part of this backup: drop what it created (schemas ${schemas}, or their tables if the schemas were there before), then restore another backup with --reset-progress`,
    });
  }
  if (!(err instanceof AppError) || err.hint) return err;
  // The same command with --reset-progress would start over, and be refused: the target holds objects now.
  const again = resetProgress ? 'run the restore again without --reset-progress' : 'run the same restore again';
  const saved = plan.load.progress.saved();
  const schemas = plan.load.schemas.map((s) => quoteId(s.name)).join(', ');
  const startOver = `drop what it created (schemas ${schemas}, or their tables if the schemas were there before) before loading it again`;
  const why = `the progress file ${saved.file} could not be written (${saved.failure ?? 'unknown reason'})`;
  const hint = !resume
    ? `the target now holds part of the backup: ${startOver}`
    : saved.state === 'all'
      ? `the target now holds part of the backup: ${again} to resume where it stopped`
      : saved.state === 'partly'
        ? `the target now holds part of the backup, and ${why} after some steps were saved: ${again} to resume from the last saved step (what came after it is loaded again)`
        : `the target now holds part of the backup, and ${why}, so running it again cannot resume: ${startOver}, with the dump in a place where bloodraven can write (or copy it there and use --from)`;
  return new AppError(err.code, err.message, err.exitCode, { cause: err, hint });
}

/**
 * Plans the restore (refused with nothing touched when a check fails), then loads the dump and,
 * for a point-in-time restore, replays the binlogs.
 */
export async function restoreBootstrap(
  deps: RestoreDeps,
  source: RestoreSource,
  options: LoadOptions,
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void },
  pointInTime?: PointInTimeRequest,
): Promise<RestoreResult> {
  // A target that stops answering stops the restore (SERVER_UNRESPONSIVE): its sessions, the
  // claim's among them, are dropped and the replay's client is stopped.
  const watch = await watchServer(deps.connector, { signal: run.signal });
  try {
    return await restoreWatched({ ...deps, connector: watch.connector }, source, options, { ...run, signal: watch.signal }, pointInTime);
  } finally {
    await watch.stop();
  }
}

async function restoreWatched(
  deps: RestoreDeps,
  source: RestoreSource,
  options: LoadOptions,
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void },
  pointInTime?: PointInTimeRequest,
): Promise<RestoreResult> {
  const lease = await leaseSource(source, 'restore bootstrap', deps.logger, run.signal);
  let plan: RestorePlan;
  try {
    plan = await planRestore(
      deps,
      source,
      { mode: 'bootstrap', load: options, verifyFiles: false, ...(pointInTime ? { pointInTime: pointInTime.plan.target } : {}) },
      run.signal,
    );
  } catch (err) {
    await lease?.release();
    throw err;
  }
  let prepared: PreparedReplay | undefined;
  try {
    // The binlogs are read and checked against the target before the load: a replay that cannot
    // go through is refused with nothing changed.
    if (pointInTime) prepared = await prepareReplay(deps, pointInTime, { signal: run.signal, resume: plan.resumeReplay });
    recordClaimHolder(plan, deps.clock);
    deps.logger.info(plan.resumeReplay ? 'restore resumed: the load is complete, the point-in-time replay goes on' : 'restore started', { source: source.description, target: deps.connector.target });
    const load = plan.resumeReplay
      ? loadAlreadyDone(plan, deps.clock.now())
      : await loadDump({ connector: deps.connector, store: source.store, logger: deps.logger, clock: deps.clock }, plan.load, run).catch((err: unknown) => {
          throw resumable(err, options.resume, plan, options.resetProgress === true);
        });
    const result = toRestoreResult(plan, load, source.record);
    if (pointInTime && prepared) {
      const replay = prepared;
      prepared = undefined;
      const pitr = await replayWithMark(deps, plan, pointInTime, replay, { skipBinlog: options.skipBinlog, signal: run.signal });
      result.pitr = pitr;
      result.pointReached = {
        gtidExecuted: await targetGtidState(deps.connector),
        time: pitr.lastAppliedTime ?? result.pointReached.time,
        binlogFile: pitr.lastAppliedAt?.file ?? result.pointReached.binlogFile,
        binlogPos: pitr.lastAppliedAt?.position ?? result.pointReached.binlogPos,
      };
    }
    deps.logger.info('restore finished', { rows: result.rows, durationMs: result.durationMs });
    return result;
  } finally {
    await prepared?.dispose();
    // The claim is held through the replay: the binlogs change the target as much as the load does.
    await releasePlan(plan);
    await lease?.release();
  }
}

/** A reader lease on the backup being restored, when it is one of the catalog: prune leaves it alone meanwhile. */
export async function leaseSource(source: RestoreSource, purpose: string, logger: Logger, signal: AbortSignal): Promise<ReaderLease | null> {
  return source.leaseOn ? takeReaderLease(source.leaseOn.store, source.leaseOn.backup, { purpose, logger, signal }) : null;
}

/**
 * Replays into the loaded target, with the replay's start and end in the progress file: a run
 * that stops part-way is resumed by running the same restore again (from what the target
 * committed, when its GTID state shows it), never reported as loaded and done.
 */
async function replayWithMark(
  deps: RestoreDeps,
  plan: RestorePlan,
  request: PointInTimeRequest,
  prepared: PreparedReplay,
  options: { skipBinlog: boolean; signal: AbortSignal },
): Promise<ReplayResult> {
  const progress = plan.load.progress;
  const mark = plan.resumeReplay ?? (await replayMark(deps.connector, request, { skipBinlog: options.skipBinlog, now: deps.clock.now() }));
  progress.recordReplay(mark);
  await progress.flush();
  let result: ReplayResult;
  try {
    result = await applyPreparedReplay(deps, request, prepared, options);
  } catch (err) {
    throw replayResumable(err, progress.saved().state === 'all' ? mark : null);
  }
  progress.recordReplay({ ...mark, completedAt: deps.clock.now().toISOString() });
  await progress.flush();
  return result;
}

/** A replay that stopped says whether running the restore again resumes it (its mark was saved and the replay can be traced). */
function replayResumable(err: unknown, mark: ReplayMark | null): unknown {
  if (!(err instanceof AppError) || (err.hint && err.hint !== replayFailureHint)) return err;
  const hint =
    mark && mark.baseline !== null
      ? `the target holds the backup and part of the binlogs${err.hint ? ': fix what the error names (is the target server up? does it hold objects the binlogs create?), then' : ':'} run the same restore again (the same --stop-datetime) to resume the replay after the last transaction the target committed`
      : 'the target holds the backup and part of the binlogs, and which of them cannot be traced (its binary log is off or was skipped, or no progress file was kept or could be written): drop the schemas this restore created and run it again with --reset-progress';
  return new AppError(err.code, err.message, err.exitCode, { cause: err, hint });
}

/** The result of a load an earlier run finished: nothing loaded now. */
function loadAlreadyDone(plan: RestorePlan, now: Date): LoadResult {
  return {
    target: plan.server,
    schemas: plan.load.schemas.map((s) => s.name),
    tables: [],
    rows: 0,
    bytes: 0,
    warnings: 0,
    resumedSteps: plan.load.progress.doneSteps().length,
    startedAt: now,
    completedAt: now,
    manifest: plan.load.manifest,
    users: null,
    missingDefiners: null,
    verified: { filesBySha256: 0, filesLoaded: 0, tablesCounted: 0, objectsFound: 0 },
  };
}

/** Names this process in the progress file as the claim's holder (written with the load's first flush). */
function recordClaimHolder(plan: RestorePlan, clock: Clock): void {
  if (!plan.claim) return;
  plan.load.progress.recordHolder({ pid: process.pid, host: hostname(), connectionId: plan.claim.connectionId, since: clock.now().toISOString() });
}
