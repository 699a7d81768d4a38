/**
 * `restore bootstrap`: loads a backup (or any MySQL Shell dump) into the configured server,
 * which is expected to be new or at least free of the objects the dump creates.
 */
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { quoteId, type MysqlConnector } from '../mysql/connection.js';
import { loadDump, type LoadOptions, type LoadProgressReport, type LoadResult } from '../load/loader.js';
import { hostname } from 'node:os';
import { planRestore, releasePlan, type RestorePlan } from './plan.js';
import { replayToPoint, type PointInTimeRequest } from '../pitr/point-in-time.js';
import type { ReplayResult } from '../pitr/replay.js';
import type { RestoreSource } from './source.js';

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
}

export function toRestoreResult(plan: RestorePlan, load: LoadResult): RestoreResult {
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
  };
}

/**
 * A load that stopped midway says what the target holds and what to do; the resume it promises
 * is the one the progress file allows (it may not have been writable).
 */
function resumable(err: unknown, resume: boolean, plan: RestorePlan): unknown {
  if (!(err instanceof AppError) || err.hint) return err;
  const saved = plan.load.progress.saved();
  const schemas = plan.load.schemas.map((s) => quoteId(s.name)).join(', ');
  const startOver = `drop what it created (schemas ${schemas}, or their tables if the schemas were there before) before loading it again`;
  const why = `the progress file ${saved.file} could not be written (${saved.failure ?? 'unknown reason'})`;
  const hint = !resume
    ? `the target now holds part of the backup: ${startOver}`
    : saved.state === 'all'
      ? 'the target now holds part of the backup: run the same restore again to resume where it stopped'
      : saved.state === 'partly'
        ? `the target now holds part of the backup, and ${why} after some steps were saved: run the same restore again to resume from the last saved step (what came after it is loaded again)`
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
  const plan = await planRestore(deps, source, { mode: 'bootstrap', load: options, verifyFiles: false }, run.signal);
  try {
    recordClaimHolder(plan, deps.clock);
    deps.logger.info('restore started', { source: source.description, target: deps.connector.target });
    const load = await loadDump({ connector: deps.connector, store: source.store, logger: deps.logger, clock: deps.clock }, plan.load, run).catch((err: unknown) => {
      throw resumable(err, options.resume, plan);
    });
    const result = toRestoreResult(plan, load);
    if (pointInTime) result.pitr = await replayToPoint(deps, pointInTime, { skipBinlog: options.skipBinlog, signal: run.signal });
    deps.logger.info('restore finished', { rows: result.rows, durationMs: result.durationMs });
    return result;
  } finally {
    // The claim is held through the replay: the binlogs change the target as much as the load does.
    await releasePlan(plan);
  }
}

/** Names this process in the progress file as the claim's holder (written with the load's first flush). */
function recordClaimHolder(plan: RestorePlan, clock: Clock): void {
  if (!plan.claim) return;
  plan.load.progress.recordHolder({ pid: process.pid, host: hostname(), connectionId: plan.claim.connectionId, since: clock.now().toISOString() });
}
