/**
 * The tally of terminal backups a profile's metrics have counted, kept in the profile's storage
 * (`metrics-tally.json`), so that `bloodraven_backup_runs_total` counts every terminal backup
 * exactly once, across daemon restarts and after pruning: a restart seeds the counters from the
 * tally and counts only what it has not seen; pruned backups stay counted in the totals.
 */
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/json.js';

export const tallyFileName = 'metrics-tally.json';

export type Result = 'success' | 'failure';

export interface Tally {
  version: 1;
  /** The group label the counts were made under. */
  group: string | null;
  /** Counted backups that are no longer in the catalog. */
  totals: Record<Result, number>;
  /** Counted backups still in the catalog, by name. */
  counted: Record<string, Result>;
}

export function emptyTally(): Tally {
  return { version: 1, group: null, totals: { success: 0, failure: 0 }, counted: {} };
}

export async function readTally(store: ObjectStore): Promise<Tally> {
  const t = await readJson<Partial<Tally>>(store, tallyFileName);
  if (!t) return emptyTally();
  return { version: 1, group: t.group ?? null, totals: { success: t.totals?.success ?? 0, failure: t.totals?.failure ?? 0 }, counted: t.counted ?? {} };
}

export async function writeTally(store: ObjectStore, tally: Tally): Promise<void> {
  await writeJson(store, tallyFileName, tally);
}

/** Moves counted backups that left the catalog (pruned) into the totals. */
export function foldGone(tally: Tally, present: ReadonlySet<string>): Tally {
  const counted: Record<string, Result> = {};
  const totals = { ...tally.totals };
  for (const [name, result] of Object.entries(tally.counted)) {
    if (present.has(name)) counted[name] = result;
    else totals[result]++;
  }
  return { ...tally, totals, counted };
}

/** Counts per result: the totals plus the named ones. */
export function countsOf(tally: Tally): Record<Result, number> {
  const out = { ...tally.totals };
  for (const r of Object.values(tally.counted)) out[r]++;
  return out;
}
