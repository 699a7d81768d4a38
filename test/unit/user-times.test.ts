import { describe, expect, it } from 'vitest';
import { judgeConfirm, parseConfirm, type ConfirmTokenState } from '../../src/lib/catalog/confirm-token.js';
import { ConfigError } from '../../src/lib/errors.js';
import { parseTargetTime } from '../../src/lib/pitr/target-time.js';

function configIssue(run: () => unknown): { path: string; message: string } {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError && err.issues[0]) return err.issues[0];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const impossible = [
  ['2026-02-30T10:00:00Z', 'February 2026 has 28 days, so day 30 does not exist'],
  ['2024-02-30T10:00:00Z', 'February 2024 has 29 days, so day 30 does not exist'],
  ['2026-04-31T10:00:00Z', 'April 2026 has 30 days, so day 31 does not exist'],
  ['2026-13-01T10:00:00Z', 'there is no month 13'],
  ['2026-01-00T10:00:00Z', 'January 2026 has 31 days, so day 0 does not exist'],
  ['2026-01-01T24:00:00Z', 'hours run from 00 to 23, not 24'],
  ['2026-01-01T10:60:00Z', 'minutes run from 00 to 59, not 60'],
  ['2026-01-01T10:00:60Z', 'seconds run from 00 to 59, not 60'],
  ['2026-01-01T10:00:00+24:00', '+24:00 is not a time zone offset'],
] as const;

describe('--stop-datetime', () => {
  it.each(impossible)('refuses %s instead of rolling it over (%s)', (value, why) => {
    expect(configIssue(() => parseTargetTime(value))).toEqual({ path: '--stop-datetime', message: `"${value}" is not a real time: ${why}` });
  });

  it('names the flag it was given for, and still reads every valid form', () => {
    expect(configIssue(() => parseTargetTime('2026-02-29 00:00:00', '--start-datetime')).path).toBe('--start-datetime');
    expect(parseTargetTime('2024-02-29 23:59:59').toISOString()).toBe('2024-02-29T23:59:59.000Z');
    expect(parseTargetTime('2026-12-31T23:30:00-01:00').toISOString()).toBe('2027-01-01T00:30:00.000Z');
    expect(parseTargetTime('2026-04-15T11:30:00.250+0200').toISOString()).toBe('2026-04-15T09:30:00.250Z');
    expect(configIssue(() => parseTargetTime('2026-04-15')).message).toMatch(/is not a time: write RFC 3339/);
    // As the status page shows a restorable time, pasted whole.
    expect(parseTargetTime('2026-11-30 20:50:00.270 UTC').toISOString()).toBe('2026-11-30T20:50:00.270Z');
    expect(configIssue(() => parseTargetTime('2026-11-30 20:50:00 CET')).message).toMatch(/is not a time/);
  });
});

describe('--confirm', () => {
  const now = new Date('2026-05-01T12:00:00Z');

  it.each(impossible)('refuses %s instead of rolling it over (%s)', (value, why) => {
    expect(configIssue(() => parseConfirm(value, now))).toEqual({ path: '--confirm', message: `"${value}" is not a real time: ${why}` });
  });

  it('refuses a time more than five minutes ahead of the clock, saying why', () => {
    const issue = configIssue(() => parseConfirm('2099-01-01T00:00:00Z', now));
    expect(issue.path).toBe('--confirm');
    expect(issue.message).toContain('2099-01-01T00:00:00Z is in the future');
    expect(issue.message).toContain('none could run until then');
    expect(configIssue(() => parseConfirm('2026-05-01T12:05:01Z', now)).path).toBe('--confirm');
    // Within the allowance for clocks that drift apart, and anything in the past, is accepted.
    expect(parseConfirm('2026-05-01T12:05:00Z', now).toISOString()).toBe('2026-05-01T12:05:00.000Z');
    expect(parseConfirm('2026-05-01T14:00:00+02:00', now).toISOString()).toBe('2026-05-01T12:00:00.000Z');
    expect(parseConfirm('now', now)).toBe(now);
  });

  it('still needs a zone', () => {
    expect(configIssue(() => parseConfirm('2026-05-01T11:00:00', now)).message).toMatch(/neither "now" nor an RFC 3339 time with a zone/);
  });
});

describe('judgeConfirm', () => {
  const now = new Date('2026-05-01T12:00:00Z');
  const token = (confirmTokenUsed: string, usedAt = '2026-05-01T10:00:00.000Z'): ConfirmTokenState => ({ confirmTokenUsed, backup: 'shop-p-20260430-020000', usedAt });

  it('accepts the first confirmation, and then only newer ones', () => {
    expect(judgeConfirm(null, now, now)).toEqual({ ok: true });
    const last = token('2026-05-01T10:00:00.000Z');
    expect(judgeConfirm(last, new Date('2026-05-01T10:00:01Z'), now)).toEqual({ ok: true });
    expect(judgeConfirm(last, new Date('2026-05-01T10:00:00Z'), now)).toEqual({
      ok: false,
      reason: '--confirm 2026-05-01T10:00:00.000Z is not newer than the last one used (2026-05-01T10:00:00.000Z, for shop-p-20260430-020000)',
    });
    // A token a little ahead (another machine's clock) is still honoured.
    expect(judgeConfirm(token('2026-05-01T12:03:00.000Z'), now, now)).toMatchObject({ ok: false });
  });

  it('does not let a stored token from the future lock out every restore, but still refuses replays older than its use', () => {
    const future = token('2099-01-01T00:00:00.000Z');
    const judged = judgeConfirm(future, now, now);
    expect(judged).toEqual({ ok: true, ignored: { token: '2099-01-01T00:00:00.000Z', reason: expect.stringContaining('lies in the future') as string } });
    // An old command line, confirmed before that restore ran, stays refused.
    const replay = judgeConfirm(future, new Date('2026-05-01T09:00:00Z'), now);
    expect(replay).toMatchObject({ ok: false, reason: expect.stringContaining('not newer than the last in-place restore (authorized at 2026-05-01T10:00:00.000Z') as string });
    // Its use time from the future too: nothing left to compare with.
    expect(judgeConfirm(token('2099-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z'), now, now)).toMatchObject({ ok: true, ignored: { token: '2099-01-01T00:00:00.000Z' } });
    expect(judgeConfirm(token('garbage'), now, now)).toMatchObject({ ok: true, ignored: { reason: expect.stringContaining('is not a time') as string } });
  });

  it('refuses a confirm time beyond the clock allowance, whatever was stored', () => {
    expect(judgeConfirm(null, new Date('2099-01-01T00:00:00Z'), now)).toMatchObject({ ok: false, reason: expect.stringContaining('more than 5 minutes ahead') as string });
  });
});
