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

/** Holes between the intervals of each space: transactions nobody has. */
export function holes(set: GtidSet): Array<{ space: string; first: number; last: number }> {
  const out: Array<{ space: string; first: number; last: number }> = [];
  for (const [space, intervals] of set) {
    for (let i = 1; i < intervals.length; i++) out.push({ space, first: intervals[i - 1]![1] + 1, last: intervals[i]![0] - 1 });
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

export function describeHole(flavor: BinlogFlavor, h: { space: string; first: number; last: number }): string {
  const span = h.first === h.last ? `${h.first}` : `${h.first}..${h.last}`;
  return flavor === 'mariadb' ? `domain ${h.space}, sequence numbers ${span}` : `${h.space}:${span}`;
}
