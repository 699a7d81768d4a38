/**
 * Cuts a table into chunks of about `bytesPerChunk` (FORMAT.md §4). A table with a primary key,
 * or a unique index whose columns are all NOT NULL, is cut into key ranges; one without such a key
 * is read in one stream and split into files by size.
 *
 * Ranges are half-open and cover the whole key space (the first has no lower bound, the last no
 * upper bound), so every row lands in exactly one chunk whatever the boundaries are: boundaries
 * only balance the work, they never decide what is dumped.
 */
import { quoteId, sqlLiteral } from '../mysql/connection.js';
import type { IndexInfo, TableInfo } from '../mysql/introspect.js';

export interface ChunkKey {
  index: string;
  columns: string[];
  /** The first column is an integer type, so ranges can be computed from MIN/MAX arithmetic. */
  integerFirst: boolean;
  unsignedFirst: boolean;
}

const integerTypes = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);

/**
 * The index to cut ranges on: PRIMARY; else the unique NOT NULL index with the fewest columns,
 * then the longest leading run of integer columns. Indexes with ENUM columns (ordered by their
 * position, not their text), prefix or expression parts are not usable.
 */
export function chooseChunkKey(table: TableInfo): ChunkKey | null {
  const byName = new Map(table.columns.map((c) => [c.name.toLowerCase(), c]));
  const usable = (ix: IndexInfo): boolean =>
    ix.unique &&
    !ix.nullable &&
    !ix.partial &&
    ix.columns.length > 0 &&
    ix.columns.every((c) => {
      const col = byName.get(c.toLowerCase());
      return col !== undefined && col.dataType !== 'enum' && col.dataType !== 'set' && !col.nullable;
    });
  const integerRun = (ix: IndexInfo): number => {
    let n = 0;
    for (const c of ix.columns) {
      if (!integerTypes.has(byName.get(c.toLowerCase())?.dataType ?? '')) break;
      n++;
    }
    return n;
  };
  const primary = table.indexes.find((ix) => ix.name === 'PRIMARY');
  let chosen: IndexInfo | undefined = primary && usable(primary) ? primary : undefined;
  if (!chosen) {
    const candidates = table.indexes.filter((ix) => ix.name !== 'PRIMARY' && usable(ix));
    candidates.sort((a, b) => a.columns.length - b.columns.length || integerRun(b) - integerRun(a) || a.name.localeCompare(b.name));
    chosen = candidates[0];
  }
  if (!chosen) return null;
  const first = byName.get(chosen.columns[0]!.toLowerCase());
  return {
    index: chosen.name,
    columns: chosen.columns,
    integerFirst: integerTypes.has(first?.dataType ?? ''),
    unsignedFirst: /unsigned/i.test(first?.columnType ?? ''),
  };
}

/** Rows that make about `bytesPerChunk`; 256 bytes a row when the server has no statistics. */
export function rowsPerChunk(bytesPerChunk: number, avgRowLength: number): number {
  const avg = avgRowLength > 0 ? avgRowLength : 256;
  return Math.max(1, Math.floor(bytesPerChunk / avg));
}

/** A half-open range on the key: lower ≤ key < upper; null means unbounded. */
export interface KeyRange {
  lower: readonly unknown[] | null;
  upper: readonly unknown[] | null;
}

/**
 * Evenly spaced integer boundaries between min and max for about rows / rowsPerChunk chunks.
 * Returns the inner boundaries only (ranges are built around them by rangesFromBoundaries).
 */
export function integerBoundaries(min: bigint, max: bigint, rowsEstimate: number, perChunk: number): bigint[] {
  const chunks = Math.ceil(rowsEstimate / perChunk);
  if (chunks <= 1 || max <= min) return [];
  const span = max - min + 1n;
  const count = BigInt(Math.min(chunks, Number(span > 1_000_000_000n ? 1_000_000_000n : span)));
  const step = (span + count - 1n) / count;
  const boundaries: bigint[] = [];
  for (let b = min + step; b <= max; b += step) boundaries.push(b);
  return boundaries;
}

/**
 * Whether the integer key is dense enough for evenly spaced boundaries to give even chunks. A
 * sparse key (ids with big gaps) is cut by walking the index instead.
 */
export function isDense(min: bigint, max: bigint, rowsEstimate: number): boolean {
  if (rowsEstimate <= 0) return true;
  const span = Number(max - min) + 1;
  return span <= rowsEstimate * 4;
}

export function rangesFromBoundaries(boundaries: ReadonlyArray<readonly unknown[]>): KeyRange[] {
  if (boundaries.length === 0) return [{ lower: null, upper: null }];
  const ranges: KeyRange[] = [{ lower: null, upper: boundaries[0]! }];
  for (let i = 1; i < boundaries.length; i++) ranges.push({ lower: boundaries[i - 1]!, upper: boundaries[i]! });
  ranges.push({ lower: boundaries[boundaries.length - 1]!, upper: null });
  return ranges;
}

/**
 * `(a, b) >= (x, y)` written so that every server's optimizer uses the index range:
 * `a > x OR (a = x AND b >= y)`, with the values as exact literals.
 */
export function tupleCompare(columns: readonly string[], values: readonly unknown[], op: '>=' | '<'): string {
  const strict = op === '>=' ? '>' : '<';
  const ors: string[] = [];
  for (let i = 0; i < columns.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(`${quoteId(columns[j]!)} = ${sqlLiteral(values[j])}`);
    const last = i === columns.length - 1;
    ands.push(`${quoteId(columns[i]!)} ${last ? op : strict} ${sqlLiteral(values[i])}`);
    ors.push(ands.length === 1 ? ands[0]! : `(${ands.join(' AND ')})`);
  }
  return ors.length === 1 ? ors[0]! : `(${ors.join(' OR ')})`;
}

/** The WHERE condition for a range (empty string for the unbounded range). */
export function rangeCondition(columns: readonly string[], range: KeyRange): string {
  const parts: string[] = [];
  if (range.lower) parts.push(tupleCompare(columns, range.lower, '>='));
  if (range.upper) parts.push(tupleCompare(columns, range.upper, '<'));
  return parts.join(' AND ');
}
