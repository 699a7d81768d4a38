/**
 * `restore in-place`: rolls a live server back to a backup. Two modes, as in the reference:
 *
 * - whole instance: every user schema is dropped and the dump loaded; writes from other clients
 *   are fenced off (global read_only) for the duration and the previous setting is put back
 *   whatever happens; the load skips the binary log.
 * - one schema (`includeSchema`): only that schema is dropped and reloaded, other schemas keep
 *   taking writes, and the binary log carries the change to replicas.
 *
 * Preflight refuses (exit 3) a read-only target and a confirm token that is not newer than the
 * last one used; the token is recorded before anything is dropped.
 */
import type { Clock } from '../clock.js';
import { confirmTokenFile, readConfirmToken, recordConfirmToken } from '../catalog/confirm-token.js';
import { AppError, ConfigError, ExitCode, MysqlError, PreconditionError, errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import { quoteId, type MysqlConnector, type MysqlSession } from '../mysql/connection.js';
import { detectFlavor } from '../mysql/flavor.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readDumpManifest } from '../load/dump-manifest.js';
import { loadDump, type LoadOptions, type LoadProgressReport } from '../load/loader.js';
import { toRestoreResult, type RestoreResult } from './restore-bootstrap.js';
import { replayToPoint, type PointInTimeRequest } from '../pitr/point-in-time.js';
import type { RestoreSource } from './source.js';

export interface InPlaceDeps {
  connector: MysqlConnector;
  /** The profile's storage, where the catalog keeps the last confirm token. */
  catalog: ObjectStore;
  logger: Logger;
  clock: Clock;
}

export interface InPlaceRequest {
  /** Only this schema; otherwise the whole instance. */
  includeSchema?: string | undefined;
  threads: number;
}

export interface InPlacePlan {
  mode: 'instance' | 'schema';
  backup: string;
  target: string;
  /** Schemas that will be dropped. */
  drop: string[];
  /** Schemas that will be loaded. */
  load: string[];
}

export interface InPlaceResult extends RestoreResult {
  mode: 'instance' | 'schema';
  dropped: string[];
  confirm: string;
  /** How long other clients' writes were fenced off (0 in schema mode). */
  fencedMs: number;
}

async function userSchemas(session: MysqlSession): Promise<string[]> {
  const flavor = await detectFlavor(session);
  const system = new Set(flavor.systemSchemas);
  const rows = await session.query<{ name: string }>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME');
  return rows.map((r) => r.name).filter((n) => !system.has(n.toLowerCase()));
}

/** What an in-place restore would do, for a confirmation prompt. Changes nothing. */
export async function planRestoreInPlace(deps: Pick<InPlaceDeps, 'connector'>, source: RestoreSource, request: InPlaceRequest): Promise<InPlacePlan> {
  const manifest = await readDumpManifest(source.store, source.prefix);
  const dumped = manifest.schemas.map((s) => s.name);
  if (request.includeSchema !== undefined && !dumped.includes(request.includeSchema)) {
    throw new ConfigError([{ path: '--include-schema', message: `${source.description} has no schema "${request.includeSchema}"; it has: ${dumped.join(', ') || '(none)'}` }]);
  }
  const session = await deps.connector.connect();
  try {
    const existing = await userSchemas(session);
    const mode = request.includeSchema === undefined ? 'instance' : 'schema';
    return {
      mode,
      backup: source.description,
      target: deps.connector.target,
      drop: mode === 'instance' ? existing : existing.filter((s) => s === request.includeSchema),
      load: mode === 'instance' ? dumped : [request.includeSchema!],
    };
  } finally {
    await session.close();
  }
}

export async function restoreInPlace(
  deps: InPlaceDeps,
  source: RestoreSource,
  request: InPlaceRequest & { confirm: Date; pointInTime?: PointInTimeRequest },
  run: { signal: AbortSignal; onProgress?: (p: LoadProgressReport) => void },
): Promise<InPlaceResult> {
  const { connector, logger, clock } = deps;
  const plan = await planRestoreInPlace(deps, source, request);
  const session = await connector.connect();
  let fence: { previous: number; since: number } | undefined;
  try {
    // Preflight: nothing has changed yet.
    const [ro] = await session.query<{ ro: string | number }>('SELECT @@GLOBAL.read_only AS ro');
    if (Number(ro?.ro) !== 0) {
      throw new PreconditionError('TARGET_READ_ONLY', `the target ${connector.target} is read-only (a replica, or fenced by someone else)`, {
        hint: 'restore in place into the writable primary',
      });
    }
    const last = await readConfirmToken(deps.catalog);
    if (last && request.confirm.getTime() <= Date.parse(last.confirmTokenUsed)) {
      throw new PreconditionError('CONFIRM_STALE', `--confirm ${request.confirm.toISOString()} is not newer than the last one used (${last.confirmTokenUsed}, for ${last.backup})`, {
        hint: 'pass --confirm now, or a newer time, to authorize this restore',
      });
    }
    throwIfAborted(run.signal);
    await recordConfirmToken(deps.catalog, { confirmTokenUsed: request.confirm.toISOString(), backup: plan.backup, usedAt: clock.now().toISOString() });
    logger.info('in-place restore authorized', { confirm: request.confirm.toISOString(), mode: plan.mode, drop: plan.drop.join(', ') || '(none)', catalog: confirmTokenFile });

    if (plan.mode === 'instance') {
      // The drops are not replicated either: a whole-instance restore is followed by re-cloning replicas.
      await session.exec('SET SESSION sql_log_bin = 0').catch((err: unknown) => {
        throw new PreconditionError('SKIP_BINLOG_REFUSED', `a whole-instance restore runs without the binary log, which was refused: ${errorMessage(err)}`, {
          hint: 'grant SUPER (MySQL) or BINLOG ADMIN (MariaDB) to the restoring user',
        });
      });
      await session.exec('SET GLOBAL read_only = 1');
      fence = { previous: Number(ro?.ro ?? 0), since: clock.now().getTime() };
      logger.info('writes from other clients are fenced off (read_only = 1)');
    }
    for (const schema of plan.drop) {
      throwIfAborted(run.signal);
      try {
        await session.exec(`DROP DATABASE ${quoteId(schema)}`);
      } catch (err) {
        throw fenceError(err, `dropping schema ${schema} failed`);
      }
    }
    const options: LoadOptions = {
      threads: request.threads,
      includeSchemas: plan.load,
      excludeSchemas: [],
      ignoreExistingObjects: false,
      skipBinlog: plan.mode === 'instance',
      deferIndexes: 'all',
      resume: false,
      resetProgress: true,
    };
    let load;
    try {
      load = await loadDump({ connector, store: source.store, logger, clock }, source.prefix, options, run);
    } catch (err) {
      throw fenceError(err, 'loading the backup failed');
    }
    // Point-in-time replay runs against the same server, still fenced.
    const pitr = request.pointInTime ? await replayToPoint({ connector, logger }, request.pointInTime, { skipBinlog: options.skipBinlog, signal: run.signal }) : undefined;
    const fencedMs = fence ? clock.now().getTime() - fence.since : 0;
    return {
      ...toRestoreResult(source, connector.target, load),
      ...(pitr ? { pitr } : {}),
      mode: plan.mode,
      dropped: plan.drop,
      confirm: request.confirm.toISOString(),
      fencedMs,
    };
  } finally {
    if (fence) {
      try {
        await session.exec(`SET GLOBAL read_only = ${fence.previous}`);
        logger.info('fence lifted: read_only restored', { read_only: fence.previous });
      } catch (err) {
        logger.error('could not lift the fence: run SET GLOBAL read_only = 0 on the server by hand', { reason: errorMessage(err) });
      }
    }
    await session.close();
  }
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
