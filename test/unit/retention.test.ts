import { describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../src/lib/config/schema.js';
import type { BackupPhase } from '../../src/lib/catalog/record.js';
import { planRetention } from '../../src/lib/retention/plan.js';

const now = new Date('2026-06-30T12:00:00Z');
const day = 24 * 60 * 60 * 1000;

/**
 * `S3` = a success 3 days old, `F1` = a failure 1 day old, `R0` running now, `D5` half-deleted;
 * a trailing `+` = its last verification passed, `!` = it failed.
 */
function backups(spec: string): Array<{ name: string; phase: BackupPhase; startedAt: Date; verification: 'passed' | 'failed' | null }> {
  const phases: Record<string, BackupPhase> = { S: 'Succeeded', F: 'Failed', R: 'Running', D: 'Deleting' };
  return spec.split(' ').map((token) => {
    const mark = token.at(-1);
    const verification = mark === '+' ? 'passed' : mark === '!' ? 'failed' : null;
    const age = Number(token.slice(1, verification ? -1 : undefined));
    return { name: token, phase: phases[token[0]!]!, startedAt: new Date(now.getTime() - age * day), verification };
  });
}

function policy(p: Partial<RetentionPolicy>): RetentionPolicy {
  return { count: 0, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 0, ...p };
}

interface Case {
  name: string;
  spec: string;
  policy: RetentionPolicy | undefined;
  deleted: string[];
}

const cases: Case[] = [
  { name: 'keeps everything without a policy', spec: 'S1 S2 F3 S40', policy: undefined, deleted: [] },
  { name: 'count keeps the newest N successes', spec: 'S1 S2 S3 S4 S5', policy: policy({ count: 3 }), deleted: ['S4', 'S5'] },
  { name: 'maxAgeDays keeps the young ones', spec: 'S1 S5 S9 S20', policy: policy({ maxAgeDays: 7 }), deleted: ['S9', 'S20'] },
  {
    name: 'a backup is kept if any enabled check keeps it',
    spec: 'S1 S2 S3 S4 S30',
    policy: policy({ count: 2, maxAgeDays: 7 }),
    deleted: ['S30'],
  },
  { name: 'failed attempts do not use up the count', spec: 'F0 F1 S2 F3 S4 S5', policy: policy({ count: 2, maxFailedKeep: 10 }), deleted: ['S5'] },
  { name: 'at most maxFailedKeep failures are kept, the newest', spec: 'F1 F2 S3 F4 F5', policy: policy({ count: 5, maxFailedKeep: 2 }), deleted: ['F4', 'F5'] },
  { name: 'maxFailedKeep 0 deletes every failure', spec: 'F1 S2', policy: policy({ count: 5, maxFailedKeep: 0 }), deleted: ['F1'] },
  {
    name: 'the long outage: every recent attempt failed, the last good backup survives its age',
    spec: 'F1 F2 F3 F4 F5 F6 S40 S41',
    policy: policy({ maxAgeDays: 7, minKeep: 1, maxFailedKeep: 10 }),
    deleted: ['S41'],
  },
  { name: 'minKeep 3 keeps three old successes', spec: 'S30 S31 S32 S33', policy: policy({ maxAgeDays: 7, minKeep: 3 }), deleted: ['S33'] },
  { name: 'minKeep 0 lets age delete every success', spec: 'S30 S31', policy: policy({ maxAgeDays: 7, minKeep: 0 }), deleted: ['S30', 'S31'] },
  { name: 'a running backup is never touched', spec: 'R0 S1 S2', policy: policy({ count: 1 }), deleted: ['S2'] },
  { name: 'a backup an earlier prune began deleting is finished off', spec: 'S1 D2', policy: policy({ count: 5 }), deleted: ['D2'] },
  { name: 'no count and no age: successes are all kept', spec: 'S1 S100 F2', policy: policy({ maxFailedKeep: 0 }), deleted: ['F2'] },
  {
    name: 'minKeepVerified keeps an old verified backup that count, age and minKeep would delete',
    spec: 'S1 S2 S3 S20+ S30+ S40+',
    policy: policy({ count: 2, maxAgeDays: 7, minKeep: 1, minKeepVerified: 2 }),
    deleted: ['S40+'],
  },
  {
    name: 'a backup whose verification failed is no verified backup: the floor reaches past it',
    spec: 'S1 S10! S20! S30+ S40',
    policy: policy({ count: 1, minKeepVerified: 1 }),
    deleted: ['S10!', 'S20!', 'S40'],
  },
  { name: 'minKeepVerified with no verified backup keeps nothing more', spec: 'S1 S2! S3', policy: policy({ count: 1, minKeepVerified: 3 }), deleted: ['S2!', 'S3'] },
  { name: 'minKeepVerified 0 gives verified backups no floor', spec: 'S1 S20+ S30+', policy: policy({ count: 1 }), deleted: ['S20+', 'S30+'] },
  { name: 'the shorthand retention: 2', spec: 'S1 S2 S3 F4', policy: { count: 2, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 0 }, deleted: ['S3'] },
];

describe('planRetention', () => {
  it.each(cases)('$name', ({ spec, policy: p, deleted }) => {
    const plan = planRetention(backups(spec), p, now);
    expect(plan.filter((d) => d.action === 'delete').map((d) => d.name)).toEqual(deleted);
    expect(plan.map((d) => d.name).sort()).toEqual(spec.split(' ').sort());
    for (const d of plan) expect(d.reasons.length, d.name).toBeGreaterThan(0);
  });

  it('says why a verified backup is kept beyond the other checks', () => {
    const plan = planRetention(backups('S1+ S9 S30+ S40+'), policy({ count: 1, minKeep: 1, minKeepVerified: 2 }), now);
    expect(plan.map((d) => [d.name, d.action])).toEqual([
      ['S1+', 'keep'],
      ['S9', 'delete'],
      ['S30+', 'keep'],
      ['S40+', 'delete'],
    ]);
    expect(plan[0]!.reasons).toContain('among the newest 2 verified, always kept (minKeepVerified)');
    expect(plan[2]!.reasons).toEqual(['among the newest 2 verified, always kept (minKeepVerified)']);
    expect(plan[3]!.reasons).toEqual(['beyond the newest 1 successful (count)']);
  });

  it('lists decisions newest first, with every reason that applies', () => {
    const plan = planRetention(backups('S9 S1 S5'), policy({ count: 1, maxAgeDays: 7, minKeep: 1 }), now);
    expect(plan.map((d) => d.name)).toEqual(['S1', 'S5', 'S9']);
    expect(plan[0]!.reasons).toEqual([
      'among the newest 1 successful (count)',
      'younger than 7 days (maxAgeDays)',
      'among the newest 1 successful, always kept (minKeep)',
    ]);
    expect(plan[1]).toMatchObject({ action: 'keep', reasons: ['beyond the newest 1 successful (count)', 'younger than 7 days (maxAgeDays)'].slice(1) });
    expect(plan[2]).toMatchObject({ action: 'delete', reasons: ['beyond the newest 1 successful (count)', 'older than 7 days (maxAgeDays)'] });
  });
});
