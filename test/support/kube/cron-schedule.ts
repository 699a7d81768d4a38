/**
 * When a CronJob is due, as the CronJob controller (kube-controller-manager's cronjob_controllerv2)
 * decides it: the most recent schedule time missed since the last run (never a backlog), the
 * `startingDeadlineSeconds` window, the Job's name and its scheduled-timestamp annotation.
 * Schedules are evaluated in `spec.timeZone` by cron-parser, which follows the zone's DST rules.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';

/** The controller-manager's own zone, used when `spec.timeZone` is unset (ours runs in UTC). */
export const controllerTimeZone = 'UTC';

/** More missed start times than this and the controller warns (event TooManyMissedTimes). */
export const tooManyMissed = 100;

/** robfig/cron's descriptors, which Kubernetes accepts in `schedule` (`@every` is not supported here). */
const descriptors: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Why a CronJob cannot be scheduled; `reason` is the Warning event's reason. */
export class ScheduleError extends Error {
  readonly reason: 'UnparseableSchedule' | 'UnknownTimeZone';

  constructor(reason: ScheduleError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A parsed schedule: the schedule times after or at or before an instant, in its zone. */
export interface CronSchedule {
  readonly timeZone: string;
  /** The first schedule time strictly after `t`. */
  next(t: Date): Date;
  /** The last schedule time at or before `t`. */
  latestAtOrBefore(t: Date): Date;
}

/**
 * Parses a CronJob's `schedule` (5 fields, or a descriptor such as `@hourly`) in `timeZone`
 * (an IANA name; unset = {@link controllerTimeZone}).
 * @throws ScheduleError for a bad expression or an unknown zone.
 */
export function parseCronSchedule(schedule: string, timeZone: string | undefined): CronSchedule {
  const zone = timeZone ?? controllerTimeZone;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new ScheduleError('UnknownTimeZone', `unknown time zone ${zone}`);
  }
  const trimmed = schedule.trim();
  const expression = descriptors[trimmed.toLowerCase()] ?? trimmed;
  if (expression.split(/\s+/).length !== 5) {
    throw new ScheduleError('UnparseableSchedule', `unparseable schedule "${schedule}": expected 5 fields or a descriptor such as @hourly`);
  }
  const at = (t: Date): CronExpression => {
    try {
      return CronExpressionParser.parse(expression, { currentDate: t, tz: zone });
    } catch (error) {
      throw new ScheduleError('UnparseableSchedule', `unparseable schedule "${schedule}": ${(error as Error).message}`);
    }
  };
  at(new Date(0));
  return {
    timeZone: zone,
    next: (t) => at(t).next().toDate(),
    // cron-parser's prev() is strictly before its start: start 1 ms later to include `t` itself.
    latestAtOrBefore: (t) => at(new Date(t.getTime() + 1)).prev().toDate(),
  };
}

/** What is due at `now`. */
export interface DueSchedule {
  /** The most recent schedule time in (earliest, now]; undefined = nothing is due. */
  scheduled: Date | undefined;
  /** Schedule times in (earliest, now], counted up to {@link tooManyMissed} + 1. */
  missed: number;
  /** The scheduled time is older than `startingDeadlineSeconds` allows: skip it (event MissSchedule). */
  tooLate: boolean;
}

/**
 * The controller's rule: only the most recent missed schedule time counts, never a backlog.
 * `lastScheduleTime` (or, before the first run, the CronJob's `creationTimestamp`) bounds the
 * search, and so does `now - startingDeadlineSeconds` when set.
 */
export function dueSchedule(schedule: CronSchedule, lastScheduleOrCreation: Date, now: Date, startingDeadlineSeconds?: number): DueSchedule {
  let earliest = lastScheduleOrCreation;
  if (startingDeadlineSeconds !== undefined) {
    const windowStart = new Date(now.getTime() - startingDeadlineSeconds * 1000);
    if (windowStart > earliest) earliest = windowStart;
  }
  if (earliest > now) return { scheduled: undefined, missed: 0, tooLate: false };
  let missed = 0;
  for (let t = schedule.next(earliest); t <= now && missed <= tooManyMissed; t = schedule.next(t)) missed++;
  if (missed === 0) return { scheduled: undefined, missed, tooLate: false };
  const scheduled = schedule.latestAtOrBefore(now);
  const tooLate = startingDeadlineSeconds !== undefined && scheduled.getTime() + startingDeadlineSeconds * 1000 < now.getTime();
  return { scheduled, missed, tooLate };
}

/** A CronJob's Job name: `<cronjob>-<scheduled time in minutes since the Unix epoch>`. */
export function cronJobJobName(cronJobName: string, scheduled: Date): string {
  return `${cronJobName}-${Math.floor(scheduled.getTime() / 60_000)}`;
}

/**
 * `batch.kubernetes.io/cronjob-scheduled-timestamp`: RFC 3339 in the CronJob's zone, as Go's
 * `t.In(loc).Format(time.RFC3339)` writes it (`Z` for a zero offset, else `±hh:mm`).
 */
export function scheduledTimestamp(scheduled: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(scheduled)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  const local = `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
  const wholeSeconds = Math.floor(scheduled.getTime() / 1000) * 1000;
  const offsetMinutes = Math.round((Date.parse(`${local}Z`) - wholeSeconds) / 60_000);
  if (offsetMinutes === 0) return `${local}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
