import { describe, expect, it } from 'vitest';
import { cronJobJobName, dueSchedule, parseCronSchedule, scheduledTimestamp, ScheduleError } from '../support/kube/cron-schedule.js';

describe('parseCronSchedule', () => {
  it('evaluates the schedule in its time zone, across a DST change', () => {
    const s = parseCronSchedule('0 9 * * *', 'America/New_York');
    // 09:00 New York is 14:00Z in winter (EST) and 13:00Z from 2027-03-14 (EDT).
    expect(s.next(new Date('2027-03-13T00:00:00Z')).toISOString()).toBe('2027-03-13T14:00:00.000Z');
    expect(s.next(new Date('2027-03-13T14:00:00Z')).toISOString()).toBe('2027-03-14T13:00:00.000Z');
  });

  it('takes the descriptors and defaults to the controller zone (UTC)', () => {
    const s = parseCronSchedule('@daily', undefined);
    expect(s.next(new Date('2027-01-01T10:00:00Z')).toISOString()).toBe('2027-01-02T00:00:00.000Z');
    expect(parseCronSchedule('@hourly', 'Asia/Kolkata').next(new Date('2027-01-01T10:00:00Z')).toISOString()).toBe('2027-01-01T10:30:00.000Z');
  });

  it('refuses a bad expression and an unknown zone with the event reason', () => {
    for (const [schedule, zone, reason] of [
      ['0 0 * *', undefined, 'UnparseableSchedule'],
      ['0 0 0 * * *', undefined, 'UnparseableSchedule'],
      ['61 * * * *', undefined, 'UnparseableSchedule'],
      ['0 0 * * *', 'Mars/Olympus', 'UnknownTimeZone'],
    ] as const) {
      let caught: unknown;
      try {
        parseCronSchedule(schedule, zone);
      } catch (error) {
        caught = error;
      }
      expect(caught, `${schedule} ${zone ?? ''}`).toBeInstanceOf(ScheduleError);
      expect((caught as ScheduleError).reason).toBe(reason);
    }
  });
});

describe('dueSchedule', () => {
  const hourly = parseCronSchedule('0 * * * *', 'UTC');

  it('includes a schedule time equal to now, and nothing before the first one', () => {
    expect(dueSchedule(hourly, new Date('2027-01-01T10:30:00Z'), new Date('2027-01-01T10:59:59Z')).scheduled).toBeUndefined();
    const due = dueSchedule(hourly, new Date('2027-01-01T10:30:00Z'), new Date('2027-01-01T11:00:00Z'));
    expect(due).toEqual({ scheduled: new Date('2027-01-01T11:00:00Z'), missed: 1, tooLate: false });
  });

  it('keeps only the most recent of several missed times', () => {
    const due = dueSchedule(hourly, new Date('2027-01-01T10:00:00Z'), new Date('2027-01-01T14:20:00Z'));
    expect(due.scheduled?.toISOString()).toBe('2027-01-01T14:00:00.000Z');
    expect(due.missed).toBe(4);
  });

  it('counts missed times only up to just past the warning threshold', () => {
    expect(dueSchedule(hourly, new Date('2026-01-01T00:00:00Z'), new Date('2027-01-01T00:30:00Z')).missed).toBe(101);
  });

  it('honours startingDeadlineSeconds: times older than the window are not due', () => {
    expect(dueSchedule(hourly, new Date('2027-01-01T09:00:00Z'), new Date('2027-01-01T11:10:00Z'), 300).scheduled).toBeUndefined();
    expect(dueSchedule(hourly, new Date('2027-01-01T09:00:00Z'), new Date('2027-01-01T11:04:00Z'), 300).scheduled?.toISOString()).toBe(
      '2027-01-01T11:00:00.000Z',
    );
  });
});

describe('names and annotations', () => {
  it('names the Job after the scheduled minute since the epoch', () => {
    expect(cronJobJobName('nightly', new Date('2027-03-14T13:00:00Z'))).toBe(`nightly-${Date.parse('2027-03-14T13:00:00Z') / 60_000}`);
  });

  it('writes the scheduled timestamp in the zone, as Go formats RFC 3339', () => {
    expect(scheduledTimestamp(new Date('2027-03-14T13:00:00Z'), 'America/New_York')).toBe('2027-03-14T09:00:00-04:00');
    expect(scheduledTimestamp(new Date('2027-03-13T14:00:00Z'), 'America/New_York')).toBe('2027-03-13T09:00:00-05:00');
    expect(scheduledTimestamp(new Date('2027-01-01T00:00:00Z'), 'Asia/Kolkata')).toBe('2027-01-01T05:30:00+05:30');
    expect(scheduledTimestamp(new Date('2027-01-01T00:00:00Z'), 'Europe/London')).toBe('2027-01-01T00:00:00Z');
    expect(scheduledTimestamp(new Date('2027-01-01T00:00:00Z'), 'UTC')).toBe('2027-01-01T00:00:00Z');
  });
});
