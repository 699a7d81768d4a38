/**
 * The SQL scripts of a dump (FORMAT.md §1): `<S>.sql` (schema, events, routines), `<S>@<T>.sql`
 * (table), `<S>@<V>.pre.sql` + `<S>@<V>.sql` (view placeholder, real view) and
 * `<S>@<T>.triggers.sql`. Definitions come from SHOW CREATE; each object is wrapped the way
 * MySQL Shell wraps it, with `-- begin`/`-- end` markers and DELIMITER blocks, so both
 * util.loadDump() and bloodraven's loader can run them.
 */
import { MysqlError } from '../errors.js';
import { quoteId, type MysqlSession } from '../mysql/connection.js';
import type { ServerInfo } from '../mysql/flavor.js';

export interface DdlContext {
  session: MysqlSession;
  server: ServerInfo;
  dumper: string;
}

function header(ctx: DdlContext, scope: string): string {
  return [
    `-- ${ctx.dumper} (MySQL Shell dump format 2.0.1)`,
    '--',
    `-- Host: ${ctx.server.hostname}${scope}`,
    '-- ------------------------------------------------------',
    `-- Server version\t${ctx.server.version}`,
    '',
  ].join('\n');
}

export function globalScript(ctx: DdlContext): string {
  return header(ctx, '') + '\n';
}

/** Turns the leading `CREATE TABLE` of SHOW CREATE TABLE output into `CREATE TABLE IF NOT EXISTS`. */
export function createTableIfNotExists(ddl: string): string {
  return ddl.replace(/^CREATE\s+(TEMPORARY\s+)?TABLE\s+(?!IF NOT EXISTS)/i, (m, temp: string | undefined) => `CREATE ${temp ?? ''}TABLE IF NOT EXISTS `);
}

/** Makes `CREATE [DEFINER=…] EVENT name` into `… EVENT IF NOT EXISTS name`. */
export function createEventIfNotExists(ddl: string): string {
  return ddl.replace(/^(CREATE\s+(?:DEFINER\s*=\s*(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s@]+)@(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\S+)\s+)?EVENT\s+)(?!IF NOT EXISTS)/i, '$1IF NOT EXISTS ');
}

async function showCreate(session: MysqlSession, statement: string, column: string, what: string, hint: string): Promise<Record<string, unknown>> {
  let row: Record<string, unknown> | undefined;
  try {
    [row] = await session.query(statement);
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') {
      throw new MysqlError(err.code, `cannot read the definition of ${what}: ${err.message}`, { cause: err, hint });
    }
    throw err;
  }
  if (!row || row[column] === null || row[column] === undefined) {
    throw new MysqlError('DDL_UNREADABLE', `cannot read the definition of ${what}: the server returned none for ${statement}`, { hint });
  }
  return row;
}

function str(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : '';
}

export async function schemaScript(
  ctx: DdlContext,
  schema: string,
  objects: { events: readonly string[]; functions: readonly string[]; procedures: readonly string[] },
): Promise<string> {
  const s = ctx.session;
  const db = await showCreate(s, `SHOW CREATE DATABASE IF NOT EXISTS ${quoteId(schema)}`, 'Create Database', `schema ${schema}`, 'grant SELECT on the schema');
  const parts: string[] = [header(ctx, `    Database: ${schema}`)];
  parts.push('--', `-- Current Database: ${quoteId(schema)}`, '--', '', `${str(db, 'Create Database')};`, '', `USE ${quoteId(schema)};`, '');

  if (objects.events.length > 0) {
    parts.push('--', `-- Dumping events for database '${schema}'`, '--', '');
    for (const name of objects.events) {
      const row = await showCreate(s, `SHOW CREATE EVENT ${quoteId(schema)}.${quoteId(name)}`, 'Create Event', `event ${schema}.${name}`, 'grant the EVENT privilege on the schema');
      parts.push(
        `-- begin event ${quoteId(schema)}.${quoteId(name)}`,
        `/*!50106 DROP EVENT IF EXISTS ${quoteId(name)} */;`,
        'DELIMITER ;;',
        ...sessionSettings(row, ';;', true),
        // Not inside a /*! */ comment: a `*/` in the body would end it early. The delimiter goes
        // on a line of its own: a body may end in a `--` comment.
        `${createEventIfNotExists(str(row, 'Create Event'))}\n;;`,
        ...restoreSettings(';;', true),
        'DELIMITER ;',
        `-- end event ${quoteId(schema)}.${quoteId(name)}`,
        '',
      );
    }
  }

  const routines: Array<[string, string]> = [
    ...objects.functions.map((n): [string, string] => ['FUNCTION', n]),
    ...objects.procedures.map((n): [string, string] => ['PROCEDURE', n]),
  ];
  if (routines.length > 0) {
    parts.push('--', `-- Dumping routines for database '${schema}'`, '--', '');
    for (const [type, name] of routines) {
      const column = type === 'FUNCTION' ? 'Create Function' : 'Create Procedure';
      const row = await showCreate(
        s,
        `SHOW CREATE ${type} ${quoteId(schema)}.${quoteId(name)}`,
        column,
        `${type.toLowerCase()} ${schema}.${name}`,
        'the account must own the routine or be allowed to read routine definitions (MariaDB: SELECT ON mysql.proc; MySQL 8: SHOW_ROUTINE)',
      );
      const lower = type.toLowerCase();
      parts.push(
        `-- begin ${lower} ${quoteId(schema)}.${quoteId(name)}`,
        `/*!50003 DROP ${type} IF EXISTS ${quoteId(name)} */;`,
        ...sessionSettings(row, ';', false),
        'DELIMITER ;;',
        `${str(row, column)}\n;;`,
        'DELIMITER ;',
        ...restoreSettings(';', false),
        `-- end ${lower} ${quoteId(schema)}.${quoteId(name)}`,
        '',
      );
    }
  }
  return parts.join('\n') + '\n';
}

/** Sets the session state a stored object was created under (sql_mode, character sets, time zone). */
function sessionSettings(row: Record<string, unknown>, terminator: string, timeZone: boolean): string[] {
  const client = str(row, 'character_set_client') || 'utf8mb4';
  const collation = str(row, 'collation_connection') || 'utf8mb4_general_ci';
  const lines = [
    `/*!50003 SET @saved_cs_client      = @@character_set_client */ ${terminator}`,
    `/*!50003 SET @saved_cs_results     = @@character_set_results */ ${terminator}`,
    `/*!50003 SET @saved_col_connection = @@collation_connection */ ${terminator}`,
    `/*!50003 SET character_set_client  = ${client} */ ${terminator}`,
    `/*!50003 SET character_set_results = ${client} */ ${terminator}`,
    `/*!50003 SET collation_connection  = ${collation} */ ${terminator}`,
    `/*!50003 SET @saved_sql_mode       = @@sql_mode */ ${terminator}`,
    `/*!50003 SET sql_mode              = '${str(row, 'sql_mode')}' */ ${terminator}`,
  ];
  if (timeZone) {
    lines.push(`/*!50003 SET @saved_time_zone      = @@time_zone */ ${terminator}`, `/*!50003 SET time_zone             = '${str(row, 'time_zone') || 'SYSTEM'}' */ ${terminator}`);
  }
  return lines;
}

function restoreSettings(terminator: string, timeZone: boolean): string[] {
  return [
    ...(timeZone ? [`/*!50003 SET time_zone             = @saved_time_zone */ ${terminator}`] : []),
    `/*!50003 SET sql_mode              = @saved_sql_mode */ ${terminator}`,
    `/*!50003 SET character_set_client  = @saved_cs_client */ ${terminator}`,
    `/*!50003 SET character_set_results = @saved_cs_results */ ${terminator}`,
    `/*!50003 SET collation_connection  = @saved_col_connection */ ${terminator}`,
  ];
}

export async function tableScript(ctx: DdlContext, schema: string, table: string): Promise<string> {
  const row = await showCreate(
    ctx.session,
    `SHOW CREATE TABLE ${quoteId(schema)}.${quoteId(table)}`,
    'Create Table',
    `table ${schema}.${table}`,
    'grant SELECT on the table',
  );
  return [
    header(ctx, `    Database: ${schema}    Table: ${table}`),
    '--',
    `-- Table structure for table ${quoteId(table)}`,
    '--',
    '',
    '/*!40101 SET @saved_cs_client     = @@character_set_client */;',
    '/*!50503 SET character_set_client = utf8mb4 */;',
    `${createTableIfNotExists(str(row, 'Create Table'))};`,
    '/*!40101 SET character_set_client = @saved_cs_client */;',
    '',
  ].join('\n');
}

/** The placeholder a view gets before every view exists: a view with the right column names. */
export function viewPlaceholderScript(ctx: DdlContext, schema: string, view: string, columns: readonly string[]): string {
  const select = columns.length > 0 ? columns.map((c) => ` 1 AS ${quoteId(c)}`).join(',\n') : ' 1 AS `1`';
  return [
    header(ctx, `    Database: ${schema}    Table: ${view}`),
    '--',
    `-- Temporary view structure for view ${quoteId(view)}`,
    '--',
    '',
    `DROP TABLE IF EXISTS ${quoteId(view)};`,
    `/*!50001 DROP VIEW IF EXISTS ${quoteId(view)}*/;`,
    'SET @saved_cs_client     = @@character_set_client;',
    '/*!50503 SET character_set_client = utf8mb4 */;',
    `/*!50001 CREATE VIEW ${quoteId(view)} AS SELECT\n${select} */;`,
    'SET character_set_client = @saved_cs_client;',
    '',
  ].join('\n');
}

export async function viewScript(ctx: DdlContext, schema: string, view: string): Promise<string> {
  const row = await showCreate(
    ctx.session,
    `SHOW CREATE VIEW ${quoteId(schema)}.${quoteId(view)}`,
    'Create View',
    `view ${schema}.${view}`,
    'grant SHOW VIEW (and SELECT) on the schema',
  );
  const client = str(row, 'character_set_client') || 'utf8mb4';
  const collation = str(row, 'collation_connection') || 'utf8mb4_general_ci';
  return [
    header(ctx, `    Database: ${schema}    Table: ${view}`),
    '--',
    `-- Final view structure for view ${quoteId(view)}`,
    '--',
    '',
    `/*!50001 DROP VIEW IF EXISTS ${quoteId(view)}*/;`,
    '/*!50001 SET @saved_cs_client          = @@character_set_client */;',
    '/*!50001 SET @saved_cs_results         = @@character_set_results */;',
    '/*!50001 SET @saved_col_connection     = @@collation_connection */;',
    `/*!50001 SET character_set_client      = ${client} */;`,
    `/*!50001 SET character_set_results     = ${client} */;`,
    `/*!50001 SET collation_connection      = ${collation} */;`,
    `/*!50001 ${str(row, 'Create View')} */;`,
    '/*!50001 SET character_set_client      = @saved_cs_client */;',
    '/*!50001 SET character_set_results     = @saved_cs_results */;',
    '/*!50001 SET collation_connection      = @saved_col_connection */;',
    '',
  ].join('\n');
}

export async function triggersScript(ctx: DdlContext, schema: string, table: string, triggers: readonly string[]): Promise<string> {
  const parts = [header(ctx, `    Database: ${schema}    Table: ${table}`), '--', `-- Dumping triggers for table '${schema}'.'${table}'`, '--', ''];
  for (const name of triggers) {
    const row = await showCreate(
      ctx.session,
      `SHOW CREATE TRIGGER ${quoteId(schema)}.${quoteId(name)}`,
      'SQL Original Statement',
      `trigger ${schema}.${name}`,
      'grant the TRIGGER privilege on the table',
    );
    parts.push(
      `-- begin trigger ${quoteId(schema)}.${quoteId(name)}`,
      ...sessionSettings(row, ';', false),
      `/*!50032 DROP TRIGGER IF EXISTS ${quoteId(name)} */;`,
      'DELIMITER ;;',
      `${str(row, 'SQL Original Statement')}\n;;`,
      'DELIMITER ;',
      ...restoreSettings(';', false),
      `-- end trigger ${quoteId(schema)}.${quoteId(name)}`,
      '',
    );
  }
  return parts.join('\n') + '\n';
}
