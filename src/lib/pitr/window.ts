/**
 * What point-in-time recovery can reach, from storage alone: the complete backups of the catalog
 * and the manifests of the binlog archive. Only what the stored GTID sets prove counts:
 *
 * - a backup's own snapshot is restorable;
 * - from there, the archive carries it forward as long as its files continue the backup's GTID
 *   position without a hole (gtid-space.ts: per MariaDB domain or MySQL source UUID, whichever
 *   site wrote the file), up to the last archived event;
 * - a transaction known to exist that the archive lacks (a hole in the numbering, or one a later
 *   backup holds) ends that coverage at the last archived event before it;
 * - a later backup whose executed set the backup and the archive hold proves that nothing else
 *   happened up to its snapshot: the span up to it is covered too (with no archive at all, when
 *   both backups hold the same transactions).
 *
 * The window is the union of these coverages: ranges of restorable times (a snapshot alone is a
 * range whose ends are equal) and the gaps between them, each saying why it is not covered. For a
 * target time, the plan picks the newest backup whose coverage holds it, or refuses, naming the
 * nearest restorable times.
 */
import type { CatalogEntry } from '../catalog/catalog.js';
import { isRestorable } from '../catalog/catalog.js';
import { PreconditionError } from '../errors.js';
import type { BinlogFlavor } from './binlog-parser.js';
import {
  containsSet,
  describeHole,
  executedSet,
  extendsBeyond,
  gapsBeyond,
  rangesSet,
  setRanges,
  subtractSets,
  unionSets,
  type GtidRange,
  type GtidSet,
} from './gtid-space.js';
import type { ArchivedBinlog, SiteManifest } from './manifest.js';
import type { RestoredServer } from '../catalog/in-place-history.js';

/** A span of restorable times, both ends included. */
export interface PitrRange {
  /** RFC 3339. Equal to `to` when the range is a backup's snapshot alone. */
  from: string;
  to: string;
  /** The backups whose coverage starts in the range (names, oldest first). */
  backups: string[];
}

/** Times that are not restorable: after a range, up to the next one. */
export interface PitrGap {
  /** The end of the range before (RFC 3339). */
  from: string;
  /** The start of the range after; null when none follows (the archive goes on past a hole no later backup bridges). */
  to: string | null;
  reason: string;
}

export interface PitrWindow {
  /** The earliest and the latest restorable time (RFC 3339); null when nothing is restorable. */
  from: string | null;
  to: string | null;
  /** Restorable times, oldest first; nothing between two ranges is restorable. */
  ranges: PitrRange[];
  /** Between two ranges (and after the last one when something is known to lie beyond it): why not restorable. */
  gaps: PitrGap[];
  /** Why there is no window, when there is none. */
  reason: string | null;
  sites: string[];
  files: number;
}

export interface RestorableDump {
  entry: CatalogEntry;
  snapshotAt: Date;
  flavor: BinlogFlavor;
  executed: GtidSet;
}

/** The complete dumps that can anchor a point-in-time restore, oldest first. */
export function restorableDumps(entries: readonly CatalogEntry[]): RestorableDump[] {
  return entries
    .filter((e) => isRestorable(e) && e.record)
    .map((e) => {
      const r = e.record!;
      const flavor: BinlogFlavor = r.source.flavor === 'mysql' ? 'mysql' : 'mariadb';
      return { entry: e, snapshotAt: new Date(r.snapshotAt ?? r.startedAt), flavor, executed: executedSet(flavor, r.gtidExecuted ?? '') };
    })
    .sort((a, b) => a.snapshotAt.getTime() - b.snapshotAt.getTime());
}

/** What one backup, with the archive and the later backups, proves restorable. */
interface Coverage {
  dump: RestorableDump;
  /** The backup's snapshot. */
  from: Date;
  to: Date;
  /** Why coverage ends at `to` although something is known to lie after it; null when the evidence simply ends there. */
  stop: string | null;
}

function archived(manifests: readonly SiteManifest[]): ArchivedBinlog[] {
  return manifests.flatMap((m) => m.entries);
}

/** The archive as coverage needs it: each file with its GTIDs as a set, and all of them together. */
interface ArchiveSets {
  files: Array<{ file: ArchivedBinlog; gtids: GtidSet }>;
  all: GtidSet;
}

function archiveSets(files: readonly ArchivedBinlog[]): ArchiveSets {
  const sets = files.map((file) => ({ file, gtids: rangesSet(file.gtidRanges) }));
  return { files: sets, all: unionSets(...sets.map((f) => f.gtids)) };
}

function latest(floor: Date, times: ReadonlyArray<string | null>): Date {
  return new Date(Math.max(floor.getTime(), ...times.filter((t): t is string => t !== null).map((t) => Date.parse(t))));
}

/**
 * The time of the last archived event before the missing transactions (never before `floor`, the
 * backup's snapshot): a later one may need them. A file that also holds numbers past them was
 * written across the hole, so only its first event is surely before it.
 */
function lastArchivedBefore(missing: GtidRange, archive: ArchiveSets, floor: Date): Date {
  return latest(
    floor,
    archive.files.map(({ file, gtids }) => {
      const intervals = gtids.get(missing.space) ?? [];
      if (!intervals.some(([first]) => first < missing.first)) return null;
      return intervals.some(([, last]) => last > missing.last) ? file.firstEventTime : file.lastEventTime;
    }),
  );
}

function missingReason(flavor: BinlogFlavor, missing: GtidRange, later: readonly RestorableDump[]): string {
  const holder = later.find((d) => (d.executed.get(missing.space) ?? []).some(([first, last]) => first <= missing.last && last >= missing.first));
  const all = holder && (holder.executed.get(missing.space) ?? []).some(([first, last]) => first <= missing.first && last >= missing.last);
  return `transactions missing from the archive: ${describeHole(flavor, missing)}${holder ? ` (backup ${holder.entry.name} holds ${all ? 'them' : 'some of them'})` : ''}`;
}

/**
 * A moment after which the server's binary log does not carry on from what came before: a
 * whole-instance in-place restore, which reloads a backup outside the binary log. No coverage
 * reaches across one.
 */
export interface CoverageBreak {
  at: Date;
  reason: string;
  /** The server restored: only coverage of its own backups is cut. Absent (older records): every coverage. */
  server?: RestoredServer;
}

/**
 * Whether `server` is the server a backup was taken from: by @@server_uuid where both have one,
 * else by @@server_id, @@hostname and the port (two servers on one host share a hostname, and
 * may share a server id).
 */
function isSourceOf(server: RestoredServer, dump: RestorableDump): boolean {
  const source = dump.entry.record?.source;
  if (!source) return true;
  if (server.uuid && source.serverUuid) return server.uuid === source.serverUuid;
  if (source.serverId !== null && source.serverId !== server.serverId) return false;
  if (source.hostname !== null && source.hostname !== server.hostname) return false;
  const port = /:(\d+)$/.exec(source.target)?.[1];
  return port === undefined || server.port === null || Number(port) === server.port;
}

/** Ends `c` just before the first break after its start. */
function clipAtBreak(c: Coverage, breaks: readonly CoverageBreak[]): Coverage {
  const first = breaks.filter((b) => b.at > c.from && b.at <= c.to).sort((a, b) => a.at.getTime() - b.at.getTime())[0];
  return first ? { ...c, to: new Date(first.at.getTime() - 1), stop: first.reason } : c;
}

function coverageOf(dump: RestorableDump, later: readonly RestorableDump[], archive: ArchiveSets): Coverage {
  const snapshot = dump.snapshotAt;
  if (dump.executed.size === 0) {
    return { dump, from: snapshot, to: snapshot, stop: `backup ${dump.entry.name} recorded no GTID position, so no binlog can be shown to carry on from it` };
  }
  const have = unionSets(dump.executed, archive.all);
  const known = unionSets(have, ...later.map((d) => d.executed));
  const missing = [...gapsBeyond(dump.executed, known), ...setRanges(subtractSets(known, have))]
    .map((m) => ({ m, before: lastArchivedBefore(m, archive, snapshot) }))
    .sort((a, b) => a.before.getTime() - b.before.getTime());
  const first = missing[0];
  let to = first ? first.before : latest(snapshot, archive.files.map((f) => f.file.lastEventTime));
  for (const d of later) if (containsSet(have, d.executed) && d.snapshotAt > to) to = d.snapshotAt;
  return { dump, from: snapshot, to, stop: first ? missingReason(dump.flavor, first.m, later) : null };
}

/** Each backup's coverage, oldest backup first, none reaching across a break. */
function coverages(dumps: readonly RestorableDump[], files: readonly ArchivedBinlog[], breaks: readonly CoverageBreak[]): Coverage[] {
  const archive = archiveSets(files);
  return dumps.map((d) =>
    clipAtBreak(
      coverageOf(d, dumps.filter((l) => l.snapshotAt > d.snapshotAt), archive),
      breaks.filter((b) => !b.server || isSourceOf(b.server, d)),
    ),
  );
}

function windowOf(covered: readonly Coverage[], manifests: readonly SiteManifest[]): PitrWindow {
  const sites = manifests.map((m) => m.site).sort();
  const files = archived(manifests).length;
  if (covered.length === 0) return { from: null, to: null, ranges: [], gaps: [], reason: 'there is no complete backup to start from', sites, files };
  const merged: Array<{ from: Date; to: Date; backups: string[]; end: Coverage }> = [];
  for (const c of [...covered].sort((a, b) => a.from.getTime() - b.from.getTime())) {
    const last = merged.at(-1);
    if (last && c.from <= last.to) {
      last.backups.push(c.dump.entry.name);
      if (c.to >= last.to) Object.assign(last, { to: c.to, end: c });
    } else merged.push({ from: c.from, to: c.to, backups: [c.dump.entry.name], end: c });
  }
  const gaps: PitrGap[] = [];
  merged.forEach((r, i) => {
    const next = merged[i + 1];
    if (next || r.end.stop) gaps.push({ from: r.to.toISOString(), to: next ? next.from.toISOString() : null, reason: r.end.stop ?? 'no archived binlog continues it' });
  });
  const ranges = merged.map((r) => ({ from: r.from.toISOString(), to: r.to.toISOString(), backups: r.backups }));
  return { from: ranges[0]!.from, to: ranges.at(-1)!.to, ranges, gaps, reason: null, sites, files };
}

/**
 * The restorable window: per complete backup, its snapshot and what the archive (and the later
 * backups) prove restorable after it, merged into ranges, with the gaps between them.
 */
export function computeWindow(entries: readonly CatalogEntry[], manifests: readonly SiteManifest[], breaks: readonly CoverageBreak[] = []): PitrWindow {
  return windowOf(coverages(restorableDumps(entries), archived(manifests), breaks), manifests);
}

export interface PointInTimePlan {
  /** The target time (RFC 3339). */
  target: string;
  dump: RestorableDump;
  /** What the dump's coverage proves restorable (RFC 3339); it holds the target. */
  coverage: { from: string; to: string };
  /** Archived files to replay, in order: those holding transactions after the dump and not after the target. */
  files: ArchivedBinlog[];
  /**
   * Transactions the server must hold once the replay is done: every archived one beyond the dump
   * in a file whose last event is not after the target. A replay that would fall short fails.
   */
  required: GtidSet;
  window: PitrWindow;
}

function describeSpan(from: string, to: string): string {
  return from === to ? `${from} only` : `${from} to ${to}`;
}

/** Why `target` is outside the window, and the restorable times nearest to it. */
function whyOutside(window: PitrWindow, target: Date): string {
  if (window.ranges.length === 0) return window.reason ?? 'nothing is restorable';
  const t = target.toISOString();
  const before = window.ranges.filter((r) => r.to < t).at(-1)?.to;
  const after = window.ranges.find((r) => r.from > t)?.from;
  const gap = window.gaps.find((g) => g.from === before);
  const why =
    before === undefined
      ? 'it is before the oldest complete backup'
      : after === undefined
        ? `it is after the last restorable time${gap ? ` (${gap.reason})` : ', the last archived binlog event or backup'}`
        : `nothing between ${before} and ${after} is restorable (${gap?.reason ?? 'no archived binlog covers it'})`;
  return `${why}; the nearest restorable times are ${before ?? 'none'} before it and ${after ?? 'none'} after it`;
}

/**
 * The dump and binlogs a restore to `target` needs: the newest complete backup whose proven
 * coverage holds the target (or `backupName`, which must), and the archived files to replay.
 *
 * @throws PreconditionError (PITR_OUT_OF_RANGE, exit 3) when no backup's coverage holds the
 *   target, naming the nearest restorable times before and after it.
 */
export function planPointInTime(
  entries: readonly CatalogEntry[],
  manifests: readonly SiteManifest[],
  target: Date,
  backupName?: string,
  breaks: readonly CoverageBreak[] = [],
): PointInTimePlan {
  const files = archived(manifests);
  const covered = coverages(restorableDumps(entries), files, breaks);
  const window = windowOf(covered, manifests);
  const t = target.getTime();
  const holds = (c: Coverage): boolean => c.from.getTime() <= t && t <= c.to.getTime();
  const refuse = (why: string, hint: string): never => {
    throw new PreconditionError('PITR_OUT_OF_RANGE', `cannot restore to ${target.toISOString()}: ${why}`, { hint });
  };
  const archiveHint = 'pick a restorable time (bloodraven pitr window lists them); keep the binlog archive running (bloodraven pitr archive) so that later times are covered';
  let chosen: Coverage | undefined;
  if (backupName) {
    chosen = covered.find((c) => c.dump.entry.name === backupName);
    if (!chosen) refuse(`backup ${backupName} is not a complete backup`, 'name a complete backup (bloodraven backup list), or leave --backup out');
    else if (!holds(chosen)) {
      const span = describeSpan(chosen.from.toISOString(), chosen.to.toISOString());
      refuse(`a restore from backup ${backupName} reaches only ${span}${chosen.stop ? ` (${chosen.stop})` : ''}`, `pick a time in that span, or leave --backup out to start from the backup that reaches it; ${archiveHint}`);
    }
  } else chosen = covered.filter(holds).at(-1);
  if (!chosen) return refuse(whyOutside(window, target), archiveHint);
  const dump = chosen.dump;
  const iso = target.toISOString();
  // Without a GTID position nothing shows which files come after the dump; its coverage is its snapshot alone.
  const replayed = files
    .filter((f) => dump.executed.size > 0 && f.firstEventTime !== null && f.firstEventTime <= iso && extendsBeyond(rangesSet(f.gtidRanges), dump.executed))
    .sort((a, b) => (a.firstEventTime ?? '').localeCompare(b.firstEventTime ?? '') || a.site.localeCompare(b.site) || a.file.localeCompare(b.file));
  const required = unionSets(...replayed.filter((f) => f.lastEventTime !== null && f.lastEventTime <= iso).map((f) => subtractSets(rangesSet(f.gtidRanges), dump.executed)));
  return { target: iso, dump, coverage: { from: chosen.from.toISOString(), to: chosen.to.toISOString() }, files: replayed, required, window };
}
