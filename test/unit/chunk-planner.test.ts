import { describe, expect, it } from 'vitest';
import { chooseChunkKey, integerBoundaries, isDense, rangeCondition, rangesFromBoundaries, rowsPerChunk } from '../../src/lib/dump/chunk-planner.js';
import type { ColumnInfo, IndexInfo, TableInfo } from '../../src/lib/mysql/introspect.js';

function col(name: string, dataType: string, nullable = false): ColumnInfo {
  return { name, dataType, columnType: dataType, nullable, generated: false, rowPeriod: null };
}
function idx(name: string, columns: string[], unique = true, extra: Partial<IndexInfo> = {}): IndexInfo {
  return { name, columns, unique, nullable: false, partial: false, ...extra };
}
function table(columns: ColumnInfo[], indexes: IndexInfo[]): TableInfo {
  return { schema: 's', name: 't', type: 'table', versioning: null, engine: 'InnoDB', rowsEstimate: 0, avgRowLength: 0, dataLength: 0, partitioned: false, columns, indexes, triggers: [] };
}

describe('chooseChunkKey', () => {
  it('prefers the primary key', () => {
    const t = table([col('id', 'int'), col('u', 'int')], [idx('u', ['u']), idx('PRIMARY', ['id'])]);
    expect(chooseChunkKey(t)).toMatchObject({ index: 'PRIMARY', columns: ['id'], integerFirst: true });
  });

  it('takes the shortest unique NOT NULL index, then the one with more leading integers', () => {
    const t = table(
      [col('a', 'varchar'), col('b', 'int'), col('c', 'int'), col('d', 'varchar')],
      [idx('wide', ['b', 'c', 'd']), idx('text', ['a']), idx('ints', ['b', 'c']), idx('num', ['c'])],
    );
    expect(chooseChunkKey(t)?.index).toBe('num');
  });

  it('skips nullable, non-unique, prefix and ENUM indexes', () => {
    const t = table(
      [col('a', 'int', true), col('b', 'int'), col('e', 'enum'), col('p', 'varchar')],
      [idx('nullable', ['a'], true, { nullable: true }), idx('plain', ['b'], false), idx('en', ['e']), idx('prefix', ['p'], true, { partial: true })],
    );
    expect(chooseChunkKey(t)).toBeNull();
  });
});

describe('integer ranges', () => {
  it('spreads boundaries over the key range and covers it end to end', () => {
    const b = integerBoundaries(1n, 1000n, 1000, 250);
    expect(b).toEqual([251n, 501n, 751n]);
    const ranges = rangesFromBoundaries(b.map((x) => [x]));
    expect(ranges[0]).toEqual({ lower: null, upper: [251n] });
    expect(ranges.at(-1)).toEqual({ lower: [751n], upper: null });
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.lower).toEqual(ranges[i - 1]!.upper);
  });

  it('makes one chunk when the estimate fits in one', () => {
    expect(integerBoundaries(1n, 1_000_000n, 10, 1000)).toEqual([]);
    expect(rangesFromBoundaries([])).toEqual([{ lower: null, upper: null }]);
  });

  it('handles keys beyond 2^53 exactly', () => {
    const min = 2n ** 63n - 1000n;
    const b = integerBoundaries(min, 2n ** 63n - 1n, 1000, 500);
    expect(b).toEqual([min + 500n]);
  });

  it('calls a key dense when its span is within a few times the row count', () => {
    expect(isDense(1n, 1000n, 1000)).toBe(true);
    expect(isDense(1n, 10_000_000n, 1000)).toBe(false);
  });

  it('uses 256 bytes a row without statistics', () => {
    expect(rowsPerChunk(64_000_000, 0)).toBe(250_000);
    expect(rowsPerChunk(64_000_000, 200)).toBe(320_000);
  });
});

describe('rangeCondition', () => {
  it('writes half-open tuple ranges that an index can serve, with exact literals', () => {
    expect(rangeCondition(['a'], { lower: [5n], upper: [9007199254740993n] })).toBe('`a` >= 5 AND `a` < 9007199254740993');
    expect(rangeCondition(['a', 'b'], { lower: ["x'y", 2], upper: null })).toBe("(`a` > 'x''y' OR (`a` = 'x''y' AND `b` >= 2))");
    expect(rangeCondition(['k'], { lower: null, upper: [Buffer.from([0, 255])] })).toBe("`k` < X'00ff'");
    expect(rangeCondition(['k'], { lower: null, upper: null })).toBe('');
  });
});
