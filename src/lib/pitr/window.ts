/**
 * What point-in-time recovery can reach, from storage alone: the complete dumps of the catalog
 * and the manifests of the binlog archive.
 *
 * - `from`: the oldest complete dump's snapshot; `to`: the last archived event (or the newest
 *   snapshot, if later);
 * - `gaps`: transactions missing from the archive (holes in a GTID space: a binlog never archived,
 *   a failover where the new primary's files do not carry on from the old one's), each with the
 *   time span it leaves uncovered. A gap is reported, never bridged.
 *
 * And, for a target time, which dump to load and which archived files to replay (or why not).
 */
import type { CatalogEntry } from '../catalog/catalog.js';
import { isRestorable } from '../catalog/catalog.js';
import { PreconditionError } from '../errors.js';
import type { BinlogFlavor } from './binlog-parser.js';
import { describeHole, executedSet, extendsBeyond, holes, rangesSet, unionSets, type GtidSet } from './gtid-space.js';
import type { ArchivedBinlog, SiteManifest } from './manifest.js';

export interface PitrGap {
  /** The last archived event before the missing transactions. */
  from: string | null;
  /** The first archived event after them. */
  to: string | null;
  reason: string;
}

export interface PitrWindow {
  from: string | null;
  to: string | null;
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

function archived(manifests: readonly SiteManifest[]): ArchivedBinlog[] {
  return manifests.flatMap((m) => m.entries);
}

/** Gaps in the archive after `base` (the executed set of a dump). */
function gapsAfter(flavor: BinlogFlavor, base: GtidSet, files: readonly ArchivedBinlog[]): PitrGap[] {
  const all = unionSets(base, ...files.map((f) => rangesSet(f.gtidRanges)));
  return holes(all).map((h) => {
    const before = files
      .filter((f) => rangesSet(f.gtidRanges).get(h.space)?.some(([, last]) => last < h.first))
      .map((f) => f.lastEventTime)
      .filter((t): t is string => t !== null)
      .sort()
      .at(-1);
    const after = files
      .filter((f) => rangesSet(f.gtidRanges).get(h.space)?.some(([first]) => first > h.last))
      .map((f) => f.firstEventTime)
      .filter((t): t is string => t !== null)
      .sort()[0];
    return { from: before ?? null, to: after ?? null, reason: `transactions missing from the archive: ${describeHole(flavor, h)}` };
  });
}

export function computeWindow(entries: readonly CatalogEntry[], manifests: readonly SiteManifest[]): PitrWindow {
  const dumps = restorableDumps(entries);
  const files = archived(manifests);
  const sites = manifests.map((m) => m.site).sort();
  const oldest = dumps[0];
  if (!oldest) return { from: null, to: null, gaps: [], reason: 'there is no complete backup to start from', sites, files: files.length };
  const newestSnapshot = dumps[dumps.length - 1]!.snapshotAt.toISOString();
  const lastEvent = files
    .map((f) => f.lastEventTime)
    .filter((t): t is string => t !== null)
    .sort()
    .at(-1);
  return {
    from: oldest.snapshotAt.toISOString(),
    to: lastEvent && lastEvent > newestSnapshot ? lastEvent : newestSnapshot,
    gaps: gapsAfter(oldest.flavor, oldest.executed, files),
    reason: null,
    sites,
    files: files.length,
  };
}

export interface PointInTimePlan {
  dump: RestorableDump;
  /** Archived files to replay, in order: those holding transactions after the dump and not after the target. */
  files: ArchivedBinlog[];
  window: PitrWindow;
}

function describeWindow(w: PitrWindow): string {
  if (!w.from) return w.reason ?? 'nothing is restorable';
  const gaps = w.gaps.length > 0 ? `, except ${w.gaps.map((g) => `${g.from ?? '?'} to ${g.to ?? '?'}`).join(', ')}` : '';
  return `${w.from} to ${w.to ?? w.from}${gaps}`;
}

/**
 * The dump and binlogs a restore to `target` needs. Refuses (PreconditionError, exit 3) a target
 * outside the window, or one whose replay would cross a gap, naming the range available.
 */
export function planPointInTime(entries: readonly CatalogEntry[], manifests: readonly SiteManifest[], target: Date, backupName?: string): PointInTimePlan {
  const window = computeWindow(entries, manifests);
  const dumps = restorableDumps(entries).filter((d) => d.snapshotAt.getTime() <= target.getTime());
  const refuse = (why: string): never => {
    throw new PreconditionError('PITR_OUT_OF_RANGE', `cannot restore to ${target.toISOString()}: ${why}; the restorable range is ${describeWindow(window)}`, {
      hint: 'pick a time inside the restorable range (bloodraven pitr window)',
    });
  };
  const dump = backupName ? dumps.find((d) => d.entry.name === backupName) : dumps[dumps.length - 1];
  if (!dump) return refuse(backupName ? `backup ${backupName} is not a complete backup taken before it` : 'no complete backup was taken before it');
  if (window.to && target.getTime() > Date.parse(window.to)) refuse(`it is after the last archived event (${window.to})`);
  const files = archived(manifests)
    .filter((f) => f.firstEventTime !== null && f.firstEventTime <= target.toISOString() && extendsBeyond(rangesSet(f.gtidRanges), dump.executed))
    .sort((a, b) => (a.firstEventTime ?? '').localeCompare(b.firstEventTime ?? '') || a.site.localeCompare(b.site) || a.file.localeCompare(b.file));
  // Any transaction the replay needs that the archive lacks: the gaps between the dump and the target.
  const crossed = gapsAfter(dump.flavor, dump.executed, archived(manifests)).filter((g) => g.from === null || g.from < target.toISOString());
  if (crossed.length > 0) refuse(`the replay from ${dump.entry.name} would cross a gap (${crossed.map((g) => g.reason).join('; ')})`);
  return { dump, files, window };
}
