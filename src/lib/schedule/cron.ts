/**
 * Cron schedules read in an IANA time zone (cron-parser does the calendar work, daylight-saving
 * changes included: a time skipped by a spring-forward runs once, later that hour; a time repeated
 * by a fall-back runs once).
 */
import { CronExpressionParser } from 'cron-parser';

function zoneExists(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Every problem with a schedule and its zone (both are checked, one does not hide the other); `field` says which config field each concerns. */
export function checkCron(expression: string, timeZone: string): Array<{ field: 'schedule' | 'timeZone'; message: string }> {
  const problems: Array<{ field: 'schedule' | 'timeZone'; message: string }> = [];
  const zoneOk = zoneExists(timeZone);
  if (!zoneOk) problems.push({ field: 'timeZone', message: `"${timeZone}" is not an IANA time zone (like Etc/UTC or America/Los_Angeles)` });
  if (expression.trim().split(/\s+/).length !== 5) {
    problems.push({ field: 'schedule', message: `"${expression}" is not a five-field cron schedule (minute hour day-of-month month day-of-week)` });
    return problems;
  }
  try {
    // The expression is judged in UTC when the zone itself is wrong.
    CronExpressionParser.parse(expression, { tz: zoneOk ? timeZone : 'Etc/UTC', strict: false });
  } catch (err) {
    problems.push({ field: 'schedule', message: `"${expression}" is not a valid cron schedule: ${(err as Error).message}` });
  }
  return problems;
}

/** The first time strictly after `after` that the schedule fires. */
export function nextRun(expression: string, timeZone: string, after: Date): Date {
  const cron = CronExpressionParser.parse(expression, { tz: timeZone, currentDate: after });
  return cron.next().toDate();
}

/**
 * The next time of a schedule whose run fired at `firedAt` and ended at `now`: the first time
 * after `firedAt` that is still ahead, and how many times came round while the run went on (they
 * are skipped, never run late or in parallel).
 */
export function nextRunAfter(expression: string, timeZone: string, firedAt: Date, now: Date): { next: Date; skipped: number } {
  let next = nextRun(expression, timeZone, firedAt);
  let skipped = 0;
  while (next.getTime() <= now.getTime()) {
    skipped++;
    next = nextRun(expression, timeZone, next);
  }
  return { next, skipped };
}
