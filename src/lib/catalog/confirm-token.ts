/**
 * The anti-fat-finger gate of `restore in-place`: a confirm token (a time) must be newer than the
 * last one used. The catalog keeps the last one used in the profile's storage, so an old command
 * line run again, from any machine, cannot trigger a second restore.
 */
import { readCalendarTime } from '../calendar-time.js';
import { ConfigError } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/json.js';

export const confirmTokenFile = 'restore-in-place.json';

export interface ConfirmTokenState {
  confirmTokenUsed: string;
  backup: string;
  usedAt: string;
  /**
   * The global read_only fence an in-place restore raised and has not lowered yet (it was killed):
   * the server, and the read_only it had before. A later in-place restore of that server takes it over.
   */
  fence?: { target: string; previous: number; raisedAt: string } | null;
  /**
   * An in-place restore that failed or was interrupted after it began changing the server: the
   * fence is lowered then, but the server holds part of the backup until a restore finishes.
   * Backups of that server are refused meanwhile, as while a fence is up.
   */
  unfinished?: { target: string; since: string; reason: string } | null;
}

/**
 * How far ahead of this machine's clock a confirm time may lie: clocks of the machines that share
 * a catalog drift a little, but a token far in the future would refuse every restore until then.
 */
export const confirmClockSkewMs = 5 * 60_000;

/**
 * Reads `--confirm`: `now`, or an RFC 3339 time with a zone (`2026-04-17T14:32:00Z`, `…+02:00`).
 * Throws ConfigError on `--confirm` for anything else, for an impossible date or time, and for a
 * time more than confirmClockSkewMs ahead of `now`.
 */
export function parseConfirm(value: string, now: Date): Date {
  if (value === 'now') return now;
  const read = readCalendarTime(value);
  if (!read.ok && read.kind === 'calendar') {
    throw new ConfigError([{ path: '--confirm', message: `"${value}" is not a real time: ${read.problem}` }]);
  }
  if (!read.ok || !read.zoned) {
    throw new ConfigError([{ path: '--confirm', message: `"${value}" is neither "now" nor an RFC 3339 time with a zone, like 2026-04-17T14:32:00Z` }]);
  }
  if (read.date.getTime() > now.getTime() + confirmClockSkewMs) {
    throw new ConfigError(
      [
        {
          path: '--confirm',
          message: `${value} is in the future (this machine's clock says ${now.toISOString()}): every later restore would have to confirm with a time after it, so none could run until then`,
        },
      ],
      { hint: `pass --confirm now, or the current time (at most ${confirmClockSkewMs / 60_000} minutes ahead)` },
    );
  }
  return read.date;
}

/** Whether a restore confirmed with a time may go ahead, given the last token the catalog holds. */
export type ConfirmJudgement =
  /** `ignored`: the stored token was disregarded (it lies in the future, or is not a time), and why; worth a warning. */
  | { ok: true; ignored?: { token: string; reason: string } }
  /** `reason`: why the confirmation is refused, for a PreconditionError (stale token). */
  | { ok: false; reason: string };

/**
 * Judges `confirm` against the last token used for the profile (null: none yet), at `now`. A
 * confirmation must be newer than the last token. A stored token that lies more than
 * confirmClockSkewMs ahead of `now` (left by a version that accepted future times, or by a machine
 * whose clock ran ahead) would lock out every restore until then: it is ignored, and the time it
 * was used at (`usedAt`) bounds replays instead. A confirm time beyond the allowance is refused.
 * Pure: reads nothing, writes nothing.
 */
export function judgeConfirm(last: ConfirmTokenState | null, confirm: Date, now: Date): ConfirmJudgement {
  const limit = now.getTime() + confirmClockSkewMs;
  const asked = confirm.toISOString();
  if (confirm.getTime() > limit) {
    return { ok: false, reason: `--confirm ${asked} lies more than ${confirmClockSkewMs / 60_000} minutes ahead of this machine's clock (${now.toISOString()})` };
  }
  if (!last) return { ok: true };
  const lastToken = Date.parse(last.confirmTokenUsed);
  if (!Number.isNaN(lastToken) && lastToken <= limit) {
    if (confirm.getTime() <= lastToken) {
      return { ok: false, reason: `--confirm ${asked} is not newer than the last one used (${last.confirmTokenUsed}, for ${last.backup})` };
    }
    return { ok: true };
  }
  const why = Number.isNaN(lastToken)
    ? `the stored confirm token "${last.confirmTokenUsed}" is not a time`
    : `the stored confirm token ${last.confirmTokenUsed} lies in the future (this machine's clock says ${now.toISOString()})`;
  const usedAt = Date.parse(last.usedAt);
  if (!Number.isNaN(usedAt) && usedAt <= limit && confirm.getTime() <= usedAt) {
    return { ok: false, reason: `--confirm ${asked} is not newer than the last in-place restore (authorized at ${last.usedAt}, for ${last.backup}); ${why}` };
  }
  return { ok: true, ignored: { token: last.confirmTokenUsed, reason: `${why}; it was ignored` } };
}

/** The last confirm token used for the profile, or null when there is none. */
export function readConfirmToken(store: ObjectStore): Promise<ConfirmTokenState | null> {
  return readJson<ConfirmTokenState>(store, confirmTokenFile);
}

/** Stores the token a restore was authorized with, for the next one to be judged against. */
export async function recordConfirmToken(store: ObjectStore, state: ConfirmTokenState): Promise<void> {
  await writeJson(store, confirmTokenFile, state);
}
