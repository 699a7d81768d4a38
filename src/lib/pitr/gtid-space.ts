/**
 * GTIDs as numbered spaces, the same for both flavors: a MariaDB domain or a MySQL source UUID is
 * a space, and transactions in it are numbered (MariaDB's seq_no, which runs on across servers
 * of a domain; MySQL's GNO). Continuity of an archive is then a question of holes in these
 * numbers, whichever server or site wrote which file.
 */
import { AppError, ConfigError } from '../errors.js';
import type { BinlogFlavor, MariadbGtidRange, MysqlGtidRange } from './binlog-parser.js';
import { parseMariadbGtidPos, parseMysqlGtidSet } from './binlog-parser.js';

export type Interval = [first: number, last: number];

/** Space → sorted, merged intervals. */
export type GtidSet = Map<string, Interval[]>;

export interface ParsedGtid {
  space: string;
  seq: number;
}

/** MariaDB `domain-server-seq` or MySQL `uuid:gno`. */
export function parseGtid(gtid: string): ParsedGtid {
  const maria = /^(\d+)-(\d+)-(\d+)$/.exec(gtid.trim());
  if (maria) return { space: maria[1]!, seq: Number(maria[3]) };
  const mysql = /^([0-9a-f-]{36}):(\d+)$/i.exec(gtid.trim());
  if (mysql) return { space: mysql[1]!.toLowerCase(), seq: Number(mysql[2]) };
  throw new ConfigError([{ path: '--exclude-gtids', message: `"${gtid}" is not a GTID (MariaDB domain-server-seq, or MySQL uuid:number)` }]);
}

function merge(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export function addToSet(set: GtidSet, space: string, interval: Interval): void {
  set.set(space, merge([...(set.get(space) ?? []), interval]));
}

export function unionSets(...sets: GtidSet[]): GtidSet {
  const out: GtidSet = new Map();
  for (const s of sets) for (const [space, intervals] of s) for (const i of intervals) addToSet(out, space, i);
  return out;
}

export function setHas(set: GtidSet, g: ParsedGtid): boolean {
  return (set.get(g.space) ?? []).some(([a, b]) => g.seq >= a && g.seq <= b);
}

/**
 * The executed set a dump recorded. MariaDB's gtid_binlog_pos names the last transaction of each
 * domain; everything up to it is taken as done. MySQL's gtid_executed is a set as it stands.
 */
export function executedSet(flavor: BinlogFlavor, recorded: string): GtidSet {
  const set: GtidSet = new Map();
  if (!recorded.trim()) return set;
  try {
    if (flavor === 'mariadb') {
      for (const g of parseMariadbGtidPos(recorded)) addToSet(set, String(g.domain), [0, g.seq]);
    } else {
      for (const e of parseMysqlGtidSet(recorded)) for (const [a, b] of e.intervals) addToSet(set, e.uuid.toLowerCase(), [a, b]);
    }
  } catch (err) {
    throw new AppError('GTID_INVALID', `cannot read the recorded GTID position "${recorded}": ${(err as Error).message}`);
  }
  return set;
}

/** The transactions a binlog file holds, as a set. */
export function rangesSet(ranges: ReadonlyArray<MariadbGtidRange | MysqlGtidRange>): GtidSet {
  const set: GtidSet = new Map();
  for (const r of ranges) addToSet(set, 'uuid' in r ? r.uuid.toLowerCase() : String(r.domain), [r.first, r.last]);
  return set;
}

/** A run of consecutive transaction numbers in one space, both ends included. */
export interface GtidRange {
  space: string;
  first: number;
  last: number;
}

/** Holes between the intervals of each space: transactions nobody has. */
export function holes(set: GtidSet): GtidRange[] {
  const out: GtidRange[] = [];
  for (const [space, intervals] of set) {
    for (let i = 1; i < intervals.length; i++) out.push({ space, first: intervals[i - 1]![1] + 1, last: intervals[i]![0] - 1 });
  }
  return out;
}

/** The highest number `set` holds in `space`, or undefined when it holds none there. */
export function topOf(set: GtidSet, space: string): number | undefined {
  return set.get(space)?.at(-1)?.[1];
}

/** What `a` holds and `b` does not. */
export function subtractSets(a: GtidSet, b: GtidSet): GtidSet {
  const out: GtidSet = new Map();
  for (const [space, intervals] of a) {
    let rest = intervals.map(([x, y]): Interval => [x, y]);
    for (const [bx, by] of b.get(space) ?? []) {
      rest = rest.flatMap(([x, y]): Interval[] => {
        if (by < x || bx > y) return [[x, y]];
        const kept: Interval[] = [];
        if (x < bx) kept.push([x, bx - 1]);
        if (by < y) kept.push([by + 1, y]);
        return kept;
      });
    }
    if (rest.length > 0) out.set(space, rest);
  }
  return out;
}

/** Whether every transaction of `inner` is in `outer`. */
export function containsSet(outer: GtidSet, inner: GtidSet): boolean {
  return subtractSets(inner, outer).size === 0;
}

/** The set's intervals as ranges, space by space. */
export function setRanges(set: GtidSet): GtidRange[] {
  return [...set].flatMap(([space, intervals]) => intervals.map(([first, last]) => ({ space, first, last })));
}

/**
 * Numbers missing from `set` past what `base` holds: in a space `base` holds, the holes above its
 * highest number (a hole `base` itself already had, and nothing later fills, is not a transaction
 * that happened after it); in a space `base` lacks, every hole and the numbers before the first
 * one (numbering starts at 1, and the whole space came after `base`).
 */
export function gapsBeyond(base: GtidSet, set: GtidSet): GtidRange[] {
  const out: GtidRange[] = [];
  for (const [space, intervals] of set) {
    const top = topOf(base, space);
    const first = intervals[0]?.[0];
    if (top === undefined && first !== undefined && first > 1) out.push({ space, first: 1, last: first - 1 });
    out.push(...holes(new Map([[space, intervals]])).filter((h) => top === undefined || h.first > top));
  }
  return out;
}

/** Whether the set holds anything above what `base` holds, in any space. */
export function extendsBeyond(set: GtidSet, base: GtidSet): boolean {
  for (const [space, intervals] of set) {
    const top = Math.max(-1, ...(base.get(space) ?? []).map((i) => i[1]));
    if (intervals.some(([, b]) => b > top)) return true;
  }
  return false;
}

export function describeHole(flavor: BinlogFlavor, h: GtidRange): string {
  const span = h.first === h.last ? `${h.first}` : `${h.first}..${h.last}`;
  return flavor === 'mariadb' ? `domain ${h.space}, sequence numbers ${span}` : `${h.space}:${span}`;
}
