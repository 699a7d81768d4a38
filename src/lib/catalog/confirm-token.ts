/**
 * The anti-fat-finger gate of `restore in-place`: a confirm token (a time) must be newer than the
 * last one used. The catalog keeps the last one used in the profile's storage, so an old command
 * line run again, from any machine, cannot trigger a second restore.
 */
import { ConfigError } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/json.js';

export const confirmTokenFile = 'restore-in-place.json';

export interface ConfirmTokenState {
  confirmTokenUsed: string;
  backup: string;
  usedAt: string;
}

/** `now`, or an RFC 3339 time with a zone (`2026-04-17T14:32:00Z`, `…+02:00`). */
export function parseConfirm(value: string, now: Date): Date {
  if (value === 'now') return now;
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value)) {
    throw new ConfigError([{ path: '--confirm', message: `"${value}" is neither "now" nor an RFC 3339 time with a zone, like 2026-04-17T14:32:00Z` }]);
  }
  const d = new Date(value.replace(' ', 'T'));
  if (Number.isNaN(d.getTime())) throw new ConfigError([{ path: '--confirm', message: `"${value}" is not a valid time` }]);
  return d;
}

export function readConfirmToken(store: ObjectStore): Promise<ConfirmTokenState | null> {
  return readJson<ConfirmTokenState>(store, confirmTokenFile);
}

export async function recordConfirmToken(store: ObjectStore, state: ConfirmTokenState): Promise<void> {
  await writeJson(store, confirmTokenFile, state);
}
