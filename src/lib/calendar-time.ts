/**
 * Reading the times users type (`--confirm`, `--stop-datetime`): `YYYY-MM-DD`, `T` or a space,
 * `HH:MM:SS`, optional fraction, optional zone (`Z`, `+02:00`, `+0200`). JavaScript's Date rolls
 * an impossible date over (2026-02-30 becomes March 2) and takes 24:00 as the next midnight; a
 * mistyped time must be refused instead, so every part is checked against the calendar first.
 */

export type TimeReading =
  /** `zoned` says whether the text carried its zone (else it was read as UTC). */
  | { ok: true; date: Date; zoned: boolean }
  /** `format`: not written as a time at all; `calendar`: written as one, but no such time exists. */
  | { ok: false; kind: 'format' | 'calendar'; problem: string };

const timePattern = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

const monthNames = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one; Date.UTC maps years 0–99 to 19xx, so set it apart.
  const d = new Date(Date.UTC(2000, month, 0));
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

/** Why these parts name no real time, or null when they do. */
function calendarProblem([year, month, day, hour, minute, second]: readonly [number, number, number, number, number, number]): string | null {
  if (month < 1 || month > 12) return `there is no month ${month}`;
  const days = daysInMonth(year, month);
  if (day < 1 || day > days) return `${monthNames[month - 1] ?? ''} ${year} has ${days} days, so day ${day} does not exist`;
  if (hour > 23) return `hours run from 00 to 23, not ${hour}`;
  if (minute > 59) return `minutes run from 00 to 59, not ${minute}`;
  if (second > 59) return `seconds run from 00 to 59, not ${second}`;
  return null;
}

/**
 * Reads `text` as a time, refusing impossible dates and times rather than rolling them over. A
 * time without a zone is read as UTC; callers that need a zone check `zoned`.
 */
export function readCalendarTime(text: string): TimeReading {
  const m = timePattern.exec(text.trim());
  if (!m) return { ok: false, kind: 'format', problem: 'it is not written as YYYY-MM-DDTHH:MM:SS with an optional zone' };
  const parts = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const problem = calendarProblem(parts);
  if (problem) return { ok: false, kind: 'calendar', problem };
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return { ok: false, kind: 'calendar', problem: `${m[9]}${m[10]}:${m[11]} is not a time zone offset` };
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  const [year, month, day, hour, minute, second] = parts;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return { ok: true, date: new Date(date.getTime() - offsetMinutes * 60_000), zoned: m[8] !== undefined || m[9] !== undefined };
}
