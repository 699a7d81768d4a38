/**
 * The DDL steps of a load, each run once (the resume log skips what an earlier run finished):
 * schemas, then sequences (a table's DEFAULT may call NEXTVAL on one), then tables with their
 * secondary indexes held back, view placeholders and views, routines, accounts; after the data,
 * triggers and events.
 */
import { createHash } from 'node:crypto';
import { AppError, ExitCode, MysqlError, errorMessage, throwIfAborted } from '../errors.js';
import { ObjectMismatchError, describeMismatch } from '../storage/object-check.js';
import { quoteId, type StatementSession } from '../mysql/connection.js';
import { forEachBounded } from '../parallel.js';
import { deferIndexes, foreignKeyReferences } from './defer-indexes.js';
import type { TableManifest } from './dump-manifest.js';
import type { LoadContext } from './load-context.js';
import type { Step } from './load-progress.js';
import { sectionsOf, type SectionKind } from './script-sections.js';
import { splitSqlScript, type SqlStatement } from './sql-script.js';
import { accountSections } from './users-script.js';

/** Runs `work` unless the resume log says an earlier run finished `step`; then marks it done. */
export async function runOnce(ctx: LoadContext, step: Step, work: () => Promise<void>): Promise<void> {
  if (ctx.plan.progress.isDone(step)) {
    ctx.resumedSteps++;
    return;
  }
  throwIfAborted(ctx.signal);
  await work();
  ctx.plan.progress.markDone(step);
}

/** A script of the dump, checked against the record when it has the script's SHA-256; null when the dump has none. */
export async function readScript(ctx: LoadContext, name: string): Promise<string | null> {
  let content: Buffer;
  try {
    content = await ctx.deps.store.get(ctx.plan.prefix + name, { signal: ctx.signal });
  } catch (err) {
    if (err instanceof AppError && err.code === 'OBJECT_NOT_FOUND') return null;
    throw err;
  }
  const expected = ctx.plan.scripts.get(name);
  if (expected) {
    const problem = describeMismatch(expected, { bytes: content.length, sha256: createHash('sha256').update(content).digest('hex') });
    if (problem) throw new ObjectMismatchError(name, problem);
  }
  return content.toString('utf8');
}

/** Runs statements one by one; a failure names the object and the server's reason. */
async function runStatements(session: StatementSession, statements: readonly SqlStatement[], what: string, schema: string | null): Promise<void> {
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

export async function runScript(ctx: LoadContext, session: StatementSession, name: string, schema: string | null, what: string): Promise<void> {
  const text = await readScript(ctx, name);
  if (text === null) return;
  if (schema) await session.exec(`USE ${quoteId(schema)}`);
  await runStatements(session, splitSqlScript(text), what, schema);
}

/** Whether a table's script creates a sequence (MariaDB: `CREATE SEQUENCE`, or `CREATE TABLE … SEQUENCE=1`). */
export function createsSequence(table: TableManifest, statements: readonly SqlStatement[]): boolean {
  return table.sequence || statements.some((s) => /^CREATE\s+(OR\s+REPLACE\s+)?SEQUENCE\b/i.test(s.sql) || (isCreateTable(s) && /\)\s*[^)]*\bSEQUENCE\s*=\s*1\b[^)]*$/i.test(s.sql)));
}

/**
 * Below this many bytes of data, a table is created with all its indexes: building a secondary
 * index after the load costs an ALTER TABLE (and a look at information_schema) per table, which
 * for thousands of small tables is most of the restore, while inserting a few rows into an
 * indexed table costs next to nothing. Bigger tables are loaded first and indexed after.
 */
export const smallTableBytes = 4 * 1024 * 1024;

/** How many table scripts are read from storage at a time. */
const scriptReads = 8;

/**
 * Creates schemas, then every sequence, then the other tables; returns the secondary indexes held
 * back, per table. Sequences come first because a table's DEFAULT may call NEXTVAL on one, in
 * any schema, whatever the names' order (mydumper/mydumper#1338); they are created one after the
 * other on the first session, the other tables on every session at once (their order does not
 * matter: foreign key checks are off while loading).
 */
export async function createSchemasAndTables(ctx: LoadContext, sessions: readonly StatementSession[]): Promise<Map<TableManifest, string[]>> {
  const main = sessions[0]!;
  const scripts = await readTableScripts(ctx);
  const referenced = referencedColumns(scripts);
  const deferred = new Map<TableManifest, string[]>();
  for (const schema of ctx.schemas) {
    if (!schema.includesDdl) continue;
    await runOnce(ctx, { op: 'SCHEMA-DDL', schema: schema.name }, async () => {
      const text = await readScript(ctx, `${schema.basename}.sql`);
      if (text === null) throw new AppError('DUMP_CORRUPT', `the script of schema ${schema.name} (${schema.basename}.sql) is missing`);
      const sections = sectionsOf(text, splitSqlScript(text));
      await runStatements(main, sections.schema, `schema ${quoteId(schema.name)}`, schema.name);
    });
  }
  const tables = ctx.schemas.flatMap((s) => s.tables).filter((t) => scripts.has(t));
  const sequences = tables.filter((t) => createsSequence(t, scripts.get(t)!));
  const others = tables.filter((t) => !sequences.includes(t));
  // The schema each session is in, so that a run of tables of one schema needs one USE.
  const current = new Map<StatementSession, string>();
  const create = async (session: StatementSession, table: TableManifest): Promise<void> => {
    const mode = dataSize(table) < smallTableBytes ? 'off' : ctx.plan.options.deferIndexes;
    const statements = scripts.get(table)!.map((s) => {
      if (!isCreateTable(s)) return s;
      // An index another table's foreign key points at must exist before that table is created.
      const d = deferIndexes(s.sql, { mode, referencedColumns: referenced.get(tableKey(table.schema, table.name)) ?? [] });
      if (d.deferred.length > 0) deferred.set(table, d.deferred);
      return { ...s, sql: d.createSql };
    });
    await runOnce(ctx, { op: 'TABLE-DDL', schema: table.schema, table: table.name }, async () => {
      if (current.get(session) !== table.schema) await session.exec(`USE ${quoteId(table.schema)}`);
      current.set(session, table.schema);
      // A script that changes the schema itself leaves the session wherever it went.
      if (statements.some((s) => /^USE\b/i.test(s.sql))) current.delete(session);
      await runStatements(session, statements, `table ${quoteId(table.schema)}.${quoteId(table.name)}`, table.schema);
    });
  };
  for (const table of sequences) await create(main, table);
  const idle = [...sessions];
  await forEachBounded(others, sessions.length, async (table) => {
    // As many lanes as sessions: a lane always finds one idle.
    const session = idle.pop()!;
    try {
      await create(session, table);
    } finally {
      idle.push(session);
    }
  });
  return deferred;
}

/** The table's data in bytes, uncompressed where the dump says. */
function dataSize(table: TableManifest): number {
  return table.dataFiles.reduce((n, f) => n + (f.rawBytes ?? f.storedBytes), 0);
}

function isCreateTable(s: SqlStatement): boolean {
  return /^CREATE\s+TABLE/i.test(s.sql);
}

function tableKey(schema: string, table: string): string {
  return `${schema.toLowerCase()}\u0000${table.toLowerCase()}`;
}

async function readTableScripts(ctx: LoadContext): Promise<Map<TableManifest, SqlStatement[]>> {
  const tables = ctx.schemas.flatMap((schema) => schema.tables.filter((t) => t.includesDdl));
  const read: SqlStatement[][] = [];
  // Thousands of small scripts: read several at a time; the map keeps the dump's order.
  await forEachBounded(tables, scriptReads, async (table, i) => {
    const text = await readScript(ctx, `${table.basename}.sql`);
    if (text === null) throw new AppError('DUMP_CORRUPT', `the script of table ${table.schema}.${table.name} (${table.basename}.sql) is missing`);
    read[i] = splitSqlScript(text);
  });
  return new Map(tables.map((t, i) => [t, read[i]!]));
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

export async function createViews(ctx: LoadContext, session: StatementSession): Promise<void> {
  const views = ctx.schemas.filter((s) => s.includesViewsDdl).flatMap((s) => s.views);
  // Placeholders first, so a view can refer to any other view, whatever their order.
  for (const v of views) {
    if (ctx.plan.progress.isDone({ op: 'VIEW-DDL', schema: v.schema, table: v.name })) continue;
    await runScript(ctx, session, `${v.basename}.pre.sql`, v.schema, `the placeholder of view ${quoteId(v.schema)}.${quoteId(v.name)}`);
  }
  for (const v of views) {
    await runOnce(ctx, { op: 'VIEW-DDL', schema: v.schema, table: v.name }, () =>
      runScript(ctx, session, `${v.basename}.sql`, v.schema, `view ${quoteId(v.schema)}.${quoteId(v.name)}`),
    );
  }
}

/** Runs the routine or event sections of every schema script. */
export async function runSections(ctx: LoadContext, session: StatementSession, kind: Exclude<SectionKind, 'schema'>): Promise<void> {
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
async function withTrustedFunctionCreators(ctx: LoadContext, session: StatementSession, work: () => Promise<void>): Promise<void> {
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

export async function createTriggers(ctx: LoadContext, session: StatementSession): Promise<void> {
  for (const schema of ctx.schemas) {
    for (const table of schema.tables) {
      if (table.triggers.length === 0 || !table.includesDdl) continue;
      await runOnce(ctx, { op: 'TRIGGERS-DDL', schema: schema.name, table: table.name }, () =>
        runScript(ctx, session, `${table.basename}.triggers.sql`, schema.name, `the triggers of ${quoteId(schema.name)}.${quoteId(table.name)}`),
      );
    }
  }
}

/**
 * Creates the accounts of `@.users.sql` the plan chose (those the target lacks), then their
 * grants and default roles, as MySQL Shell's loadUsers does. Accounts the target has already are
 * left exactly as they are.
 */
export async function createAccounts(ctx: LoadContext, session: StatementSession): Promise<void> {
  const users = ctx.plan.users;
  if (!users || users.create.length === 0) return;
  await runOnce(ctx, { op: 'USERS' }, async () => {
    const text = await readScript(ctx, '@.users.sql');
    if (text === null) throw new AppError('DUMP_CORRUPT', 'the accounts script @.users.sql is missing, though @.json lists accounts');
    const wanted = new Set(users.create);
    const sections = accountSections(text).filter((s) => wanted.has(s.account));
    for (const kind of ['user', 'grants', 'default role'] as const) {
      for (const section of sections.filter((s) => s.kind === kind)) {
        await runStatements(session, section.statements, `account ${section.account}`, null);
      }
    }
  });
}
