import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/lib/catalog/catalog.js';
import type { BackupPhase } from '../../src/lib/catalog/record.js';
import { fixedClock } from '../../src/lib/clock.js';
import { configSchema } from '../../src/lib/config/schema.js';
import { createLogger, type LogEntry } from '../../src/lib/log.js';
import { chooseBackupToVerify, verificationProblems } from '../../src/lib/verify/scheduled.js';
import type { VerificationResult } from '../../src/lib/verify/verify-backup.js';
import { runVerificationLoop } from '../../src/daemon/verification-loop.js';

function entry(name: string, startedAt: string, phase: BackupPhase, verification: 'passed' | 'failed' | null = null): CatalogEntry {
  return {
    name,
    prefix: `${name}/`,
    record: null,
    complete: phase === 'Succeeded',
    phase,
    failure: null,
    heldBytes: 0,
    startedAt: new Date(startedAt),
    verified: verification === 'passed',
    verification,
    verifiedAt: verification ? '2026-01-02T00:00:00.000Z' : null,
  };
}

describe('chooseBackupToVerify', () => {
  it('skips, saying so, when there is no Succeeded backup', () => {
    expect(chooseBackupToVerify([])).toEqual({ action: 'skip', entry: null, reason: 'there is no Succeeded backup to verify yet' });
    expect(chooseBackupToVerify([entry('r', '2026-01-02T00:00:00Z', 'Running'), entry('f', '2026-01-01T00:00:00Z', 'Failed')])).toMatchObject({ action: 'skip', entry: null });
  });

  it('verifies the newest Succeeded backup, passing over newer failed and running attempts', () => {
    const choice = chooseBackupToVerify([entry('old', '2026-01-01T00:00:00Z', 'Succeeded', 'passed'), entry('new', '2026-01-02T00:00:00Z', 'Succeeded'), entry('f', '2026-01-03T00:00:00Z', 'Failed')]);
    expect(choice).toMatchObject({ action: 'verify', entry: { name: 'new' }, reason: 'it was never verified' });
  });

  it('does not repeat a passed verification of the newest backup, and tries a failed one again', () => {
    expect(chooseBackupToVerify([entry('new', '2026-01-02T00:00:00Z', 'Succeeded', 'passed')])).toEqual({
      action: 'skip',
      entry: expect.objectContaining({ name: 'new' }) as unknown,
      reason: 'the newest Succeeded backup, new, already passed verification at 2026-01-02T00:00:00.000Z; it is not repeated until a newer backup exists',
    });
    expect(chooseBackupToVerify([entry('new', '2026-01-02T00:00:00Z', 'Succeeded', 'failed')])).toMatchObject({ action: 'verify', entry: { name: 'new' }, reason: 'its last verification failed' });
  });
});

describe('verificationProblems', () => {
  it('names each file and table that did not match, and why the restore could not finish', () => {
    const result = {
      files: { checked: 3, failed: [{ name: 'shop@t@0.tsv.zst', ok: false, problem: 'SHA-256 differs' }] },
      tables: [
        { schema: 'shop', table: 't', expectedRows: 2, actualRows: 2, expectedChecksum: 'a', actualChecksum: 'b', ok: false },
        { schema: 'shop', table: 'u', expectedRows: 1, actualRows: 1, expectedChecksum: 'c', actualChecksum: 'c', ok: true },
      ],
      error: 'the load failed',
    } as unknown as VerificationResult;
    expect(verificationProblems(result)).toEqual(['file shop@t@0.tsv.zst: SHA-256 differs', 'table shop.t: 2 rows (expected 2), checksum b (expected a)', 'restore: the load failed']);
  });
});

describe('runVerificationLoop', () => {
  it('runs at each time, never overlapping itself, and skips the times a long run outlasted', async () => {
    const config = configSchema.parse({ backup: { profiles: [{ name: 'p', storage: { type: 'PVC', pvc: { path: '/x' } }, verification: { schedule: '0 * * * *' } }] } });
    const profile = config.backup.profiles[0]!;
    const clock = fixedClock(new Date('2026-01-01T00:30:00Z'));
    const stop = new AbortController();
    const runs: string[] = [];
    const nextRuns: string[] = [];
    const logs: LogEntry[] = [];
    let running = 0;
    await runVerificationLoop(
      { ...profile, verification: profile.verification! },
      {
        clock,
        logger: createLogger((e) => logs.push(e)),
        runOnce: async () => {
          expect(running).toBe(0);
          running++;
          runs.push(clock.now().toISOString());
          // The second run takes two and a half hours: 03:00 and 04:00 pass meanwhile.
          clock.advance(runs.length === 2 ? 150 * 60_000 : 60_000);
          await Promise.resolve();
          running--;
          if (runs.length === 3) stop.abort();
        },
        onNextRun: (_p, at) => nextRuns.push(at.toISOString()),
      },
      stop.signal,
    );
    expect(runs).toEqual(['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z', '2026-01-01T05:00:00.000Z']);
    expect(nextRuns).toEqual(['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z', '2026-01-01T05:00:00.000Z']);
    expect(logs.filter((l) => l.message.startsWith('the verification schedule came round')).map((l) => l.fields)).toEqual([{ profile: 'p', skipped: 2 }]);
  });
});
