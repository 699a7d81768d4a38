/**
 * The load engine: restores a dump in MySQL Shell's layout (bloodraven's or MySQL Shell's own)
 * into a server, in an order that never trips over dependencies (FORMAT.md §5):
 *
 *   @.sql → schemas → tables (secondary indexes held back) → view placeholders → views →
 *   routines → data (parallel LOAD DATA LOCAL, streamed from storage) → indexes, per table as
 *   its data is in → triggers → events → @.post.sql
 *
 * Triggers come after the data so loading fires none; events come last so none runs against
 * half-loaded tables. Progress is logged as the load goes, so a load that is killed and run again
 * finishes without duplicated or missing rows.
 */
import { TamperedError } from '../crypto/segments.js';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../clock.js';
import { AppError, ExitCode, MysqlError, PreconditionError, abortError, errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import { quoteId, type MysqlConnector, type MysqlSession } from '../mysql/connection.js';
import { detectFlavor, type ServerInfo } from '../mysql/flavor.js';
import type { ObjectStore } from '../storage/object-store.js';
import { createDecompressor } from '../dump/compression.js';
import { WorkQueue } from '../dump/work-queue.js';
import { batchDeferredIndexes, deferIndexes, foreignKeyReferences } from './defer-indexes.js';
import { readDumpManifest, type DataFileRef, type DumpManifest, type SchemaManifest, type TableManifest } from './dump-manifest.js';
import { loadDataStatement } from './load-data.js';
import { loadProgressFileName } from '../catalog/names.js';
import { LoadProgress, type Step } from './load-progress.js';
import { sectionsOf, type SectionKind } from './script-sections.js';
import { splitSqlScript, type SqlStatement } from './sql-script.js';

export interface LoadOptions {
  threads: number;
  includeSchemas: string[];
  excludeSchemas: string[];
  /** Load into existing tables instead of refusing when the target already has them. */
  ignoreExistingObjects: boolean;
  /** `SET sql_log_bin = 0` on every load session. */
  skipBinlog: boolean;
  /** Which secondary indexes to build after the data (MySQL Shell's deferTableIndexes). */
  deferIndexes: 'all' | 'fulltext' | 'off';
  /** Keep a resume log beside the dump (off for throwaway targets such as verify's). */
  resume: boolean;
  /** Ignore an earlier run's resume log and start over. */
  resetProgress: boolean;
}

export interface LoadDeps {
  /** The target server. */
  connector: MysqlConnector;
  /** Where the dump is. */
  store: ObjectStore;
  logger: Logger;
  clock: Clock;
}

export type LoadPhase = 'checking' | 'ddl' | 'data' | 'indexes' | 'finishing';

export interface LoadProgressReport {
  phase: LoadPhase;
  tablesTotal: number;
  tablesDone: number;
  filesTotal: number;
  filesDone: number;
  rows: number;
  /** Uncompressed bytes sent to the server, and the dump's total. */
  bytes: number;
  bytesTotal: number;
}

export interface LoadedTable {
  schema: string;
  table: string;
  rows: number;
  files: number;
}

export interface LoadResult {
  target: ServerInfo;
  schemas: string[];
  tables: LoadedTable[];
  rows: number;
  bytes: number;
  warnings: number;
  /** Steps an earlier run had finished, skipped this time. */
  resumedSteps: number;
  startedAt: Date;
  completedAt: Date;
  manifest: DumpManifest;
}

export interface LoadRunOptions {
  signal: AbortSignal;
  onProgress?: (report: LoadProgressReport) => void;
}

/** What the load steps share. */
interface Context {
  deps: LoadDeps;
  prefix: string;
  options: LoadOptions;
  manifest: DumpManifest;
  schemas: SchemaManifest[];
  progress: LoadProgress;
  report: LoadProgressReport;
  emit: () => void;
  signal: AbortSignal;
  warnings: number;
  resumedSteps: number;
}

/**
 * Loads the dump under `prefix` of `deps.store` into `deps.connector`'s server. The dump must be
 * complete; the target must allow LOAD DATA LOCAL.
 */
export async function loadDump(deps: LoadDeps, prefix: string, options: LoadOptions, run: LoadRunOptions): Promise<LoadResult> {
  const startedAt = deps.clock.now();
  const report: LoadProgressReport = { phase: 'checking', tablesTotal: 0, tablesDone: 0, filesTotal: 0, filesDone: 0, rows: 0, bytes: 0, bytesTotal: 0 };
  const emit = (): void => run.onProgress?.({ ...report });
  emit();
  const manifest = await readDumpManifest(deps.store, prefix);
  const schemas = selectSchemas(manifest, options, deps.logger);

  const main = await deps.connector.connect();
  const sessions: MysqlSession[] = [main];
  let progress: LoadProgress | undefined;
  const onAbort = (): void => sessions.forEach((s) => s.destroy());
  run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const target = (await detectFlavor(main)).info;
    await checkTarget(main);
    progress = options.resume
      ? await LoadProgress.open(deps.store, prefix + loadProgressFileName(await targetId(main, target)), {
          reset: options.resetProgress,
          logger: deps.logger,
          now: () => deps.clock.now().getTime(),
        })
      : LoadProgress.disabled(deps.logger);
    if (progress.resuming) deps.logger.info('resuming an earlier load of this dump into this server');
    else if (!options.ignoreExistingObjects) await refuseExistingObjects(main, schemas);

    const ctx: Context = { deps, prefix, options, manifest, schemas, progress, report, emit, signal: run.signal, warnings: 0, resumedSteps: 0 };
    const tables = schemas.flatMap((s) => s.tables);
    report.tablesTotal = tables.length;
    report.filesTotal = tables.reduce((n, t) => n + t.dataFiles.length, 0);
    report.bytesTotal = manifest.dataBytes;

    report.phase = 'ddl';
    emit();
    await prepareSession(main, options, manifest);
    await runScript(ctx, main, '@.sql', null, 'the global script @.sql');
    const deferred = await createSchemasAndTables(ctx, main);
    await createViews(ctx, main);
    await runSections(ctx, main, 'routine');
    await progress.flush();

    report.phase = 'data';
    emit();
    // The scripts may have left their own sql_mode and character sets on this session.
    await prepareSession(main, options, manifest);
    for (let i = 1; i < options.threads; i++) {
      const s = await deps.connector.connect();
      sessions.push(s);
      await prepareSession(s, options, manifest);
    }
    const loaded = await loadData(ctx, sessions, deferred);
    await progress.flush();

    report.phase = 'finishing';
    emit();
    await createTriggers(ctx, main);
    await runSections(ctx, main, 'event');
    await runOnce(ctx, { op: 'POST-SQL' }, () => runScript(ctx, main, '@.post.sql', null, 'the global script @.post.sql'));
    await progress.flush();
    return {
      target,
      schemas: schemas.map((s) => s.name),
      tables: loaded,
      rows: report.rows,
      bytes: report.bytes,
      warnings: ctx.warnings,
      resumedSteps: ctx.resumedSteps,
      startedAt,
      completedAt: deps.clock.now(),
      manifest,
    };
  } catch (err) {
    if (run.signal.aborted) throw abortError(run.signal);
    throw err;
  } finally {
    run.signal.removeEventListener('abort', onAbort);
    // Whatever was finished stays finished for the next run, also after a failure.
    await progress?.flush();
    await Promise.all(sessions.map((s) => s.close()));
  }
}

function selectSchemas(manifest: DumpManifest, options: LoadOptions, logger: Logger): SchemaManifest[] {
  const names = new Set(manifest.schemas.map((s) => s.name));
  const unknown = [...options.includeSchemas, ...options.excludeSchemas].filter((s) => !names.has(s));
  if (unknown.length > 0) logger.warn('schemas named in include/exclude are not in the dump', { schemas: unknown });
  const include = new Set(options.includeSchemas);
  const exclude = new Set(options.excludeSchemas);
  return manifest.schemas.filter((s) => (include.size === 0 || include.has(s.name)) && !exclude.has(s.name));
}

async function checkTarget(session: MysqlSession): Promise<void> {
  const [row] = await session.query<{ v: string | number }>('SELECT @@GLOBAL.local_infile AS v');
  if (Number(row?.v) !== 1) {
    throw new PreconditionError('LOCAL_INFILE_OFF', 'the target server refuses LOAD DATA LOCAL INFILE (local_infile is OFF)', {
      hint: 'enable it with SET GLOBAL local_infile = 1 (or local_infile=1 in the server config) and run again',
    });
  }
}

/** Names the resume log after the target server, so one dump can be loaded into several. */
async function targetId(session: MysqlSession, target: ServerInfo): Promise<string> {
  if (target.serverUuid) return target.serverUuid;
  const [row] = await session.query<{ port: string | number }>('SELECT @@port AS port');
  return `${target.hostname}-${String(row?.port ?? 0)}-${target.serverId}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** Session settings for loading (FORMAT.md §5). */
async function prepareSession(session: MysqlSession, options: LoadOptions, manifest: DumpManifest): Promise<void> {
  await session.exec(`SET NAMES ${manifest.defaultCharacterSet.replace(/[^A-Za-z0-9_]/g, '')}`);
  // No engine substitution: a table whose engine the target lacks must fail, not quietly change.
  await session.exec("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'");
  await session.exec('SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0');
  await session.exec('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
  if (manifest.tzUtc) await session.exec("SET SESSION time_zone = '+00:00'");
  if (options.skipBinlog) {
    try {
      await session.exec('SET SESSION sql_log_bin = 0');
    } catch (err) {
      throw new PreconditionError('SKIP_BINLOG_REFUSED', `skipping the binary log was refused: ${errorMessage(err)}`, {
        cause: err,
        hint: 'grant SUPER (MySQL) or BINLOG ADMIN (MariaDB), or load without --skip-binlog',
      });
    }
  }
}

/** Refuses to load over objects the dump would create (exit 3), listing every one. */
async function refuseExistingObjects(session: MysqlSession, schemas: SchemaManifest[]): Promise<void> {
  const clashes: string[] = [];
  for (const schema of schemas) {
    const exists = await session.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [schema.name]);
    if (exists.length === 0) continue;
    const have = async (sql: string): Promise<Set<string>> => new Set((await session.query<{ n: string }>(sql, [schema.name])).map((r) => r.n));
    const tables = await have('SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?');
    const triggers = await have('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?');
    const functions = await have("SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION'");
    const procedures = await have("SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'");
    const events = await have('SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?');
    const q = (name: string): string => `${quoteId(schema.name)}.${quoteId(name)}`;
    for (const t of schema.tables) {
      if (tables.has(t.name)) clashes.push(`table ${q(t.name)}`);
      for (const trigger of t.triggers) if (triggers.has(trigger)) clashes.push(`trigger ${q(trigger)}`);
    }
    for (const v of schema.views) if (tables.has(v.name)) clashes.push(`view ${q(v.name)}`);
    for (const f of schema.functions) if (functions.has(f)) clashes.push(`function ${q(f)}`);
    for (const p of schema.procedures) if (procedures.has(p)) clashes.push(`procedure ${q(p)}`);
    for (const e of schema.events) if (events.has(e)) clashes.push(`event ${q(e)}`);
  }
  if (clashes.length > 0) {
    const shown = clashes.slice(0, 50).map((c) => `  ${c}`);
    if (clashes.length > 50) shown.push(`  … and ${clashes.length - 50} more`);
    throw new ExistingObjectsError(clashes, shown.join('\n'));
  }
}

export class ExistingObjectsError extends PreconditionError {
  constructor(
    readonly objects: string[],
    listing: string,
  ) {
    super('TARGET_HAS_OBJECTS', `the target already holds ${objects.length} object(s) the dump would create:\n${listing}`, {
      hint: 'drop them, exclude their schemas (--exclude-schema), or load into them anyway with --ignore-existing-objects',
    });
  }
}

async function runOnce(ctx: Context, step: Step, work: () => Promise<void>): Promise<void> {
  if (ctx.progress.isDone(step)) {
    ctx.resumedSteps++;
    return;
  }
  throwIfAborted(ctx.signal);
  await work();
  ctx.progress.markDone(step);
}

async function readScript(ctx: Context, name: string): Promise<string | null> {
  try {
    return (await ctx.deps.store.get(ctx.prefix + name, { signal: ctx.signal })).toString('utf8');
  } catch (err) {
    if (err instanceof AppError && err.code === 'OBJECT_NOT_FOUND') return null;
    throw err;
  }
}

/** Runs statements one by one; a failure names the object and the server's reason. */
async function runStatements(session: MysqlSession, statements: readonly SqlStatement[], what: string, schema: string | null): Promise<void> {
  for (const s of statements) {
    try {
      await session.exec(s.sql);
    } catch (err) {
      throw ddlError(err, what, schema, s);
    }
  }
}

function ddlError(err: unknown, what: string, schema: string | null, statement: SqlStatement): AppError {
  const reason = err instanceof AppError ? err.message.replace(/ while running: .*$/s, '') : errorMessage(err);
  return new AppError('LOAD_DDL_FAILED', `cannot create ${what}: ${reason}`, ExitCode.failure, {
    cause: err,
    hint: schema
      ? `the target cannot create it as dumped (line ${statement.line} of its script); exclude the schema with --exclude-schema ${JSON.stringify(schema)}, or fix the target and run again`
      : `the statement at line ${statement.line} failed`,
  });
}

async function runScript(ctx: Context, session: MysqlSession, name: string, schema: string | null, what: string): Promise<void> {
  const text = await readScript(ctx, name);
  if (text === null) return;
  if (schema) await session.exec(`USE ${quoteId(schema)}`);
  await runStatements(session, splitSqlScript(text), what, schema);
}

/** Creates schemas and tables; returns the secondary indexes held back, per table. */
async function createSchemasAndTables(ctx: Context, session: MysqlSession): Promise<Map<TableManifest, string[]>> {
  const scripts = await readTableScripts(ctx);
  const referenced = referencedColumns(scripts);
  const deferred = new Map<TableManifest, string[]>();
  for (const schema of ctx.schemas) {
    if (schema.includesDdl) {
      await runOnce(ctx, { op: 'SCHEMA-DDL', schema: schema.name }, async () => {
        const text = await readScript(ctx, `${schema.basename}.sql`);
        if (text === null) throw new AppError('DUMP_CORRUPT', `the script of schema ${schema.name} (${schema.basename}.sql) is missing`);
        const sections = sectionsOf(text, splitSqlScript(text));
        await runStatements(session, sections.schema, `schema ${quoteId(schema.name)}`, schema.name);
      });
    }
    for (const table of schema.tables) {
      const script = scripts.get(table);
      if (!script) continue;
      const statements = script.map((s) => {
        if (!isCreateTable(s)) return s;
        // An index another table's foreign key points at must exist before that table is created.
        const d = deferIndexes(s.sql, { mode: ctx.options.deferIndexes, referencedColumns: referenced.get(tableKey(table.schema, table.name)) ?? [] });
        if (d.deferred.length > 0) deferred.set(table, d.deferred);
        return { ...s, sql: d.createSql };
      });
      await runOnce(ctx, { op: 'TABLE-DDL', schema: schema.name, table: table.name }, async () => {
        await session.exec(`USE ${quoteId(schema.name)}`);
        await runStatements(session, statements, `table ${quoteId(schema.name)}.${quoteId(table.name)}`, schema.name);
      });
    }
  }
  return deferred;
}

function isCreateTable(s: SqlStatement): boolean {
  return /^CREATE\s+TABLE/i.test(s.sql);
}

function tableKey(schema: string, table: string): string {
  return `${schema.toLowerCase()}\u0000${table.toLowerCase()}`;
}

async function readTableScripts(ctx: Context): Promise<Map<TableManifest, SqlStatement[]>> {
  const scripts = new Map<TableManifest, SqlStatement[]>();
  for (const schema of ctx.schemas) {
    for (const table of schema.tables) {
      if (!table.includesDdl) continue;
      const text = await readScript(ctx, `${table.basename}.sql`);
      if (text === null) throw new AppError('DUMP_CORRUPT', `the script of table ${schema.name}.${table.name} (${table.basename}.sql) is missing`);
      scripts.set(table, splitSqlScript(text));
    }
  }
  return scripts;
}

/** For every table, the column lists other tables' foreign keys reference. */
function referencedColumns(scripts: Map<TableManifest, SqlStatement[]>): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const [table, statements] of scripts) {
    for (const s of statements.filter(isCreateTable)) {
      for (const ref of foreignKeyReferences(s.sql)) {
        const key = tableKey(ref.schema ?? table.schema, ref.table);
        out.set(key, [...(out.get(key) ?? []), ref.columns]);
      }
    }
  }
  return out;
}

async function createViews(ctx: Context, session: MysqlSession): Promise<void> {
  const views = ctx.schemas.filter((s) => s.includesViewsDdl).flatMap((s) => s.views);
  // Placeholders first, so a view can refer to any other view, whatever their order.
  for (const v of views) {
    if (ctx.progress.isDone({ op: 'VIEW-DDL', schema: v.schema, table: v.name })) continue;
    await runScript(ctx, session, `${v.basename}.pre.sql`, v.schema, `the placeholder of view ${quoteId(v.schema)}.${quoteId(v.name)}`);
  }
  for (const v of views) {
    await runOnce(ctx, { op: 'VIEW-DDL', schema: v.schema, table: v.name }, () =>
      runScript(ctx, session, `${v.basename}.sql`, v.schema, `view ${quoteId(v.schema)}.${quoteId(v.name)}`),
    );
  }
}

/** Runs the routine or event sections of every schema script. */
async function runSections(ctx: Context, session: MysqlSession, kind: Exclude<SectionKind, 'schema'>): Promise<void> {
  for (const schema of ctx.schemas) {
    if (!schema.includesDdl) continue;
    if (kind === 'routine' && schema.functions.length + schema.procedures.length === 0) continue;
    if (kind === 'event' && schema.events.length === 0) continue;
    await runOnce(ctx, { op: kind === 'routine' ? 'ROUTINES-DDL' : 'EVENTS-DDL', schema: schema.name }, async () => {
      const text = await readScript(ctx, `${schema.basename}.sql`);
      if (text === null) return;
      await session.exec(`USE ${quoteId(schema.name)}`);
      const statements = sectionsOf(text, splitSqlScript(text))[kind];
      if (kind === 'event') {
        await runStatements(session, statements, `the events of schema ${quoteId(schema.name)}`, schema.name);
        return;
      }
      await withTrustedFunctionCreators(ctx, session, () => runStatements(session, statements, `the routines of schema ${quoteId(schema.name)}`, schema.name));
    });
  }
}

/**
 * With binary logging on, a function that is not declared DETERMINISTIC (or NO SQL, READS SQL
 * DATA) cannot be created unless log_bin_trust_function_creators is on (error 1418). The dump's
 * routines are what the source ran, so the loader turns the setting on for the time it creates
 * them, when it may, and puts it back.
 */
async function withTrustedFunctionCreators(ctx: Context, session: MysqlSession, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    return;
  } catch (err) {
    const cause = err instanceof AppError ? err.cause : undefined;
    if (!(cause instanceof MysqlError && /log_bin_trust_function_creators/.test(cause.message))) throw err;
  }
  const [row] = await session.query<{ v: string | number }>('SELECT @@GLOBAL.log_bin_trust_function_creators AS v');
  try {
    await session.exec('SET GLOBAL log_bin_trust_function_creators = 1');
  } catch (err) {
    throw new AppError('LOAD_ROUTINE_REFUSED', 'the target has binary logging on and refuses stored functions not declared DETERMINISTIC', ExitCode.failure, {
      cause: err,
      hint: 'set log_bin_trust_function_creators = 1 on the target (or grant SUPER to the loading user) and run again',
    });
  }
  ctx.deps.logger.info('log_bin_trust_function_creators turned on while the routines are created');
  try {
    await work();
  } finally {
    await session.exec(`SET GLOBAL log_bin_trust_function_creators = ${Number(row?.v) === 1 ? 1 : 0}`);
  }
}

async function createTriggers(ctx: Context, session: MysqlSession): Promise<void> {
  for (const schema of ctx.schemas) {
    for (const table of schema.tables) {
      if (table.triggers.length === 0 || !table.includesDdl) continue;
      await runOnce(ctx, { op: 'TRIGGERS-DDL', schema: schema.name, table: table.name }, () =>
        runScript(ctx, session, `${table.basename}.triggers.sql`, schema.name, `the triggers of ${quoteId(schema.name)}.${quoteId(table.name)}`),
      );
    }
  }
}

type DataTask = { kind: 'file'; table: TableManifest; file: DataFileRef } | { kind: 'index'; table: TableManifest; clauses: string[] };

/**
 * Loads every data file with `sessions.length` parallel sessions, biggest tables first, and
 * builds each table's held-back indexes as soon as its last file is in.
 */
async function loadData(ctx: Context, sessions: MysqlSession[], deferred: Map<TableManifest, string[]>): Promise<LoadedTable[]> {
  const { progress, report, emit } = ctx;
  const tables = ctx.schemas.flatMap((s) => s.tables);
  const remaining = new Map<TableManifest, number>();
  const loaded = new Map<TableManifest, LoadedTable>();
  const queue = new WorkQueue<DataTask>();
  let open = 0;

  const finishTable = (table: TableManifest): void => {
    const clauses = deferred.get(table);
    if (clauses && clauses.length > 0 && !progress.isDone({ op: 'TABLE-INDEX', schema: table.schema, table: table.name })) {
      open++;
      queue.push({ kind: 'index', table, clauses });
      return;
    }
    report.tablesDone++;
    emit();
  };

  // Biggest tables first; their files interleaved so sessions start on different tables.
  const ordered = [...tables].sort((a, b) => size(b) - size(a));
  const pending: DataTask[][] = [];
  for (const table of ordered) {
    loaded.set(table, { schema: table.schema, table: table.name, rows: 0, files: table.dataFiles.length });
    const files = table.includesData ? table.dataFiles : [];
    const todo = await filesToLoad(ctx, sessions[0]!, table, files);
    remaining.set(table, todo.length);
    report.filesDone += files.length - todo.length;
    pending.push(todo.map((file) => ({ kind: 'file', table, file })));
  }
  for (const table of ordered) if (remaining.get(table) === 0) finishTable(table);
  for (let i = 0; pending.some((p) => i < p.length); i++) {
    for (const p of pending) {
      const task = p[i];
      if (task) {
        open++;
        queue.push(task);
      }
    }
  }
  if (open === 0) queue.close();

  const internal = new AbortController();
  const signal = AbortSignal.any([ctx.signal, internal.signal]);
  let firstError: unknown;
  const workers = sessions.map(async (session) => {
    for (;;) {
      const task = await queue.next();
      if (!task || signal.aborted) return;
      try {
        if (task.kind === 'file') {
          const rows = await loadFile(ctx, session, task.table, task.file, signal);
          loaded.get(task.table)!.rows += rows;
          progress.markDone({ op: 'TABLE-DATA', schema: task.table.schema, table: task.table.name, chunk: task.file.name }, { rows });
          report.filesDone++;
          emit();
          const left = remaining.get(task.table)! - 1;
          remaining.set(task.table, left);
          if (left === 0) finishTable(task.table);
        } else {
          await addIndexes(session, task.table, task.clauses);
          progress.markDone({ op: 'TABLE-INDEX', schema: task.table.schema, table: task.table.name });
          report.tablesDone++;
          emit();
        }
      } catch (err) {
        firstError ??= err;
        internal.abort(err);
        sessions.forEach((s) => s.destroy());
        queue.close();
        return;
      }
      if (--open === 0) queue.close();
    }
  });
  await Promise.all(workers);
  if (firstError !== undefined) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    throw firstError instanceof Error ? firstError : new AppError('LOAD_FAILED', errorMessage(firstError));
  }
  return ordered.map((t) => loaded.get(t)!);
}

function size(t: TableManifest): number {
  return t.dataFiles.reduce((n, f) => n + (f.rawBytes ?? f.storedBytes), 0);
}

/**
 * The files of a table still to load. A table with a primary key reloads only what is not marked
 * done (REPLACE makes a redone file harmless); a table without one that was partly loaded is
 * emptied and loaded whole again, since its rows cannot be told apart.
 */
async function filesToLoad(ctx: Context, session: MysqlSession, table: TableManifest, files: DataFileRef[]): Promise<DataFileRef[]> {
  const step = (f: DataFileRef): Step => ({ op: 'TABLE-DATA', schema: table.schema, table: table.name, chunk: f.name });
  const done = files.filter((f) => ctx.progress.isDone(step(f)));
  ctx.resumedSteps += done.length;
  if (done.length === files.length) return [];
  if (done.length > 0 && table.primaryIndex.length === 0) {
    ctx.deps.logger.info('emptying a partly loaded table without a primary key, to load it whole', { table: `${table.schema}.${table.name}` });
    await session.exec(`TRUNCATE TABLE ${quoteId(table.schema)}.${quoteId(table.name)}`);
    ctx.resumedSteps -= done.length;
    return files;
  }
  return files.filter((f) => !done.includes(f));
}

/** Counts the uncompressed bytes on their way to the server. */
class ByteCounter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.onBytes(chunk.length);
    cb(null, chunk);
  }
}

/** Streams one data file from storage, decompressing, into LOAD DATA LOCAL. Returns the rows loaded. */
async function loadFile(ctx: Context, session: MysqlSession, table: TableManifest, file: DataFileRef, signal: AbortSignal): Promise<number> {
  throwIfAborted(signal);
  const body = await ctx.deps.store.read(ctx.prefix + file.name, { signal });
  const counter = new ByteCounter((n) => {
    ctx.report.bytes += n;
  });
  // A damaged file may fail before the server asks for the data or while it reads it; either
  // way the LOAD DATA must see the failure, never a quiet end of file.
  let failure: Error | undefined;
  const flowing = pipeline(body, createDecompressor(file.compression), counter).catch((err: unknown) => {
    failure = err instanceof Error ? err : new Error(String(err));
  });
  const source = (): Readable => {
    const out = new PassThrough();
    if (failure) process.nextTick(() => out.destroy(failure));
    else {
      counter.pipe(out);
      void flowing.then(() => {
        if (failure) out.destroy(failure);
      });
    }
    return out;
  };
  let result: { rows: number; warnings: number };
  // One transaction per file: a file that fails midway leaves none of its rows behind.
  await session.exec('START TRANSACTION');
  try {
    result = await session.loadLocal(loadDataStatement(table, file.partition), source);
    if (failure) throw failure;
    await session.exec('COMMIT');
  } catch (err) {
    // Read before stopping the stream, whose own end would look like a damaged file.
    const reason = failure ? `${file.name} is damaged (${failure.message})` : errorMessage(err);
    body.destroy();
    await session.exec('ROLLBACK').catch(() => undefined);
    // An encrypted file that fails authentication says so itself, naming the file.
    if (failure instanceof TamperedError) throw failure;
    throw new AppError('LOAD_DATA_FAILED', `loading ${file.name} into ${quoteId(table.schema)}.${quoteId(table.name)} failed: ${reason}`, ExitCode.failure, {
      cause: err,
      ...(err instanceof AppError && err.hint ? { hint: err.hint } : {}),
    });
  } finally {
    await flowing;
  }
  ctx.report.rows += result.rows;
  if (result.warnings > 0) {
    ctx.warnings += result.warnings;
    const shown = await session.query<{ Level: string; Code: number; Message: string }>('SHOW WARNINGS LIMIT 3').catch(() => []);
    ctx.deps.logger.warn('the server raised warnings while loading data', {
      file: file.name,
      warnings: result.warnings,
      first: shown.map((w) => `${w.Level} ${w.Code}: ${w.Message}`).join('; '),
    });
  }
  return result.rows;
}

async function addIndexes(session: MysqlSession, table: TableManifest, clauses: string[]): Promise<void> {
  // A resumed load may have built some of them already.
  const existing = new Set(
    (
      await session.query<{ n: string }>('SELECT DISTINCT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [table.schema, table.name])
    ).map((r) => r.n),
  );
  const missing = clauses.filter((c) => {
    const name = /KEY\s+(`(?:[^`]|``)+`)/i.exec(c)?.[1];
    return !name || !existing.has(name.slice(1, -1).replace(/``/g, '`'));
  });
  // One statement builds them all in one pass, except FULLTEXT indexes: InnoDB builds one per ALTER.
  for (const batch of batchDeferredIndexes(missing)) {
    try {
      await session.exec(`ALTER TABLE ${quoteId(table.schema)}.${quoteId(table.name)} ${batch.join(', ')}`);
    } catch (err) {
      throw new AppError('LOAD_INDEX_FAILED', `building the indexes of ${quoteId(table.schema)}.${quoteId(table.name)} failed: ${errorMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }
}
