/**
 * The newest passing and the newest failing scheduled verification of a profile, kept in its
 * storage (`metrics-verification.json`) so that a restarted daemon seeds the verification gauges
 * even once retention has deleted the backups they were about (their verification.json goes with
 * them). Without it, a profile pruned faster than it is verified would come back from a restart
 * with no last-success series, and an alert on its age could never fire.
 */
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/json.js';
import type { EndedVerification } from './verification-metrics.js';

export const verificationMemoryFileName = 'metrics-verification.json';

type Remembered = Pick<EndedVerification, 'name' | 'group' | 'completedAt' | 'restoreSeconds'>;

export interface VerificationMemory {
  version: 1;
  lastSuccess: Remembered | null;
  lastFailure: Remembered | null;
}

export async function readVerificationMemory(store: ObjectStore): Promise<VerificationMemory> {
  const m = await readJson<Partial<VerificationMemory>>(store, verificationMemoryFileName);
  return { version: 1, lastSuccess: m?.lastSuccess ?? null, lastFailure: m?.lastFailure ?? null };
}

/** `memory` with `run` in it when it is the newest of its result; null when nothing changed. */
export function rememberRun(memory: VerificationMemory, run: EndedVerification): VerificationMemory | null {
  const slot = run.passed ? 'lastSuccess' : 'lastFailure';
  const held = memory[slot];
  if (held && Date.parse(held.completedAt) >= Date.parse(run.completedAt)) return null;
  const remembered: Remembered = { name: run.name, group: run.group, completedAt: run.completedAt, ...(run.restoreSeconds === undefined ? {} : { restoreSeconds: run.restoreSeconds }) };
  return { ...memory, [slot]: remembered };
}

export async function writeVerificationMemory(store: ObjectStore, memory: VerificationMemory): Promise<void> {
  await writeJson(store, verificationMemoryFileName, memory);
}
