/**
 * Point-in-time restore, after the dump is loaded: the plan (read from storage alone, refused
 * before anything is touched when the target is not proven restorable), then the replay of the
 * archived binlogs it names, announced by the log lines BLOODRAVEN_PITR_START, and _COMPLETE,
 * _NOOP or _FAILED. _NOOP only follows a plan whose coverage holds the target and a replay that
 * found every required transaction in the dump already.
 */
import { rm } from 'node:fs/promises';
import { listBackups } from '../catalog/catalog.js';
import { AppError, InternalError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector } from '../mysql/connection.js';
import { detectFlavor } from '../mysql/flavor.js';
import type { ProcessRunner } from '../process.js';
import type { KeyEncryptionKey } from '../crypto/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { downloadBinlogs } from './download.js';
import type { ParsedGtid } from './gtid-space.js';
import { readAllManifests } from './manifest.js';
import { replayBinlogs, type ReplayResult } from './replay.js';
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
}

/**
 * The plan of a restore to `target` (window.ts planPointInTime), from the catalog and the archive
 * manifests in `store`. Throws PreconditionError (exit 3) when the target is not restorable.
 */
export async function planFromStorage(store: ObjectStore, target: Date, backupName?: string, signal?: AbortSignal): Promise<PointInTimePlan> {
  const { entries, manifests, breaks } = await readPitrInputs(store, signal);
  return planPointInTime(entries, manifests, target, backupName, breaks);
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
    .map((e) => ({ at: new Date(e.startedAt), reason: `the whole instance was restored in place from ${e.backup} at ${e.startedAt}, outside the binary log` }));
  return { entries, manifests, breaks };
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
  const { plan, target } = request;
  // The plan is the proof that the target is restorable; a request for another time has none.
  if (target.toISOString() !== plan.target) throw new InternalError(`the point-in-time plan is for ${plan.target}, not for ${target.toISOString()}`);
  const base = { target: target.toISOString(), backup: plan.dump.entry.name, files: plan.files.map((f) => `${f.site}/${f.file}`) };
  request.onLine('START', base);
  // The downloaded (and decrypted) binlogs are data: they go into the run's private folder,
  // which a SIGKILL leaves for the next run's sweep.
  const dir = await (await runFolder()).makeFolder('pitr');
  try {
    const session = await deps.connector.connect();
    const flavor = await detectFlavor(session).finally(() => session.close());
    const files = await downloadBinlogs(request.store, plan.files, dir, { kek: request.kek ?? null, ...(options.signal ? { signal: options.signal } : {}) });
    const result = await replayBinlogs(
      { runner: request.runner, connector: deps.connector, logger: deps.logger, flavor },
      files,
      { start: plan.dump.executed, stopAt: target, exclude: request.exclude, skipBinlog: options.skipBinlog, required: plan.required },
      options.signal,
    );
    if (result.applied === 0) {
      const reason = 'no transaction lies between the backup and the target, as the backups and the archive prove up to coveredTo';
      request.onLine('NOOP', { ...base, reason, coveredTo: plan.coverage.to, excluded: result.excluded });
    } else {
      request.onLine('COMPLETE', { ...base, applied: result.applied, excluded: result.excluded, lastAppliedGtid: result.lastAppliedGtid, lastAppliedTime: result.lastAppliedTime });
    }
    return result;
  } catch (err) {
    request.onLine('FAILED', { ...base, reason: errorMessage(err) });
    throw withReplayHint(err);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
