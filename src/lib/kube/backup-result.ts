/**
 * What a backup Job reports through its pod's termination message (`backup now --result-file`):
 * one JSON object, at most 4096 bytes. Parsed defensively: the message may be empty (the
 * process was killed), cut short, or not ours (a kubelet message like "OOMKilled").
 */
import { terminationObject } from './termination-message.js';

export type BackupJobResult =
  | {
      phase: 'Succeeded';
      name: string;
      location: string;
      sizeBytes: number;
      gtidExecuted: string;
      binlogFile: string;
      binlogPos: number;
      startTime?: string;
      completionTime?: string;
      gtidExecutedTruncated?: boolean;
    }
  | { phase: 'Failed'; name?: string; reason: string; message: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);

/** The result in `message`, or null when it holds none (then the caller falls back to the Job's status). */
export function parseBackupJobResult(message: string | undefined): BackupJobResult | null {
  const v = terminationObject(message);
  if (!v) return null;
  if (v.phase === 'Succeeded') {
    const name = str(v.name);
    const location = str(v.location);
    const sizeBytes = num(v.sizeBytes);
    if (name === undefined || location === undefined || sizeBytes === undefined) return null;
    return {
      phase: 'Succeeded',
      name,
      location,
      sizeBytes,
      gtidExecuted: str(v.gtidExecuted) ?? '',
      binlogFile: str(v.binlogFile) ?? '',
      binlogPos: num(v.binlogPos) ?? 0,
      ...(str(v.startTime) === undefined ? {} : { startTime: str(v.startTime) }),
      ...(str(v.completionTime) === undefined ? {} : { completionTime: str(v.completionTime) }),
      ...(v.gtidExecutedTruncated === true ? { gtidExecutedTruncated: true } : {}),
    };
  }
  if (v.phase === 'Failed') {
    const name = str(v.name);
    return { phase: 'Failed', ...(name === undefined ? {} : { name }), reason: str(v.reason) ?? 'BackupFailed', message: str(v.message) ?? '' };
  }
  return null;
}
