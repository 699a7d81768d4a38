/**
 * What a restore Job reports through its main container's termination message (`restore
 * bootstrap --result-file /dev/termination-log`): one JSON object of at most 4096 bytes, parsed
 * defensively (the message may be empty after a kill, cut, or a kubelet's own words).
 */
import type { PointReached } from './resources.js';
import { terminationObject } from './termination-message.js';

export type RestoreJobResult =
  | { phase: 'Succeeded'; backup: string | undefined; rows: number; bytes: number; tables: number; pointReached: PointReached }
  | { phase: 'Failed'; reason: string; message: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);

/** The point reached as status.initFromBackup / status.restoreInPlace hold it: absent fields left out. */
function pointReachedOf(v: unknown): PointReached {
  if (typeof v !== 'object' || v === null) return {};
  const p = v as Record<string, unknown>;
  const out: PointReached = {};
  const gtid = str(p.gtidExecuted);
  const time = str(p.time);
  const file = str(p.binlogFile);
  const pos = num(p.binlogPos);
  if (gtid !== undefined) out.gtidExecuted = gtid;
  // metav1.Time is whole seconds; the CRD checks the date-time format.
  if (time !== undefined && !Number.isNaN(Date.parse(time))) out.time = new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (file !== undefined) out.binlogFile = file;
  if (pos !== undefined) out.binlogPos = pos;
  return out;
}

/** The result in `message`, or null when it holds none (the caller then says what the Job's status says). */
export function parseRestoreJobResult(message: string | undefined): RestoreJobResult | null {
  const v = terminationObject(message);
  if (!v) return null;
  if (v.phase === 'Succeeded') {
    const rows = num(v.rows);
    const bytes = num(v.bytes);
    if (rows === undefined || bytes === undefined) return null;
    return { phase: 'Succeeded', backup: str(v.backup), rows, bytes, tables: num(v.tables) ?? 0, pointReached: pointReachedOf(v.pointReached) };
  }
  if (v.phase === 'Failed') return { phase: 'Failed', reason: str(v.reason) ?? 'RestoreFailed', message: str(v.message) ?? '' };
  return null;
}
