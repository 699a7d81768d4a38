/**
 * What the workers need to dump one table, and the chunk tasks cut from it. Range planning runs
 * while workers already dump the tasks planned so far.
 */
import { quoteId, type MysqlSession, type Row } from '../mysql/connection.js';
import type { TableInfo } from '../mysql/introspect.js';
import {
  chooseChunkKey,
  integerBoundaries,
  isDense,
  rangeCondition,
  rangesFromBoundaries,
  rowsPerChunk,
  tupleCompare,
  type ChunkKey,
  type KeyRange,
} from './chunk-planner.js';
import { columnKind, type ColumnKind } from './tsv-encoder.js';

export interface TablePlan {
  schema: string;
  table: string;
  basename: string;
  info: TableInfo;
  /** Columns written, in order: every column that is not generated. */
  columns: string[];
  kinds: ColumnKind[];
  key: ChunkKey | null;
  /** `SELECT … FROM …` without WHERE or ORDER BY. */
  selectFrom: string;
  /** ` ORDER BY …` on the chunk key, or ''. */
  orderBy: string;
  /** Bytes the encoder gathers before handing a block on. */
  encoderBlock: number;
}

/**
 * Bytes the encoder gathers before handing a block to the data file: one size for every table.
 * Small tables do not pay for it: the encoder's buffer starts small and grows (tsv-encoder.ts),
 * which needs no statistics (a freshly loaded table's say small).
 */
export const defaultEncoderBlock = 256 * 1024;

/** One unit of work for a dump worker. */
export type DumpTask =
  | { kind: 'range'; plan: TablePlan; chunk: number; last: boolean; where: string }
  | { kind: 'stream'; plan: TablePlan };

/**
 * How a column is read for the dump. FLOAT is the one type the text protocol prints lossily
 * (MariaDB gives 6 significant digits: 123456.7 comes out as 123457), so it is read as the
 * double it widens to exactly; loading that text into a FLOAT column gives back the same value.
 */
export function selectExpression(name: string, dataType: string): string {
  return dataType.toLowerCase() === 'float' ? `(${quoteId(name)} + 0e0)` : quoteId(name);
}

/** The invisible period columns of an implicitly versioned table, as the dump reads them. */
function implicitPeriodColumns(info: TableInfo): Array<{ name: string; dataType: string }> {
  const v = info.versioning;
  return v?.implicit ? [{ name: v.rowStart, dataType: 'timestamp' }, { name: v.rowEnd, dataType: 'timestamp' }] : [];
}

/**
 * The dump of one table: every column that is not generated, and for a system-versioned table
 * every row of its history (`FOR SYSTEM_TIME ALL`) with its period columns, so the history is
 * restored too (MDEV-16029).
 */
export function planTable(info: TableInfo, basename: string, encoderBlock = defaultEncoderBlock): TablePlan {
  const dumped = [...info.columns.filter((c) => !c.generated), ...implicitPeriodColumns(info)];
  const key = chooseChunkKey(info);
  const from = `${quoteId(info.schema)}.${quoteId(info.name)}${info.versioning ? ' FOR SYSTEM_TIME ALL' : ''}`;
  const columns = dumped.map((c) => c.name);
  return {
    schema: info.schema,
    table: info.name,
    basename,
    info,
    columns,
    kinds: dumped.map((c) => columnKind(c.dataType)),
    key,
    selectFrom: `SELECT ${dumped.map((c) => selectExpression(c.name, c.dataType)).join(', ')} FROM ${from}`,
    orderBy: key ? ` ORDER BY ${key.columns.map(quoteId).join(', ')}` : '',
    encoderBlock,
  };
}

/**
 * Cuts `plan` into tasks and hands each to `emit` as soon as it is known. Dense integer keys are
 * cut arithmetically from MIN/MAX; other keys by walking the index `perChunk` rows at a time.
 */
export async function planChunks(session: MysqlSession, plan: TablePlan, bytesPerChunk: number, emit: (task: DumpTask) => void): Promise<void> {
  if (!plan.key) {
    emit({ kind: 'stream', plan });
    return;
  }
  const key = plan.key;
  const perChunk = rowsPerChunk(bytesPerChunk, plan.info.avgRowLength);
  const from = `${quoteId(plan.schema)}.${quoteId(plan.table)}`;
  const emitRanges = (columns: readonly string[], ranges: readonly KeyRange[]): void => {
    ranges.forEach((range, i) => emit({ kind: 'range', plan, chunk: i, last: i === ranges.length - 1, where: rangeCondition(columns, range) }));
  };
  if (plan.info.rowsEstimate <= perChunk) {
    emitRanges(key.columns, [{ lower: null, upper: null }]);
    return;
  }
  if (key.integerFirst) {
    const first = key.columns[0]!;
    const [row] = await session.query<{ lo: string | number | null; hi: string | number | null }>(
      `SELECT MIN(${quoteId(first)}) AS lo, MAX(${quoteId(first)}) AS hi FROM ${from}`,
    );
    if (row?.lo === null || row?.lo === undefined || row.hi === null || row.hi === undefined) {
      emitRanges(key.columns, [{ lower: null, upper: null }]);
      return;
    }
    const lo = BigInt(row.lo);
    const hi = BigInt(row.hi);
    if (isDense(lo, hi, plan.info.rowsEstimate)) {
      const boundaries = integerBoundaries(lo, hi, plan.info.rowsEstimate, perChunk).map((b) => [b]);
      emitRanges([first], rangesFromBoundaries(boundaries));
      return;
    }
  }
  await walkIndex(session, plan, key, perChunk, emit);
}

/** Finds boundaries by reading every perChunk-th key of the index, emitting ranges as it goes. */
async function walkIndex(session: MysqlSession, plan: TablePlan, key: ChunkKey, perChunk: number, emit: (task: DumpTask) => void): Promise<void> {
  const cols = key.columns.map(quoteId).join(', ');
  const from = `${quoteId(plan.schema)}.${quoteId(plan.table)}`;
  let lower: unknown[] | null = null;
  let chunk = 0;
  for (;;) {
    const where: string = lower ? ` WHERE ${tupleCompare(key.columns, lower, '>=')}` : '';
    // mysql2 decodes keys exactly: big integers and decimals as strings, binary values as Buffers.
    const rows: Row[] = await session.query(`SELECT ${cols} FROM ${from}${where} ORDER BY ${cols} LIMIT ${perChunk}, 1`);
    const next: Row | undefined = rows[0];
    if (!next) {
      emit({ kind: 'range', plan, chunk, last: true, where: rangeCondition(key.columns, { lower, upper: null }) });
      return;
    }
    const upper: unknown[] = key.columns.map((c) => next[c]);
    emit({ kind: 'range', plan, chunk, last: false, where: rangeCondition(key.columns, { lower, upper }) });
    lower = upper;
    chunk++;
  }
}
