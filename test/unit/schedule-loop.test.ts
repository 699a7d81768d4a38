import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import type { RetryPolicy, Schedule } from '../../src/lib/config/schema.js';
import { createLogger, type LogEntry } from '../../src/lib/log.js';
import { retryDelaySeconds, runScheduleLoop } from '../../src/daemon/schedule-loop.js';

interface Attempt {
  at: string;
  attempt: number;
}

/**
 * Runs a schedule loop on a clock that jumps to every wait's end, with a backup that takes
 * `durationMs` and fails while `fails(attemptIndex)` says so, until `runs` attempts were made.
 */
async function simulate(
  schedule: Schedule,
  options: { start: string; runs: number; retry?: RetryPolicy; durationMs?: number; fails?: (n: number) => boolean },
): Promise<{ attempts: Attempt[]; succeeded: number; logs: LogEntry[]; maxConcurrent: number }> {
  const clock = fixedClock(new Date(options.start));
  const stop = new AbortController();
  const attempts: Attempt[] = [];
  const logs: LogEntry[] = [];
  let succeeded = 0;
  let running = 0;
  let maxConcurrent = 0;
  await runScheduleLoop(
    schedule,
    options.retry ?? { maxAttempts: 1, initialBackoffSeconds: 60, maxBackoffSeconds: 1800 },
    {
      clock,
      logger: createLogger((e) => logs.push(e)),
      backup(_s, attempt) {
        running++;
        maxConcurrent = Math.max(maxConcurrent, running);
        const startedAt = clock.now();
        attempts.push({ at: startedAt.toISOString(), attempt });
        clock.advance(options.durationMs ?? 10_000);
        running--;
        const failed = options.fails?.(attempts.length) ?? false;
        if (attempts.length >= options.runs) stop.abort();
        return Promise.resolve({
          name: `b${attempts.length}`,
          phase: failed ? 'Failed' : 'Succeeded',
          startedAt: startedAt.toISOString(),
          completedAt: clock.now().toISOString(),
          ...(failed ? { failure: { code: 'X', message: 'boom' } } : {}),
        } as BackupRecord);
      },
      afterSuccess() {
        succeeded++;
        return Promise.resolve();
      },
    },
    { stop: stop.signal, work: new AbortController().signal },
  );
  return { attempts, succeeded, logs, maxConcurrent };
}

describe('retryDelaySeconds', () => {
  it('doubles from the initial backoff and stops at the cap', () => {
    const p = { maxAttempts: 6, initialBackoffSeconds: 60, maxBackoffSeconds: 300 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelaySeconds(p, n))).toEqual([60, 120, 240, 300, 300]);
  });
});

describe('runScheduleLoop', () => {
  it('runs a daily schedule once a day across the autumn daylight-saving change (the repeated hour runs once)', async () => {
    const { attempts } = await simulate({ name: 'nightly', profileName: 'p', schedule: '30 1 * * *', timeZone: 'America/Los_Angeles' }, { start: '2026-10-30T00:00:00Z', runs: 5 });
    // 01:30 in Los Angeles: PDT (UTC−7) until 1 November 02:00, PST (UTC−8) after.
    expect(attempts.map((a) => a.at)).toEqual([
      '2026-10-30T08:30:00.000Z',
      '2026-10-31T08:30:00.000Z',
      '2026-11-01T08:30:00.000Z',
      '2026-11-02T09:30:00.000Z',
      '2026-11-03T09:30:00.000Z',
    ]);
  });

  it('runs a time skipped by the spring change once, within the hour after', async () => {
    const { attempts } = await simulate({ name: 'n', profileName: 'p', schedule: '30 2 * * *', timeZone: 'America/Los_Angeles' }, { start: '2026-03-07T00:00:00Z', runs: 3 });
    expect(attempts.map((a) => a.at)).toEqual(['2026-03-07T10:30:00.000Z', '2026-03-08T10:30:00.000Z', '2026-03-09T09:30:00.000Z']);
  });

  it('reads the schedule in UTC by default', async () => {
    const { attempts } = await simulate({ name: 'n', profileName: 'p', schedule: '0 2 * * *', timeZone: 'Etc/UTC' }, { start: '2026-01-01T03:00:00Z', runs: 2 });
    expect(attempts.map((a) => a.at)).toEqual(['2026-01-02T02:00:00.000Z', '2026-01-03T02:00:00.000Z']);
  });

  it('retries a failed attempt after initial × 2^(N−1) seconds from its completion, capped, as fresh attempts', async () => {
    const { attempts, succeeded } = await simulate(
      { name: 'n', profileName: 'p', schedule: '0 2 * * *', timeZone: 'Etc/UTC' },
      { start: '2026-01-01T00:00:00Z', runs: 4, retry: { maxAttempts: 4, initialBackoffSeconds: 60, maxBackoffSeconds: 100 }, durationMs: 10_000, fails: (n) => n < 4 },
    );
    // Each attempt takes 10 s; retries wait 60 s, then 100 s (120 capped), then 100 s (240 capped).
    expect(attempts).toEqual([
      { at: '2026-01-01T02:00:00.000Z', attempt: 1 },
      { at: '2026-01-01T02:01:10.000Z', attempt: 2 },
      { at: '2026-01-01T02:03:00.000Z', attempt: 3 },
      { at: '2026-01-01T02:04:50.000Z', attempt: 4 },
    ]);
    expect(succeeded).toBe(1);
  });

  it('gives up after maxAttempts and waits for the next scheduled time', async () => {
    const { attempts, succeeded } = await simulate(
      { name: 'n', profileName: 'p', schedule: '0 2 * * *', timeZone: 'Etc/UTC' },
      { start: '2026-01-01T00:00:00Z', runs: 3, retry: { maxAttempts: 2, initialBackoffSeconds: 60, maxBackoffSeconds: 600 }, fails: () => true },
    );
    expect(attempts.map((a) => [a.at, a.attempt])).toEqual([
      ['2026-01-01T02:00:00.000Z', 1],
      ['2026-01-01T02:01:10.000Z', 2],
      ['2026-01-02T02:00:00.000Z', 1],
    ]);
    expect(succeeded).toBe(0);
  });

  it('never overlaps itself: times that pass during a long run are skipped, and said so', async () => {
    const { attempts, logs, maxConcurrent } = await simulate(
      { name: 'hourly', profileName: 'p', schedule: '0 * * * *', timeZone: 'Etc/UTC' },
      { start: '2026-01-01T00:30:00Z', runs: 3, durationMs: 150 * 60_000 },
    );
    expect(maxConcurrent).toBe(1);
    expect(attempts.map((a) => a.at)).toEqual(['2026-01-01T01:00:00.000Z', '2026-01-01T04:00:00.000Z', '2026-01-01T07:00:00.000Z']);
    expect(logs.filter((l) => l.message.includes('skipped')).map((l) => l.fields.skipped)).toEqual([2, 2, 2]);
  });

  it('stops waiting as soon as the daemon stops', async () => {
    const clock = fixedClock(new Date('2026-01-01T00:00:00Z'));
    const stop = new AbortController();
    stop.abort();
    let ran = 0;
    await runScheduleLoop(
      { name: 'n', profileName: 'p', schedule: '* * * * *', timeZone: 'Etc/UTC' },
      { maxAttempts: 1, initialBackoffSeconds: 1, maxBackoffSeconds: 1 },
      {
        clock,
        logger: createLogger(() => undefined),
        backup: () => {
          ran++;
          return Promise.resolve(null);
        },
        afterSuccess: () => Promise.resolve(),
      },
      { stop: stop.signal, work: new AbortController().signal },
    );
    expect(ran).toBe(0);
  });
});
