/**
 * The load engine: applies a LoadPlan (load-plan.ts; restore/plan.ts builds it and checks
 * everything that can be checked before the target is touched) to the target server, in an
 * order that never trips over dependencies (FORMAT.md §5):
 *
 *   @.sql → schemas → sequences → tables (secondary indexes held back) → view placeholders →
 *   views → routines → accounts → data (parallel LOAD DATA LOCAL, streamed from storage) →
 *   indexes, per table as its data is in → triggers → events → @.post.sql → the inventory check
 *
 * Triggers come after the data so loading fires none; events come last so none runs against
 * half-loaded tables. Progress is logged as the load goes, so a load that is killed and run again
 * finishes without duplicated or missing rows; a finished load is marked complete.
 */
import { abortError, AppError, ExitCode, PreconditionError } from '../errors.js';
import { detectFlavor, type ServerInfo } from '../mysql/flavor.js';
import type { StatementSession } from '../mysql/connection.js';
import { threadConnector } from '../threads/worker-session.js';
import { checkInventory, findMissingDefiners, type MissingDefiner } from './after-load.js';
import type { DumpManifest } from './dump-manifest.js';
import { createAccounts, createSchemasAndTables, createTriggers, createViews, runOnce, runScript, runSections } from './ddl-steps.js';
import { loadData, type LoadedTable } from './data-steps.js';
import type { LoadContext, LoadDeps, LoadProgressReport } from './load-context.js';
import type { LoadPlan } from './load-plan.js';
import { LoadThreadSession } from './load-thread-session.js';

export type { LoadDeps, LoadProgressReport, LoadPhase } from './load-context.js';
export type { LoadOptions } from './load-plan.js';
export type { LoadedTable } from './data-steps.js';

export interface LoadResult {
  target: ServerInfo;
  schemas: string[];
  tables: LoadedTable[];
  rows: number;
  bytes: number;
  /** Notes the server raised while loading data (warnings fail the load). */
  warnings: number;
  /** Steps an earlier run had finished, skipped this time. */
  resumedSteps: number;
  startedAt: Date;
  completedAt: Date;
  manifest: DumpManifest;
  /** Accounts created from the dump, and those the target had already (left as they were); null without --load-users. */
  users: { created: string[]; kept: string[] } | null;
  /** Objects whose DEFINER account the target lacks (they fail when used); null when accounts could not be read. */
  missingDefiners: MissingDefiner[] | null;
  /** What the load proved, beyond what the plan checked before it. */
  verified: LoadVerification;
}

export interface LoadVerification {
  /** Data files loaded in this run whose stored bytes matched a recorded SHA-256 (others: size only). */
  filesBySha256: number;
  filesLoaded: number;
  /** Tables whose row count was compared with the dump's. */
  tablesCounted: number;
  /** Objects of the inventory found on the target afterwards. */
  objectsFound: number;
}

export interface LoadRunOptions {
  signal: AbortSignal;
  onProgress?: (report: LoadProgressReport) => void;
}

/** sql_mode of DDL sessions: what the source could create, it can create here (zero and invalid dates too). */
const ddlSqlMode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,ALLOW_INVALID_DATES';
/**
 * sql_mode of data sessions: strict, so a value the target would change is an error, never a
 * quiet substitute; ALLOW_INVALID_DATES, so dates the source holds (2021-02-30) arrive as they are.
 */
const dataSqlMode = `STRICT_ALL_TABLES,${ddlSqlMode}`;

/**
 * Loads `plan` into `deps.connector`'s server. The plan's checks must have passed; any
 * PreconditionError raised from here on is reported as a failure (exit 1), since the target may
 * have been changed already: exit 3 always means nothing was touched.
 */
export async function loadDump(deps: LoadDeps, plan: LoadPlan, run: LoadRunOptions): Promise<LoadResult> {
  const startedAt = deps.clock.now();
  const tables = plan.schemas.flatMap((s) => s.tables);
  const report: LoadProgressReport = {
    phase: 'ddl',
    tablesTotal: tables.length,
    tablesDone: 0,
    filesTotal: tables.reduce((n, t) => n + t.dataFiles.length, 0),
    filesDone: 0,
    rows: 0,
    bytes: 0,
    bytesTotal: plan.manifest.dataBytes,
  };
  const emit = (): void => run.onProgress?.({ ...report });
  emit();

  const main = await deps.connector.connect();
  // Every session, for the abort and the end: main (checks, DDL, scripts) and the load threads'.
  const sessions: StatementSession[] = [main];
  const dataSessions: LoadThreadSession[] = [];
  const onAbort = (): void => sessions.forEach((s) => s.destroy());
  run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const flavor = await detectFlavor(main);
    const ctx: LoadContext = {
      deps,
      plan,
      flavor,
      schemas: plan.schemas,
      report,
      emit,
      signal: run.signal,
      warnings: 0,
      resumedSteps: 0,
      verified: { filesBySha256: 0, filesLoaded: 0, tablesCounted: 0 },
    };
    if (plan.progress.resuming) deps.logger.info('resuming an earlier load of this dump into this server', { file: plan.progress.file });

    await prepareSession(main, ctx, ddlSqlMode);
    await runScript(ctx, main, '@.sql', null, 'the global script @.sql');
    // Every session is opened now: the tables are created on all of them, the data loaded after
    // on the load threads' (each thread does its files' per-byte work: load-thread.ts).
    const threads = threadConnector(deps.connector, (connection, target) => LoadThreadSession.open(connection, target));
    for (let i = 0; i < plan.options.threads; i++) {
      const s = await threads.connect();
      sessions.push(s);
      dataSessions.push(s);
      await prepareSession(s, ctx, ddlSqlMode);
    }
    const deferred = await createSchemasAndTables(ctx, sessions);
    await createViews(ctx, main);
    await runSections(ctx, main, 'routine');
    await createAccounts(ctx, main);
    await plan.progress.flush();

    report.phase = 'data';
    emit();
    // The scripts may have left their own sql_mode and character sets on this session.
    for (const s of dataSessions) await prepareSession(s, ctx, dataSqlMode);
    const loaded = await loadData(ctx, dataSessions, deferred);
    await plan.progress.flush();

    report.phase = 'finishing';
    emit();
    await prepareSession(main, ctx, ddlSqlMode);
    await createTriggers(ctx, main);
    await runSections(ctx, main, 'event');
    await runOnce(ctx, { op: 'POST-SQL' }, () => runScript(ctx, main, '@.post.sql', null, 'the global script @.post.sql'));
    const objectsFound = await checkInventory(main, flavor, plan);
    const missingDefiners = await findMissingDefiners(
      main,
      plan.schemas.map((s) => s.name),
    );
    if (missingDefiners && missingDefiners.length > 0) {
      deps.logger.warn('objects name a DEFINER account the target does not have; they fail when used (ERROR 1449)', {
        objects: missingDefiners.map((m) => `${m.object} (${m.definer})`).join(', '),
        fix: 'create the accounts, or restore with --load-users',
      });
    }
    for (const s of plan.schemas) plan.progress.markDone({ op: 'LOAD-COMPLETE', schema: s.name });
    await plan.progress.flush();
    return {
      target: flavor.info,
      schemas: plan.schemas.map((s) => s.name),
      tables: loaded,
      rows: loaded.reduce((n, t) => n + t.rows, 0),
      bytes: report.bytes,
      warnings: ctx.warnings,
      resumedSteps: ctx.resumedSteps,
      startedAt,
      completedAt: deps.clock.now(),
      manifest: plan.manifest,
      users: plan.users ? { created: plan.users.create, kept: plan.users.kept } : null,
      missingDefiners,
      verified: { ...ctx.verified, objectsFound },
    };
  } catch (err) {
    if (run.signal.aborted) throw abortError(run.signal);
    throw afterChange(err);
  } finally {
    run.signal.removeEventListener('abort', onAbort);
    // Whatever was finished stays finished for the next run, also after a failure.
    await plan.progress.flush();
    await Promise.all(sessions.map((s) => s.close()));
  }
}

/** A refusal raised once the load has begun is a failure: the target may have changed. */
export function afterChange(err: unknown): unknown {
  if (!(err instanceof PreconditionError)) return err;
  return new AppError(err.code, `${err.message} (the restore had begun: the target may hold part of the backup)`, ExitCode.failure, {
    cause: err,
    ...(err.hint ? { hint: err.hint } : {}),
  });
}

/** Session settings for loading (FORMAT.md §5), with the flavor's own. */
async function prepareSession(session: StatementSession, ctx: LoadContext, sqlMode: string): Promise<void> {
  const { manifest, options } = ctx.plan;
  await session.exec(`SET NAMES ${manifest.defaultCharacterSet.replace(/[^A-Za-z0-9_]/g, '')}`);
  // No engine substitution: a table whose engine the target lacks must fail, not quietly change.
  await session.exec(`SET SESSION sql_mode = '${sqlMode}'`);
  await session.exec('SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0');
  await session.exec('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
  for (const statement of ctx.flavor.loadSessionStatements) await session.exec(statement);
  if (ctx.plan.schemas.some((s) => s.tables.some((t) => t.systemVersioning)) && ctx.flavor.insertHistoryStatement) {
    await session.exec(ctx.flavor.insertHistoryStatement);
  }
  if (manifest.tzUtc) await session.exec("SET SESSION time_zone = '+00:00'");
  if (options.skipBinlog) await session.exec('SET SESSION sql_log_bin = 0');
}

