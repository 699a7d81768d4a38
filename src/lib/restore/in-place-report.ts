/**
 * What `restore in-place` reports about itself in a compact, fixed shape: the plan of a dry run
 * (the `restorePlanSchema` shape of the Kubernetes status, `status.restoreInPlace.plan`) and the
 * outcome of a run, both for `--result-file` (at most 4096 bytes, Kubernetes' termination message
 * limit). Long lists are cut to fit, with how many were left out. Pure functions.
 */
import type { BackupRecord } from '../catalog/record.js';
import { formatMariadbGtidRanges, formatMysqlGtidSet, type MariadbGtidRange } from '../pitr/binlog-parser.js';
import { rangesSet, subtractSets } from '../pitr/gtid-space.js';
import type { PointInTimePlan } from '../pitr/window.js';
import type { RestorePlan } from './plan.js';
import type { InPlaceResult } from './restore-in-place.js';

/** The plan of an in-place restore, as `status.restoreInPlace.plan` holds it. */
export interface InPlacePlanReport {
  /** The stored backup loaded (its name, or the location when it has none). */
  backup: string;
  mode: 'instance' | 'schema';
  /** Schemas dropped before the load. */
  drop: string[];
  /** Schemas loaded. */
  load: string[];
  /** Archived binlogs replayed after the load, in order (empty without a point in time). */
  binlogs: Array<{ site: string; file: string }>;
  /**
   * The GTIDs the replay applies: what the replayed files hold beyond the backup's position, in
   * the archive's notation (MariaDB `domain-server-first..last`, MySQL `uuid:first-last`),
   * comma-separated; the file that crosses the target time may also hold some after it, which
   * the replay leaves out. Absent without a point in time.
   */
  gtidRanges?: string;
  /** Bytes read from storage: the backup's data files plus the binlogs. */
  expectedBytes: number;
  /** The fencing steps, in order, as sentences. */
  fencing: string[];
  /** How many entries of each list were left out to fit 4096 bytes (absent when none were). */
  omitted?: { drop?: number; load?: number; binlogs?: number };
}

/**
 * The fencing steps of an in-place restore at the server, as sentences: whole instance, the
 * global read_only raised and put back whatever happens, the load kept out of the binary log;
 * one schema, no fencing and the binary log on.
 */
export function serverFencingSteps(plan: Pick<RestorePlan, 'mode' | 'target' | 'ownFence' | 'load'>): string[] {
  if (plan.mode !== 'instance') {
    const schema = plan.load.schemas[0]?.name ?? '?';
    return [`No fencing: only schema ${schema} is dropped and reloaded; other schemas keep taking writes, and the binary log carries the change to replicas.`];
  }
  // A planned target is writable (the plan refuses a read-only one), unless the fence is one it takes over.
  const previous = plan.ownFence ? plan.ownFence.previous : 0;
  const steps = [
    `Set global read_only = 1 on ${plan.target} so that other clients' writes are refused (accounts with SUPER or READ_ONLY ADMIN are not held back).`,
    'Drop every user schema and load the backup without the binary log (sql_log_bin = 0): re-clone replicas afterwards.',
    `Put read_only back to ${previous} when the restore ends, whether it succeeds or fails.`,
  ];
  if (plan.ownFence) steps.unshift(`Take over the fence an earlier, killed in-place restore left up on ${plan.target} (raised at ${plan.ownFence.raisedAt}).`);
  return steps;
}

/**
 * The GTIDs a point-in-time plan replays: its files' transactions less those the backup holds
 * already (a file holding the backup's position also holds transactions from before it).
 */
function replayedGtids(pointInTime: PointInTimePlan): string {
  const { dump, files } = pointInTime;
  const ranges = files.flatMap((f) => f.gtidRanges);
  if (dump.flavor === 'mysql') {
    const left = subtractSets(rangesSet(ranges), dump.executed);
    return formatMysqlGtidSet([...left].map(([uuid, intervals]) => ({ uuid, intervals })));
  }
  // MariaDB: the backup's position is per domain, and each run keeps the server that wrote it.
  const runs: MariadbGtidRange[] = [];
  for (const r of ranges) {
    if (!('domain' in r)) continue;
    const space = String(r.domain);
    for (const [first, last] of subtractSets(new Map([[space, [[r.first, r.last]]]]), dump.executed).get(space) ?? []) runs.push({ ...r, first, last });
  }
  runs.sort((a, b) => a.domain - b.domain || a.server - b.server || a.first - b.first);
  const merged: MariadbGtidRange[] = [];
  for (const r of runs) {
    const prev = merged.at(-1);
    if (prev && prev.domain === r.domain && prev.server === r.server && r.first <= prev.last + 1) prev.last = Math.max(prev.last, r.last);
    else merged.push({ ...r });
  }
  return formatMariadbGtidRanges(merged);
}

/** The plan report of a checked plan (and, for a point in time, the binlogs it replays). */
export function inPlacePlanReport(plan: RestorePlan, pointInTime: PointInTimePlan | undefined): InPlacePlanReport {
  const dataBytes = [...plan.load.files.values()].reduce((n, f) => n + f.bytes, 0);
  const files = pointInTime?.files ?? [];
  return {
    backup: plan.backup ?? plan.source,
    mode: plan.mode === 'instance' ? 'instance' : 'schema',
    drop: [...plan.drop],
    load: plan.load.schemas.map((s) => s.name),
    binlogs: files.map((f) => ({ site: f.site, file: f.file })),
    ...(pointInTime ? { gtidRanges: replayedGtids(pointInTime) } : {}),
    expectedBytes: dataBytes + files.reduce((n, f) => n + f.size, 0),
    fencing: serverFencingSteps(plan),
  };
}

/** The plan report's lines for the text dry run (after describePlan's). */
export function describePlanReport(report: InPlacePlanReport): string[] {
  const lines = [`  bytes      ${report.expectedBytes} to read from storage`];
  if (report.gtidRanges !== undefined) {
    lines.push(`  replays    ${report.binlogs.length} archived binlog(s)${report.binlogs.length > 0 ? `: ${report.binlogs.map((b) => `${b.site}/${b.file}`).join(', ')}` : ''}`);
    lines.push(`  GTIDs      ${report.gtidRanges || '(none)'}`);
  }
  lines.push('  fencing:');
  for (const step of report.fencing) lines.push(`    - ${step}`);
  return lines;
}

const resultLimit = 4096;
const size = (doc: object): number => Buffer.byteLength(JSON.stringify(doc));

/**
 * `{phase: "Planned", plan}` cut to fit `limit` bytes: the longest list (binlogs, then drop, then
 * load) loses entries from its end, and `plan.omitted` counts them. The GTID list is cut last.
 */
export function plannedResult(report: InPlacePlanReport, limit = resultLimit): { phase: 'Planned'; plan: InPlacePlanReport } {
  const plan: InPlacePlanReport = { ...report, drop: [...report.drop], load: [...report.load], binlogs: [...report.binlogs] };
  const omitted: NonNullable<InPlacePlanReport['omitted']> = {};
  const doc = (): { phase: 'Planned'; plan: InPlacePlanReport } => ({ phase: 'Planned', plan: Object.keys(omitted).length > 0 ? { ...plan, omitted } : plan });
  const lists = ['binlogs', 'drop', 'load'] as const;
  while (size(doc()) > limit) {
    const longest = lists.filter((k) => plan[k].length > 1).sort((a, b) => size(plan[b]) - size(plan[a]))[0];
    if (longest) {
      plan[longest].pop();
      omitted[longest] = (omitted[longest] ?? 0) + 1;
      continue;
    }
    // Then the GTID list loses elements from its end ("…" says so).
    const parts = (plan.gtidRanges ?? '').replace(/,?…$/, '').split(',').filter(Boolean);
    if (parts.length > 0) {
      parts.pop();
      plan.gtidRanges = [...parts, '…'].join(',');
      continue;
    }
    plan.fencing = plan.fencing.map((s) => (s.length > 200 ? `${s.slice(0, 199)}…` : s));
    break;
  }
  return doc();
}

/** Where an in-place restore left the server: the replay's end, or the backup's own point without one. */
export interface InPlacePointReached {
  gtidExecuted?: string;
  time?: string;
  binlogFile?: string;
  binlogPos?: number;
}

/** The success document of `restore in-place --result-file`. */
export interface InPlaceSucceededResult {
  phase: 'Succeeded';
  backup: string;
  mode: 'instance' | 'schema';
  dropped: string[];
  rows: number;
  bytes: number;
  /** Seconds other clients' writes were fenced off (0 in schema mode). */
  fencedSeconds: number;
  pointReached: InPlacePointReached;
  /** Dropped schemas left out to fit 4096 bytes. */
  droppedOmitted?: number;
}

/** The success document from the run's result and the backup's record (null for a dump without one). */
export function inPlaceSucceededResult(result: InPlaceResult, record: BackupRecord | null, limit = resultLimit): InPlaceSucceededResult {
  let pointReached: InPlacePointReached;
  if (result.pitr) {
    // The last transaction replayed: its time (whole seconds, as metav1.Time), GTID, and where it ends in the archived binlog.
    const at = result.pitr.lastAppliedAt;
    pointReached = {
      ...(result.pitr.lastAppliedTime ? { time: result.pitr.lastAppliedTime.replace(/\.\d+Z$/, 'Z') } : {}),
      ...(result.pitr.lastAppliedGtid ? { gtidExecuted: result.pitr.lastAppliedGtid } : {}),
      ...(at ? { binlogFile: at.file, binlogPos: at.position } : {}),
    };
  } else {
    const time = record?.snapshotAt ?? record?.completedAt ?? undefined;
    pointReached = {
      ...(record?.gtidExecuted ? { gtidExecuted: record.gtidExecuted } : {}),
      ...(time ? { time: time.replace(/\.\d+Z$/, 'Z') } : {}),
      ...(record?.binlogFile ? { binlogFile: record.binlogFile } : {}),
      ...(record?.binlogPos !== null && record?.binlogPos !== undefined ? { binlogPos: record.binlogPos } : {}),
    };
  }
  const doc: InPlaceSucceededResult = {
    phase: 'Succeeded',
    backup: result.backup ?? result.source,
    mode: result.mode,
    dropped: [...result.dropped],
    rows: result.rows,
    bytes: result.bytes,
    fencedSeconds: Math.round(result.fencedMs / 100) / 10,
    pointReached,
  };
  // A long GTID set goes first (the record keeps it whole), then dropped schemas from the end.
  if (size(doc) > limit && doc.pointReached.gtidExecuted) delete doc.pointReached.gtidExecuted;
  while (size(doc) > limit && doc.dropped.length > 0) {
    doc.dropped.pop();
    doc.droppedOmitted = (doc.droppedOmitted ?? 0) + 1;
  }
  return doc;
}
