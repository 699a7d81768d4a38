/**
 * Point-in-time restore, after the dump is loaded: the plan (read from storage alone, refused
 * before anything is touched when the target is not proven restorable), then the replay of the
 * archived binlogs it names, announced by the log lines BLOODRAVEN_PITR_START, and _COMPLETE,
 * _NOOP or _FAILED. _NOOP only follows a plan whose coverage holds the target and a replay that
 * found every required transaction in the dump already.
 */
import { rm } from 'node:fs/promises';
import { listBackups } from '../catalog/catalog.js';
import { AppError, InternalError, PreconditionError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector, MysqlSession } from '../mysql/connection.js';
import { detectFlavor, type Flavor } from '../mysql/flavor.js';
import type { ReplayMark } from '../load/load-progress.js';
import type { ProcessRunner } from '../process.js';
import type { KeyEncryptionKey } from '../crypto/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { downloadBinlogs } from './download.js';
import { localBinlogs } from './local-binlogs.js';
import { addToSet, parseGtid, unionSets, type GtidSet, type ParsedGtid } from './gtid-space.js';
import { readAllManifests } from './manifest.js';
import { applyReplay, checkStatementFits, selectReplay, type PlannedTransaction, type ReplayResult, type ReplaySelection } from './replay.js';
import { computeWindow, planPointInTime, type CoverageBreak, type PitrWindow, type PointInTimePlan } from './window.js';
import { readInPlaceRestores } from '../catalog/in-place-history.js';
import { runFolder } from '../private-temp.js';

export type PitrLineKind = 'START' | 'COMPLETE' | 'FAILED' | 'NOOP';

export interface PointInTimeRequest {
  target: Date;
  exclude: ParsedGtid[];
  /** The profile's storage: catalog and archive. */
  store: ObjectStore;
  /** The profile's key, for an encrypted archive. */
  kek?: KeyEncryptionKey | null;
  runner: ProcessRunner;
  /** Receives each BLOODRAVEN_PITR_* line. */
  onLine: (kind: PitrLineKind, fields: Record<string, unknown>) => void;
  plan: PointInTimePlan;
  /**
   * A folder where `pitr download` already put the plan's binlogs (`<dir>/<site>/<file>`): they
   * are checked against the manifest and read from there instead of being fetched (and are left
   * in place afterwards).
   */
  binlogsDir?: string;
}

/**
 * The plan of a restore to `target` (window.ts planPointInTime), from the catalog and the archive
 * manifests in `store`. Throws PreconditionError (exit 3) when the target is not restorable.
 */
export async function planFromStorage(store: ObjectStore, target: Date, backupName?: string, signal?: AbortSignal): Promise<PointInTimePlan> {
  const { entries, manifests, breaks } = await readPitrInputs(store, signal);
  return planPointInTime(entries, manifests, target, backupName, breaks);
}

/**
 * The window as windowFromStorage gives it, and the newest event the archive holds (RFC 3339;
 * null when it holds none), from one reading of the manifests.
 */
export async function windowWithArchiveEnd(store: ObjectStore, options: { now?: Date; signal?: AbortSignal } = {}): Promise<{ window: PitrWindow; archivedUntil: string | null }> {
  const { entries, manifests, breaks } = await readPitrInputs(store, options.signal, options.now);
  let archivedUntil: string | null = null;
  for (const e of manifests.flatMap((m) => m.entries)) {
    if (e.lastEventTime && (archivedUntil === null || Date.parse(e.lastEventTime) > Date.parse(archivedUntil))) archivedUntil = e.lastEventTime;
  }
  return { window: computeWindow(entries, manifests, breaks), archivedUntil };
}

/** The restorable window of the catalog and archive in `store` (window.ts computeWindow). */
export async function windowFromStorage(store: ObjectStore, options: { now?: Date; signal?: AbortSignal } = {}): Promise<PitrWindow> {
  const { entries, manifests, breaks } = await readPitrInputs(store, options.signal, options.now);
  return computeWindow(entries, manifests, breaks);
}

/**
 * What coverage is computed from: the catalog, the archive's manifests, and the whole-instance
 * in-place restores recorded in the catalog (each a break: the binlogs after it do not carry on
 * from the state before it).
 */
async function readPitrInputs(store: ObjectStore, signal?: AbortSignal, now?: Date) {
  const [entries, manifests, inPlace] = await Promise.all([
    listBackups(store, { ...(signal ? { signal } : {}), ...(now ? { now } : {}) }),
    readAllManifests(store, signal),
    readInPlaceRestores(store, signal),
  ]);
  const breaks: CoverageBreak[] = inPlace
    .filter((e) => e.mode === 'instance')
    .map((e) => ({
      at: new Date(e.startedAt),
      reason: `the whole instance (${e.target}) was restored in place from ${e.backup} at ${e.startedAt}, outside the binary log`,
      ...(e.server ? { server: e.server } : {}),
    }));
  return { entries, manifests, breaks };
}

/** A replay made ready before the load: the binlogs downloaded and read, and checked against the plan and the target. */
export interface PreparedReplay {
  selection: ReplaySelection;
  flavor: Flavor;
  /** Transactions an earlier run of this restore committed before it stopped, left out now. */
  resumed: number;
  /** Removes the downloaded binlogs. */
  dispose(): Promise<void>;
}

/**
 * Downloads and reads the plan's binlogs and checks, before anything is changed: the selection
 * against the plan's required transactions, and each statement against the target's
 * max_allowed_packet. With `resume` (an earlier run's replay into this target stopped), leaves out
 * what that run committed, as the target's GTID state shows against the mark's baseline.
 * Throws PreconditionError (exit 3) on a refusal; _FAILED is announced on any error.
 */
export async function prepareReplay(
  deps: { connector: MysqlConnector; logger: Logger },
  request: PointInTimeRequest,
  options: { signal?: AbortSignal; resume?: ReplayMark | null },
): Promise<PreparedReplay> {
  const { plan, target } = request;
  // The plan is the proof that the target is restorable; a request for another time has none.
  if (target.toISOString() !== plan.target) throw new InternalError(`the point-in-time plan is for ${plan.target}, not for ${target.toISOString()}`);
  const base = baseFields(request);
  request.onLine('START', options.resume ? { ...base, resuming: options.resume.since } : base);
  // The downloaded (and decrypted) binlogs are data: they go into the run's private folder,
  // which a SIGKILL leaves for the next run's sweep.
  const local = request.binlogsDir;
  const dir = local ?? (await (await runFolder()).makeFolder('pitr'));
  const dispose = (): Promise<void> => (local === undefined ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  try {
    const session = await deps.connector.connect();
    try {
      const flavor = await detectFlavor(session);
      const files =
        local === undefined
          ? await downloadBinlogs(request.store, plan.files, dir, { kek: request.kek ?? null, ...(options.signal ? { signal: options.signal } : {}) })
          : await localBinlogs(local, plan.files, options.signal);
      const replayOptions = { start: plan.dump.executed, stopAt: target, exclude: request.exclude, skipBinlog: false, required: plan.required };
      let selection = await selectReplay(deps, files, replayOptions, options.signal);
      let resumed = 0;
      if (options.resume) {
        const done = committedSince(options.resume, await readGtidState(session, flavor), selection.planned);
        resumed = done.count;
        if (resumed > 0) selection = await selectReplay(deps, files, { ...replayOptions, start: unionSets(plan.dump.executed, done.set) }, options.signal);
        deps.logger.info('resuming the point-in-time replay an earlier run began', { since: options.resume.since, committed: resumed, left: selection.result.applied });
      }
      const [row] = await session.query<{ v: string | number }>('SELECT @@GLOBAL.max_allowed_packet AS v');
      checkStatementFits(selection, flavor, Number(row?.v ?? 0));
      return { selection, flavor, resumed, dispose };
    } finally {
      await session.close();
    }
  } catch (err) {
    await dispose();
    request.onLine('FAILED', { ...base, reason: errorMessage(err) });
    throw err;
  }
}

/**
 * The mark a replay leaves before its first transaction: the target's GTID state then, from which
 * a rerun finds what it committed. Null baseline when that cannot be traced: MariaDB records the
 * replayed GTIDs only in its binary log, so with the log off or skipped there is no trace.
 */
export async function replayMark(connector: MysqlConnector, request: PointInTimeRequest, options: { skipBinlog: boolean; now: Date }): Promise<ReplayMark> {
  const session = await connector.connect();
  try {
    const flavor = await detectFlavor(session);
    const [row] = await session.query<{ logBin: string | number }>('SELECT @@GLOBAL.log_bin AS logBin');
    const traced = flavor.info.flavor === 'mariadb' && Number(row?.logBin ?? 0) === 1 && !options.skipBinlog;
    return { target: request.plan.target, backup: request.plan.dump.entry.name, since: options.now.toISOString(), baseline: traced ? await readGtidState(session, flavor) : null };
  } finally {
    await session.close();
  }
}

/** Applies a prepared replay (the dump must be loaded), announcing _COMPLETE or _NOOP, or _FAILED; removes the binlogs whatever happens. */
export async function applyPreparedReplay(
  deps: { connector: MysqlConnector },
  request: PointInTimeRequest,
  prepared: PreparedReplay,
  options: { skipBinlog: boolean; signal?: AbortSignal },
): Promise<ReplayResult> {
  const base = baseFields(request);
  try {
    const result = await applyReplay({ runner: request.runner, connector: deps.connector, flavor: prepared.flavor }, prepared.selection, { skipBinlog: options.skipBinlog }, options.signal);
    const withResumed: ReplayResult = prepared.resumed > 0 ? { ...result, resumed: prepared.resumed } : result;
    if (result.applied === 0 && prepared.resumed === 0) {
      const reason = 'no transaction lies between the backup and the target, as the backups and the archive prove up to coveredTo';
      request.onLine('NOOP', { ...base, reason, coveredTo: request.plan.coverage.to, excluded: result.excluded });
    } else {
      request.onLine('COMPLETE', {
        ...base,
        applied: result.applied,
        ...(prepared.resumed > 0 ? { resumed: prepared.resumed } : {}),
        excluded: result.excluded,
        lastAppliedGtid: result.lastAppliedGtid,
        lastAppliedTime: result.lastAppliedTime,
      });
    }
    return withResumed;
  } catch (err) {
    request.onLine('FAILED', { ...base, reason: errorMessage(err) });
    throw withReplayHint(err);
  } finally {
    await prepared.dispose();
  }
}

/**
 * Replays the plan's binlogs into the server; the dump must be loaded already. Throws (after a
 * _FAILED line) when the replay would fall short of the plan's required transactions.
 */
export async function replayToPoint(
  deps: { connector: MysqlConnector; logger: Logger },
  request: PointInTimeRequest,
  options: { skipBinlog: boolean; signal?: AbortSignal },
): Promise<ReplayResult> {
  const prepared = await prepareReplay(deps, request, options.signal ? { signal: options.signal } : {});
  return applyPreparedReplay(deps, request, prepared, options);
}

function baseFields(request: PointInTimeRequest): Record<string, unknown> {
  const { plan, target } = request;
  return { target: target.toISOString(), backup: plan.dump.entry.name, files: plan.files.map((f) => `${f.site}/${f.file}`) };
}

async function readGtidState(session: MysqlSession, flavor: Flavor): Promise<string> {
  if (flavor.info.flavor !== 'mariadb') return '';
  const [row] = await session.query<{ state: string | null }>('SELECT @@GLOBAL.gtid_binlog_state AS state');
  return row?.state ?? '';
}

/**
 * What an earlier run of this replay committed. MariaDB's gtid_binlog_state names the last GTID
 * written per domain and server; a pair that moved since the mark's baseline names the last
 * transaction the replay committed in that domain, and, the replay being one session applying
 * in file order, every planned transaction of the domain up to it was committed too.
 *
 * @throws PreconditionError PITR_RESUME_UNPROVEN when the mark has no baseline (the replay could
 *   not be traced), or the state names a transaction the replay never gave (something else wrote).
 */
function committedSince(mark: ReplayMark, state: string, planned: readonly PlannedTransaction[]): { set: GtidSet; count: number } {
  const startOver = 'restore again into an emptied target: drop the schemas this restore created, then run it with --reset-progress';
  if (mark.baseline === null) {
    throw new PreconditionError(
      'PITR_RESUME_UNPROVEN',
      `an earlier run of this restore began the point-in-time replay to ${mark.target} at ${mark.since} and stopped before it finished; the target's binary log was off (or --skip-binlog was given), so nothing shows which of the replayed transactions it committed, and resuming could apply one twice or leave one out; nothing was changed`,
      { hint: startOver },
    );
  }
  const before = lastPerServer(mark.baseline);
  // Only the servers the replayed transactions come from: the target's own writes (a table
  // dropped to fix what stopped the replay) carry its own server id.
  const replayed = new Set(planned.map((p) => (p.gtid ? /^(\d+-\d+)-\d+$/.exec(p.gtid)?.[1] : undefined)).filter((p): p is string => p !== undefined));
  const upTo = new Map<string, number>();
  for (const [pair, seq] of lastPerServer(state)) {
    if (!replayed.has(pair) || before.get(pair) === seq) continue;
    const gtid = `${pair}-${seq}`;
    const index = planned.findIndex((p) => p.gtid === gtid);
    if (index < 0) {
      throw new PreconditionError(
        'PITR_RESUME_UNPROVEN',
        `an earlier run of this restore began the point-in-time replay to ${mark.target} at ${mark.since} and stopped; since then the target committed ${gtid}, which that replay did not apply: something else wrote to the target, so what the replay committed cannot be told; nothing was changed`,
        { hint: startOver },
      );
    }
    const space = pair.split('-')[0]!;
    upTo.set(space, Math.max(upTo.get(space) ?? -1, index));
  }
  const set: GtidSet = new Map();
  let count = 0;
  planned.forEach((p, i) => {
    if (!p.gtid) return;
    const g = parseGtid(p.gtid);
    if (i > (upTo.get(g.space) ?? -1)) return;
    addToSet(set, g.space, [g.seq, g.seq]);
    count++;
  });
  return { set, count };
}

/** `domain-server` → last sequence number, from a gtid_binlog_state (`0-1-5,0-2-9`). */
function lastPerServer(state: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of state.split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(item);
    if (m) out.set(`${m[1]}-${m[2]}`, Number(m[3]));
  }
  return out;
}

/**
 * A replayed statement about an account the target lacks (GRANT to an account that was never
 * created there: ERROR 1133, 1396, 1449) means the accounts were not restored with the dump.
 */
function withReplayHint(err: unknown): unknown {
  // This hint replaces the replay's general one: it names the cause and the one fix.
  if (!(err instanceof AppError) || !/ERROR (1133|1396|1449)\b/.test(err.message)) return err;
  return new AppError(err.code, err.message, err.exitCode, {
    cause: err,
    hint: 'the binlogs change accounts the target does not have: drop the schemas this restore created and run it again with --reset-progress --load-users, so the backup\'s accounts are there before the replay',
  });
}
