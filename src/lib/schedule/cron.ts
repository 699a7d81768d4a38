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

/** A problem with a schedule, or null; `field` says which config field it concerns. */
export function checkCron(expression: string, timeZone: string): { field: 'schedule' | 'timeZone'; message: string } | null {
  if (!zoneExists(timeZone)) return { field: 'timeZone', message: `"${timeZone}" is not an IANA time zone (like Etc/UTC or America/Los_Angeles)` };
  if (expression.trim().split(/\s+/).length !== 5) {
    return { field: 'schedule', message: `"${expression}" is not a five-field cron schedule (minute hour day-of-month month day-of-week)` };
  }
  try {
    CronExpressionParser.parse(expression, { tz: timeZone, strict: false });
    return null;
  } catch (err) {
    return { field: 'schedule', message: `"${expression}" is not a valid cron schedule: ${(err as Error).message}` };
  }
}

/** The first time strictly after `after` that the schedule fires. */
export function nextRun(expression: string, timeZone: string, after: Date): Date {
  const cron = CronExpressionParser.parse(expression, { tz: timeZone, currentDate: after });
  return cron.next().toDate();
}
