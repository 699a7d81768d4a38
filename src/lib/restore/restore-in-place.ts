/**
 * `restore in-place`: rolls a live server back to a backup. Two modes, as in the reference:
 *
 * - whole instance: every user schema is dropped and the dump loaded; writes from other clients
 *   are fenced off (global read_only) for the duration and the previous setting is put back
 *   whatever happens; the load skips the binary log.
 * - one schema (`includeSchema`): only that schema is dropped and reloaded, other schemas keep
 *   taking writes, and the binary log carries the change to replicas.
 *
 * Check before touch: the plan (planRestoreInPlace) reads every file of the backup against its
 * record and checks the target (settings, privileges, room for the largest value) before
 * anything is dropped; the confirm token is judged next. A refusal (exit 3) leaves the server and
 * the token as they were. Only then is the token recorded and the first schema dropped.
 */
import type { Clock } from '../clock.js';
import { confirmTokenFile, judgeConfirm, readConfirmToken, recordConfirmToken, type ConfirmTokenState } from '../catalog/confirm-token.js';
import { AppError, ExitCode, MysqlError, PreconditionError, errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import { quoteId, type MysqlConnector, type MysqlSession } from '../mysql/connection.js';
import { watchServer, type ServerWatch } from '../mysql/server-watch.js';
import type { ObjectStore } from '../storage/object-store.js';
import { afterChange, loadDump, type LoadProgressReport } from '../load/loader.js';
import { leaseSource, toRestoreResult, type RestoreResult } from './restore-bootstrap.js';
import { applyPreparedReplay, prepareReplay, type PointInTimeRequest, type PreparedReplay } from '../pitr/point-in-time.js';
import { planRestore, releasePlan, type RestorePlan } from './plan.js';
import type { RestoreSource } from './source.js';
import { recordInPlaceOutcome, recordInPlaceRestore, type RestoredServer } from '../catalog/in-place-history.js';

export interface InPlaceDeps {
  connector: MysqlConnector;
  /** The profile's storage, where the catalog keeps the last confirm token. */
  catalog: ObjectStore;
  /** More storages that keep the history of in-place restores: the PITR archive's, when it is another profile's. */
  historyIn?: readonly ObjectStore[];
  logger: Logger;
  clock: Clock;
}

export interface InPlaceRequest {
  /** Only this schema; otherwise the whole instance. */
  includeSchema?: string | undefined;
  threads: number;
  /** Create the backup's accounts the server lacks (--load-users). */
  loadUsers?: boolean;
}

export interface InPlaceResult extends RestoreResult {
  mode: 'instance' | 'schema';
  dropped: string[];
  confirm: string;
  /** How long other clients' writes were fenced off (0 in schema mode). */
  fencedMs: number;
}

/**
 * What an in-place restore would do, every precondition checked (every file of the backup read
 * against its record, the target and the account). Changes nothing; refusals are PreconditionError.
 */
export async function planRestoreInPlace(deps: Pick<InPlaceDeps, 'connector' | 'catalog' | 'logger' | 'clock'>, source: RestoreSource, request: InPlaceRequest, signal?: AbortSignal): Promise<RestorePlan> {
  const mode = request.includeSchema === undefined ? 'instance' : 'schema';
  // A fence left up by an in-place restore of this server that was killed is ours to take over.
  const fence = (await readConfirmToken(deps.catalog))?.fence;
  const ownFence = fence && fence.target === deps.connector.target ? { previous: fence.previous, raisedAt: fence.raisedAt } : undefined;
  // A target that stops answering while it is checked stops the plan (SERVER_UNRESPONSIVE).
  const watch = await watchServer(deps.connector, { signal: signal ?? new AbortController().signal });
  try {
    return await planWatched({ ...deps, connector: watch.connector }, source, request, { mode, ownFence }, watch.signal);
  } finally {
    await watch.stop();
  }
}

function planWatched(
  deps: Pick<InPlaceDeps, 'connector' | 'catalog' | 'logger' | 'clock'>,
  source: RestoreSource,
  request: InPlaceRequest,
  { mode, ownFence }: { mode: 'instance' | 'schema'; ownFence: { previous: number; raisedAt: string } | undefined },
  signal: AbortSignal,
): Promise<RestorePlan> {
  return planRestore(
    deps,
    source,
    {
      mode,
      verifyFiles: true,
      ...(ownFence ? { ownFence } : {}),
      includeFlag: '--include-schema',
      load: {
        threads: request.threads,
        includeSchemas: request.includeSchema === undefined ? [] : [request.includeSchema],
        excludeSchemas: [],
        ignoreExistingObjects: false,
        // The drops are not replicated either: a whole-instance restore is followed by re-cloning replicas.
        skipBinlog: mode === 'instance',
        deferIndexes: 'all',
        resume: false,
        resetProgress: true,
        loadUsers: request.loadUsers === true,
      },
    },
    signal,
  );
}

/**
 * Judges the confirm token against the last one used (catalog/confirm-token.ts judgeConfirm);
 * refuses (exit 3) one that is not newer. Reads only.
 */
export async function checkConfirm(deps: Pick<InPlaceDeps, 'catalog' | 'clock' | 'logger'>, confirm: Date): Promise<void> {
  const judgement = judgeConfirm(await readConfirmToken(deps.catalog), confirm, deps.clock.now());
  if (!judgement.ok) {
    throw new PreconditionError('CONFIRM_STALE', judgement.reason, { hint: 'pass --confirm now, or a newer time, to authorize this restore' });
  }
  if (judgement.ignored) deps.logger.warn('the last confirm token was ignored', { token: judgement.ignored.token, reason: judgement.ignored.reason });
}

/**
 * Applies a plan made by planRestoreInPlace: records the token, fences, drops, loads, replays,
 * lifts the fence. Releases the plan's claim on the target when it ends, whatever the outcome.
 */
export async function restoreInPlace(
  deps: InPlaceDeps,
  source: RestoreSource,
  plan: RestorePlan,
  request: {
    confirm: Date;
    pointInTime?: PointInTimeRequest;
    /**
     * A whole-instance restore that fails or is stopped after it began dropping leaves the fence
     * up (read_only = 1; the catalog keeps it, and the next restore takes it over) instead of
     * putting back the previous setting: the server then holds part of the backup, and writes
     * into it would be lost when the restore is run again. Kubernetes mode sets it.
     */
    keepFenceOnFailure?: boolean;
  },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void },
): Promise<InPlaceResult> {
  let watch: ServerWatch | undefined;
  let prepared: PreparedReplay | undefined;
  try {
    // A target that stops answering stops the restore (SERVER_UNRESPONSIVE): its sessions are
    // dropped, the replay's client stopped, and the outcome recorded as for an interrupt.
    watch = await watchServer(deps.connector, { signal: run.signal });
    const watched = { ...deps, connector: watch.connector };
    const watchedRun = { ...run, signal: watch.signal };
    const lease = await leaseSource(source, 'restore in-place', deps.logger, watch.signal);
    try {
      await checkConfirm(watched, request.confirm);
      throwIfAborted(watchedRun.signal);
      // The binlogs are read and checked against the server before anything is dropped.
      if (request.pointInTime) prepared = await prepareReplay({ connector: watched.connector, logger: deps.logger }, request.pointInTime, { signal: watchedRun.signal });
      return await applyInPlace(watched, source, plan, { ...request, prepared }, watchedRun);
    } finally {
      await lease?.release();
    }
  } finally {
    // Whether or not the replay ran (it removes them itself), the downloaded binlogs go.
    await prepared?.dispose();
    await watch?.stop();
    await releasePlan(plan);
  }
}

async function applyInPlace(
  deps: InPlaceDeps,
  source: RestoreSource,
  plan: RestorePlan,
  request: { confirm: Date; pointInTime?: PointInTimeRequest; prepared: PreparedReplay | undefined; keepFenceOnFailure?: boolean },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void },
): Promise<InPlaceResult> {
  const { connector, logger, clock } = deps;
  if (plan.mode !== 'instance' && plan.mode !== 'schema') throw new AppError('INTERNAL', `restoreInPlace needs an in-place plan, not ${plan.mode}`);
  const { prepared } = request;
  const session = await connector.connect();
  let fence: { previous: number; since: number } | undefined;
  const startedAt = clock.now().toISOString();
  const state: ConfirmTokenState = { confirmTokenUsed: request.confirm.toISOString(), backup: plan.source, usedAt: startedAt, fence: null };
  const historyStores = [deps.catalog, ...(deps.historyIn ?? [])];
  let begun = false;
  let inHistory = false;
  let server: RestoredServer | undefined;
  let failure: unknown;
  /** Whether read_only is still raised by this restore (its lowering failed): the token keeps the fence then. */
  let fenceUp = true;
  try {
    if (plan.mode === 'instance') await session.exec('SET SESSION sql_log_bin = 0');
    if (plan.fence) {
      const [ro] = await session.query<{ ro: string | number }>('SELECT @@GLOBAL.read_only AS ro');
      // A fence this restore takes over (an earlier one was killed) is put back to what was there before it.
      fence = { previous: plan.ownFence ? plan.ownFence.previous : Number(ro?.ro ?? 0), since: clock.now().getTime() };
      state.fence = { target: connector.target, previous: fence.previous, raisedAt: startedAt };
    }
    // The token, the history and the fence go to the catalog before anything changes on the server.
    await recordConfirmToken(deps.catalog, state);
    server = await restoredServer(session, plan);
    await recordInPlaceRestore(historyStores, { startedAt, backup: plan.source, mode: plan.mode, target: connector.target, server });
    inHistory = true;
    logger.info('in-place restore authorized', { confirm: request.confirm.toISOString(), mode: plan.mode, drop: plan.drop.join(', ') || '(none)', catalog: confirmTokenFile });
    if (fence) {
      await session.exec('SET GLOBAL read_only = 1');
      logger.info('writes from other clients are fenced off (read_only = 1)');
    }
    begun = true;
    for (const schema of plan.drop) {
      throwIfAborted(run.signal);
      try {
        await session.exec(`DROP DATABASE ${quoteId(schema)}`);
      } catch (err) {
        throw fenceError(err, `dropping schema ${schema} failed`);
      }
    }
    let load;
    try {
      load = await loadDump({ connector, store: source.store, logger, clock }, plan.load, run);
    } catch (err) {
      throw fenceError(err, 'loading the backup failed');
    }
    // Point-in-time replay runs against the same server, still fenced.
    const pitr = request.pointInTime && prepared ? await applyPreparedReplay({ connector }, request.pointInTime, prepared, { skipBinlog: plan.load.options.skipBinlog, signal: run.signal }) : undefined;
    const fencedMs = fence ? clock.now().getTime() - fence.since : 0;
    return {
      ...toRestoreResult(plan, load),
      ...(pitr ? { pitr } : {}),
      mode: plan.mode,
      dropped: plan.drop,
      confirm: request.confirm.toISOString(),
      fencedMs,
    };
  } catch (err) {
    failure = err;
    throw unfinished(afterChange(err), begun ? plan.drop : null, Boolean(fence && request.keepFenceOnFailure));
  } finally {
    if (fence && failure !== undefined && begun && request.keepFenceOnFailure) {
      logger.warn('the server holds part of the backup and stays fenced (read_only = 1): run the restore again with a newer confirm to finish it', { previousReadOnly: fence.previous });
    } else if (fence) {
      try {
        await session.exec(`SET GLOBAL read_only = ${fence.previous}`);
        fenceUp = false;
        logger.info('fence lifted: read_only restored', { read_only: fence.previous });
      } catch (err) {
        logger.error('could not lift the fence: run SET GLOBAL read_only = 0 on the server by hand', { reason: errorMessage(err) });
      }
    }
    if (inHistory || fence) await recordEnd(deps, fenceUp ? state : { ...state, fence: null }, { plan, startedAt, begun, inHistory, failure, signal: run.signal, server });
    await session.close();
  }
}

/**
 * Records how a restore that changed the server ended: in the confirm token (fence down; and, when
 * it stopped part-way, that the server holds part of the backup, so backups of it are refused
 * until a restore finishes) and in the history of in-place restores.
 */
async function recordEnd(
  deps: InPlaceDeps,
  state: ConfirmTokenState,
  end: { plan: RestorePlan; startedAt: string; begun: boolean; inHistory: boolean; failure: unknown; signal: AbortSignal; server: RestoredServer | undefined },
): Promise<void> {
  const { connector, clock, logger } = deps;
  const failed = end.failure !== undefined;
  // Before its first change, a restore that stops leaves the server as it was.
  const interrupted = failed && end.signal.aborted;
  const unfinished = failed && end.begun ? { target: connector.target, since: end.startedAt, reason: interrupted ? `interrupted (${errorMessage(end.signal.reason)})` : errorMessage(end.failure) } : null;
  const outcome = !failed ? 'Succeeded' : interrupted ? 'Interrupted' : 'Failed';
  const mode = end.plan.mode === 'instance' ? 'instance' : 'schema';
  try {
    await recordConfirmToken(deps.catalog, { ...state, unfinished });
    if (end.inHistory) await recordInPlaceOutcome([deps.catalog, ...(deps.historyIn ?? [])], {
        startedAt: end.startedAt,
        backup: end.plan.source,
        mode,
        target: connector.target,
        ...(end.server ? { server: end.server } : {}),
        outcome,
        completedAt: clock.now().toISOString(),
      });
  } catch (err) {
    logger.error(`could not record how the restore ended in ${confirmTokenFile}`, { reason: errorMessage(err) });
  }
}

/** The restored server as it names itself, so that only its point-in-time coverage is cut (pitr/window.ts). */
async function restoredServer(session: MysqlSession, plan: RestorePlan): Promise<RestoredServer> {
  const [row] = await session.query<{ port: string | number | null }>('SELECT @@port AS port');
  return { uuid: plan.server.serverUuid, serverId: plan.server.serverId, hostname: plan.server.hostname, port: row?.port === null || row?.port === undefined ? null : Number(row.port) };
}

/** A restore that stopped after its first drop says what state the server is in, and what to do. */
function unfinished(err: unknown, dropped: readonly string[] | null, fenceKept: boolean): unknown {
  if (dropped === null || !(err instanceof AppError) || err.hint) return err;
  const fence = fenceKept ? '; writes stay fenced off (read_only = 1) until then' : '';
  return new AppError(err.code, err.message, err.exitCode, {
    cause: err,
    hint: `the server now holds part of the backup (${dropped.join(', ') || 'nothing was dropped'} dropped first): run the same restore in place again (with a newer --confirm) to finish it, or restore another backup${fence}`,
  });
}

/** A write refused while fenced means the account may not write under read_only. */
function fenceError(err: unknown, what: string): unknown {
  const message = errorMessage(err);
  if (/read[-_]only/i.test(message) && (err instanceof MysqlError || err instanceof AppError)) {
    return new AppError('FENCE_BLOCKS_RESTORE', `${what}: the restoring account cannot write while other writes are fenced off (${message})`, ExitCode.failure, {
      cause: err,
      hint: 'grant READ_ONLY ADMIN (MariaDB) or SUPER / CONNECTION_ADMIN (MySQL) to the restoring user',
    });
  }
  return err;
}
