/**
 * What a verification Job reports through its pod's termination message (`verify --result-file`,
 * src/cli/result-file.ts): one JSON object of at most 4096 bytes. Either the verification ran to
 * the end (`ended`: Passed, or Failed with what did not match), or it could not (`error`: a reason
 * code and a message). Parsed defensively, like backup-result.ts: the message may be empty (the
 * process was killed), cut short, or the kubelet's own ("OOMKilled"); then null.
 */
import type { VerificationMismatch } from './resources.js';
import { terminationObject } from './termination-message.js';

export type VerificationJobResult =
  | {
      kind: 'ended';
      phase: 'Passed' | 'Failed';
      backup: string;
      tables: number;
      rows: number;
      objects: number;
      bytes: number;
      /** Seconds the scratch restore took. */
      restoreSeconds: number;
      mismatches: VerificationMismatch[];
      /** Mismatches left out of the message to fit 4096 bytes. */
      mismatchesOmitted: number;
      message: string;
    }
  | { kind: 'error'; backup?: string; reason: string; message: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

function mismatchesOf(value: unknown): VerificationMismatch[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((m: unknown) => {
    if (typeof m !== 'object' || m === null) return [];
    const r = m as Record<string, unknown>;
    const object = str(r.object);
    const check = str(r.check);
    if (object === undefined || check === undefined) return [];
    const expected = str(r.expected);
    const actual = str(r.actual);
    return [{ object, check, ...(expected === undefined ? {} : { expected }), ...(actual === undefined ? {} : { actual }) }];
  });
}

/** The result in `message`, or null when it holds none (the caller then goes by the Job's status). */
export function parseVerificationJobResult(message: string | undefined): VerificationJobResult | null {
  const v = terminationObject(message);
  if (!v) return null;
  if (v.phase !== 'Passed' && v.phase !== 'Failed') return null;
  const backup = str(v.backup);
  // An ended run always names its backup and counts its tables; an error has a reason instead.
  if (backup !== undefined && typeof v.tables === 'number' && v.reason === undefined) {
    return {
      kind: 'ended',
      phase: v.phase,
      backup,
      tables: count(v.tables),
      rows: count(v.rows),
      objects: count(v.objects),
      bytes: count(v.bytes),
      restoreSeconds: count(v.restoreSeconds),
      mismatches: mismatchesOf(v.mismatches),
      mismatchesOmitted: count(v.mismatchesOmitted),
      message: str(v.message) ?? '',
    };
  }
  if (v.phase !== 'Failed') return null;
  return { kind: 'error', ...(backup === undefined ? {} : { backup }), reason: str(v.reason) ?? 'VerificationFailed', message: str(v.message) ?? '' };
}
