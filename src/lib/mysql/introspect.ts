/**
 * Reads what a dump needs to know about schemas from information_schema: tables, columns, keys,
 * views, triggers, routines, events. DDL text itself comes from SHOW CREATE (ddl.ts in dump/).
 */
import type { MysqlSession } from './connection.js';

export interface ColumnInfo {
  name: string;
  /** information_schema DATA_TYPE, lowercase: int, varchar, blob, point, … */
  dataType: string;
  /** Full COLUMN_TYPE, e.g. `int(10) unsigned`. */
  columnType: string;
  nullable: boolean;
  /** Computed from an expression (VIRTUAL, STORED/PERSISTENT): never dumped, the target computes it. */
  generated: boolean;
  /** An explicit system-versioning column (`GENERATED ALWAYS AS ROW START|END`): dumped, it holds history. */
  rowPeriod: 'start' | 'end' | null;
}

export interface IndexInfo {
  name: string;
  unique: boolean;
  columns: string[];
  /** Whether any column of the index may hold NULL. */
  nullable: boolean;
  /** A prefix index (KEY (c(10))) or an expression: not usable to cut ranges. */
  partial: boolean;
}

/**
 * A system-versioned table's period columns (MariaDB): the explicit ones a table declares, or the
 * invisible ROW_START / ROW_END every other versioned table has.
 */
export interface SystemVersioning {
  rowStart: string;
  rowEnd: string;
  /** The columns are the invisible ROW_START / ROW_END (not in information_schema.COLUMNS). */
  implicit: boolean;
}

export interface TableInfo {
  schema: string;
  name: string;
  /** BASE TABLE (also SYSTEM VERSIONED), or SEQUENCE on MariaDB. */
  type: 'table' | 'sequence';
  /** Set for a `WITH SYSTEM VERSIONING` table: its history is dumped too. */
  versioning: SystemVersioning | null;
  engine: string | null;
  /** Estimated rows (InnoDB statistics, not exact). */
  rowsEstimate: number;
  avgRowLength: number;
  dataLength: number;
  partitioned: boolean;
  columns: ColumnInfo[];
  indexes: IndexInfo[];
  triggers: string[];
}

export interface ViewInfo {
  schema: string;
  name: string;
  columns: string[];
}

export interface SchemaInfo {
  name: string;
  tables: TableInfo[];
  /** Objects information_schema lists that this code does not know how to dump (never skipped silently). */
  unsupported: Array<{ name: string; type: string }>;
  views: ViewInfo[];
  functions: string[];
  procedures: string[];
  events: string[];
}

export interface SchemaFilter {
  include: readonly string[];
  exclude: readonly string[];
  system: readonly string[];
}

export async function listSchemas(session: MysqlSession, filter: SchemaFilter): Promise<string[]> {
  const rows = await session.query<{ name: string }>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME');
  const system = new Set(filter.system.map((s) => s.toLowerCase()));
  const include = new Set(filter.include);
  const exclude = new Set(filter.exclude);
  return rows
    .map((r) => r.name)
    .filter((name) => !system.has(name.toLowerCase()))
    .filter((name) => include.size === 0 || include.has(name))
    .filter((name) => !exclude.has(name));
}

/** Everything about one schema's objects, in a handful of queries. */
export async function describeSchema(session: MysqlSession, schema: string): Promise<SchemaInfo> {
  const tableRows = await session.query<{
    name: string;
    type: string;
    engine: string | null;
    rows: string | number | null;
    avg: string | number | null;
    data: string | number | null;
    options: string | null;
  }>(
    `SELECT TABLE_NAME AS name, TABLE_TYPE AS type, ENGINE AS engine, TABLE_ROWS AS \`rows\`, AVG_ROW_LENGTH AS avg,
            DATA_LENGTH AS data, CREATE_OPTIONS AS options
       FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`,
    [schema],
  );
  const columnRows = await session.query<{
    tableName: string;
    name: string;
    dataType: string;
    columnType: string;
    nullable: string;
    extra: string | null;
    expression: string | null;
  }>(
    `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType,
            IS_NULLABLE AS nullable, EXTRA AS extra, GENERATION_EXPRESSION AS expression
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [schema],
  );
  const indexRows = await session.query<{
    tableName: string;
    indexName: string;
    nonUnique: string | number;
    seq: string | number;
    column: string | null;
    nullable: string;
    subPart: string | number | null;
  }>(
    `SELECT TABLE_NAME AS tableName, INDEX_NAME AS indexName, NON_UNIQUE AS nonUnique, SEQ_IN_INDEX AS seq,
            COLUMN_NAME AS \`column\`, NULLABLE AS nullable, SUB_PART AS subPart
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    [schema],
  );
  const triggerRows = await session.query<{ tableName: string; name: string }>(
    `SELECT EVENT_OBJECT_TABLE AS tableName, TRIGGER_NAME AS name FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`,
    [schema],
  );
  const routineRows = await session.query<{ name: string; type: string }>(
    'SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS type FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME',
    [schema],
  );
  const eventRows = await session.query<{ name: string }>(
    'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME',
    [schema],
  );

  const columnsByTable = groupBy(columnRows, (r) => r.tableName);
  const indexesByTable = groupBy(indexRows, (r) => r.tableName);
  const triggersByTable = groupBy(triggerRows, (r) => r.tableName);

  const tables: TableInfo[] = [];
  const views: ViewInfo[] = [];
  const unsupported: SchemaInfo['unsupported'] = [];
  for (const t of tableRows) {
    const columns = (columnsByTable.get(t.name) ?? []).map((c): ColumnInfo => {
      const rowPeriod = rowPeriodOf(c.expression);
      return {
        name: c.name,
        dataType: c.dataType.toLowerCase(),
        columnType: c.columnType,
        nullable: c.nullable === 'YES',
        generated: rowPeriod === null && /\b(VIRTUAL|STORED|PERSISTENT)\b/i.test(c.extra ?? ''),
        rowPeriod,
      };
    });
    if (t.type === 'VIEW') {
      views.push({ schema, name: t.name, columns: columns.map((c) => c.name) });
      continue;
    }
    if (t.type !== 'BASE TABLE' && t.type !== 'SEQUENCE' && t.type !== 'SYSTEM VERSIONED') {
      unsupported.push({ name: t.name, type: t.type });
      continue;
    }
    tables.push({
      schema,
      name: t.name,
      type: t.type === 'SEQUENCE' ? 'sequence' : 'table',
      versioning: t.type === 'SYSTEM VERSIONED' ? versioningOf(columns) : null,
      engine: t.engine,
      rowsEstimate: Number(t.rows ?? 0),
      avgRowLength: Number(t.avg ?? 0),
      dataLength: Number(t.data ?? 0),
      partitioned: /partitioned/i.test(t.options ?? ''),
      columns,
      indexes: buildIndexes(indexesByTable.get(t.name) ?? []),
      triggers: (triggersByTable.get(t.name) ?? []).map((r) => r.name),
    });
  }
  return {
    name: schema,
    tables,
    unsupported,
    views,
    functions: routineRows.filter((r) => r.type === 'FUNCTION').map((r) => r.name),
    procedures: routineRows.filter((r) => r.type === 'PROCEDURE').map((r) => r.name),
    events: eventRows.map((r) => r.name),
  };
}

function rowPeriodOf(expression: string | null): ColumnInfo['rowPeriod'] {
  const e = (expression ?? '').trim().toUpperCase();
  return e === 'ROW START' ? 'start' : e === 'ROW END' ? 'end' : null;
}

/** The period columns of a versioned table: declared ones, or MariaDB's invisible ROW_START/ROW_END. */
function versioningOf(columns: readonly ColumnInfo[]): SystemVersioning {
  const start = columns.find((c) => c.rowPeriod === 'start');
  const end = columns.find((c) => c.rowPeriod === 'end');
  if (start && end) return { rowStart: start.name, rowEnd: end.name, implicit: false };
  return { rowStart: 'ROW_START', rowEnd: 'ROW_END', implicit: true };
}

function buildIndexes(
  rows: ReadonlyArray<{ indexName: string; nonUnique: string | number; column: string | null; nullable: string; subPart: string | number | null }>,
): IndexInfo[] {
  const byName = new Map<string, IndexInfo>();
  for (const r of rows) {
    let index = byName.get(r.indexName);
    if (!index) {
      index = { name: r.indexName, unique: Number(r.nonUnique) === 0, columns: [], nullable: false, partial: false };
      byName.set(r.indexName, index);
    }
    if (r.column === null) index.partial = true;
    else index.columns.push(r.column);
    if (r.nullable === 'YES') index.nullable = true;
    if (r.subPart !== null) index.partial = true;
  }
  return [...byName.values()];
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}
