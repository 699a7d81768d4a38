/**
 * Target times for point-in-time recovery: RFC 3339 with or without a zone, or MySQL's
 * `YYYY-MM-DD HH:MM:SS` (fractions allowed, and a trailing ` UTC` as the status page writes it). A time without a zone is read as UTC (the archive's times are UTC). An
 * impossible date or time (February 30th, 24:00) is refused, never rolled over.
 */
import { readCalendarTime } from '../calendar-time.js';
import { ConfigError } from '../errors.js';

/** The instant `value` names; a ConfigError on `flag` when it names none. */
export function parseTargetTime(value: string, flag = '--stop-datetime'): Date {
  // "2026-11-30 20:50:00.270 UTC", as the status page and `status` show times, is taken as written.
  const read = readCalendarTime(value.replace(/ UTC$/, ''));
  if (read.ok) return read.date;
  if (read.kind === 'calendar') throw new ConfigError([{ path: flag, message: `"${value}" is not a real time: ${read.problem}` }]);
  throw new ConfigError([{ path: flag, message: `"${value}" is not a time: write RFC 3339 (2026-04-15T09:30:00Z, or with an offset) or YYYY-MM-DD HH:MM:SS[.fff] [UTC] (UTC)` }]);
}
