/**
 * Scheduled verification (a profile's `verification`): at each time of its schedule, the newest
 * Succeeded backup is verified as `bloodraven verify` does it (verify-backup.ts), unless there is
 * nothing new to prove:
 *
 * - no Succeeded backup: skipped, saying so;
 * - the newest one already passed a verification: skipped, saying so. Its files and record have not
 *   changed since (a backup is never rewritten), so the same proof again would add nothing but
 *   load; the next new backup is verified at the next time;
 * - never verified, or its last verification failed: verified (a failure is tried again, so a
 *   transient fault of the scratch server clears, and a real one keeps being reported).
 */
import { isRestorable, listBackups, type CatalogEntry } from '../catalog/catalog.js';
import { verificationFileName } from '../catalog/names.js';
import { readJson } from '../storage/json.js';
import type { ObjectStore } from '../storage/object-store.js';
import { verifyBackup, type VerificationResult, type VerifyDeps } from './verify-backup.js';

/** What a scheduled time does: verify `entry`, or skip (with the newest backup, if any, and why). */
export type ScheduledVerificationChoice = { action: 'verify'; entry: CatalogEntry; reason: string } | { action: 'skip'; entry: CatalogEntry | null; reason: string };

/** The choice above, from a profile's catalog (any order). Pure. */
export function chooseBackupToVerify(entries: readonly CatalogEntry[]): ScheduledVerificationChoice {
  const newest = [...entries].filter(isRestorable).sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.name.localeCompare(a.name))[0];
  if (!newest) return { action: 'skip', entry: null, reason: 'there is no Succeeded backup to verify yet' };
  if (newest.verification === 'passed') {
    return {
      action: 'skip',
      entry: newest,
      reason: `the newest Succeeded backup, ${newest.name}, already passed verification${newest.verifiedAt ? ` at ${newest.verifiedAt}` : ''}; it is not repeated until a newer backup exists`,
    };
  }
  return { action: 'verify', entry: newest, reason: newest.verification === 'failed' ? 'its last verification failed' : 'it was never verified' };
}

/** How a scheduled time ended: skipped (nothing to prove), or a verification result (passed or not: `result.ok`). */
export type ScheduledVerificationOutcome = { kind: 'skipped'; backup: string | null; reason: string } | { kind: 'verified'; result: VerificationResult; reason: string };

/**
 * Runs one scheduled time for the profile whose storage `deps.store` is: chooses, then verifies
 * (saving `verification.json` beside the backup). `onStart` is told which backup is verified,
 * before the work begins. Throws what verifyBackup throws (an interrupt, a scratch server that
 * cannot take the backup, the backup removed meanwhile: BACKUP_GONE); nothing is saved then.
 */
export async function runScheduledVerification(
  deps: VerifyDeps,
  options: { threads: number },
  run: { signal: AbortSignal; onStart?: (entry: CatalogEntry, reason: string) => void },
): Promise<ScheduledVerificationOutcome> {
  // The daemon may verify before the first backup created the folder.
  const entries = await listBackups(deps.store, { now: deps.clock.now(), signal: run.signal, missingStorageIsEmpty: true });
  const choice = chooseBackupToVerify(entries);
  if (choice.action === 'skip') return { kind: 'skipped', backup: choice.entry?.name ?? null, reason: choice.reason };
  run.onStart?.(choice.entry, choice.reason);
  const result = await verifyBackup(deps, choice.entry, options, { signal: run.signal });
  return { kind: 'verified', result, reason: choice.reason };
}

/**
 * What did not match in a verification that failed, one line each: the files (with the problem),
 * the tables (rows and checksums, as `schema.table`), and why the restore could not finish.
 * Empty for a result that passed.
 */
export function verificationProblems(result: VerificationResult): string[] {
  return [
    ...result.files.failed.map((f) => `file ${f.name}: ${f.problem ?? 'mismatch'}`),
    ...result.tables
      .filter((t) => !t.ok)
      .map((t) => `table ${t.schema}.${t.table}: ${t.actualRows ?? 'no'} rows (expected ${t.expectedRows}), checksum ${t.actualChecksum ?? '-'} (expected ${t.expectedChecksum})`),
    ...(result.error ? [`restore: ${result.error}`] : []),
  ];
}

/**
 * The most recent passing verification among a profile's backups (by the time it ran), read in
 * full from its `verification.json`; null when none passed or it cannot be read. For seeding the
 * verification metrics when the daemon starts.
 */
export async function latestPassedVerification(store: ObjectStore, entries: readonly CatalogEntry[], signal?: AbortSignal): Promise<{ entry: CatalogEntry; result: VerificationResult } | null> {
  const passed = entries
    .filter((e) => e.verification === 'passed' && e.verifiedAt !== null)
    .sort((a, b) => Date.parse(b.verifiedAt ?? '') - Date.parse(a.verifiedAt ?? ''));
  for (const entry of passed) {
    const result = await readJson<VerificationResult>(store, entry.prefix + verificationFileName, signal ? { signal } : {}).catch((err: unknown) => {
      if (signal?.aborted) throw err;
      return null;
    });
    if (result?.ok === true) return { entry, result };
  }
  return null;
}
