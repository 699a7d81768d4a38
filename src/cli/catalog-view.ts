/** How catalog entries read for a person and in --json. */
import type { CatalogEntry } from '../lib/catalog/catalog.js';
import type { BackupRecord } from '../lib/catalog/record.js';
import { formatBytes, formatDuration } from '../lib/sizes.js';

/** The record as the catalog sees it: its real phase, why it failed, whether it was verified. */
export type ListedBackup = Partial<BackupRecord> &
  Pick<BackupRecord, 'name' | 'phase'> & {
    verified: boolean;
    verification: 'passed' | 'failed' | null;
    /** When its last verification ran (RFC 3339), or null. */
    verifiedAt: string | null;
    failureReason: string | null;
    heldBytes: number;
  };

export function listedBackup(e: CatalogEntry): ListedBackup {
  return {
    ...(e.record ?? {}),
    name: e.name,
    phase: e.phase,
    startedAt: e.startedAt.toISOString(),
    verified: e.verified,
    verification: e.verification,
    verifiedAt: e.verifiedAt,
    failureReason: e.failure,
    heldBytes: e.heldBytes,
  };
}

/** yes, FAILED (verify said the backup is not what its record says), or no (never verified). */
export function verificationLabel(v: 'passed' | 'failed' | null): string {
  return v === 'passed' ? 'yes' : v === 'failed' ? 'FAILED' : 'no';
}

export function age(from: Date, now: Date): string {
  return `${formatDuration(Math.max(0, now.getTime() - from.getTime()))} ago`;
}

export function durationOf(e: CatalogEntry): string {
  const r = e.record;
  if (!r?.completedAt) return '-';
  return formatDuration(Date.parse(r.completedAt) - Date.parse(r.startedAt));
}

/**
 * A backup's size; for one that is not a backup (failed, being deleted) what its folder still
 * occupies, since that is the space it costs (its record's size says nothing about it).
 */
export function sizeOf(e: CatalogEntry): string {
  return sizeLabel(e.phase, e.record?.sizeBytes ?? 0, e.heldBytes);
}

/** sizeOf, from the figures alone (`status` has them without the entry). */
export function sizeLabel(phase: CatalogEntry['phase'], sizeBytes: number, heldBytes: number): string {
  if (phase === 'Failed' || phase === 'Deleting') return `${formatBytes(heldBytes)} left`;
  return sizeBytes > 0 ? formatBytes(sizeBytes) : '-';
}
