/**
 * The pure decisions of the backup controller: the source site, the account from a group's
 * Secrets, the retry schedule, and the Job's result from its termination message.
 */
import { describe, expect, it } from 'vitest';
import { parseBackupJobResult } from '../../src/lib/kube/backup-result.js';
import { GroupFieldError, parseDsn, resolveGroupAccount } from '../../src/lib/kube/group-credentials.js';
import { nextRetry } from '../../src/lib/kube/retry-plan.js';
import { chooseBackupSource, type SiteState } from '../../src/lib/kube/source-selection.js';

const replica = (lag: number | null, replicating = true): SiteState => ({ reachable: true, readOnly: true, isReplica: true, replicating, lagSeconds: lag });
const primary: SiteState = { reachable: true, readOnly: false, isReplica: false, replicating: false, lagSeconds: null };

describe('chooseBackupSource', () => {
  const base = { sites: ['east', 'west'], activeSite: 'east', override: undefined, maxLagSeconds: 300 };
  it('takes the replica when it replicates within the lag bound', () => {
    const c = chooseBackupSource({ ...base, states: new Map([['east', primary], ['west', replica(5)]]) });
    expect(c.site).toBe('west');
  });
  it.each([
    ['unreachable', { reachable: false as const, error: 'connect ECONNREFUSED' }, /unreachable \(connect ECONNREFUSED\)/],
    ['not replicating', replica(null, false), /not replicating/],
    ['lagging', replica(301), /lagging 301 s, more than maxLagSecondsForSource \(300 s\)/],
    ['not a replica', primary, /not a replica/],
  ])('falls back to the primary when the replica is %s', (_what, state, why) => {
    const c = chooseBackupSource({ ...base, states: new Map([['east', primary], ['west', state]]) });
    expect(c.site).toBe('east');
    expect(c.reason).toMatch(why);
  });
  it('lets sourceSiteOverride win, and refuses a site the group lacks', () => {
    expect(chooseBackupSource({ ...base, override: 'east', states: new Map([['west', replica(0)]]) }).site).toBe('east');
    expect(() => chooseBackupSource({ ...base, override: 'north', states: new Map() })).toThrow(/sourceSiteOverride names site "north"/);
  });
  it('finds the primary by probing when status.activeSite is not set', () => {
    const c = chooseBackupSource({ ...base, activeSite: undefined, states: new Map([['east', replica(0)], ['west', primary]]) });
    expect(c.site).toBe('east');
    const down = chooseBackupSource({ ...base, activeSite: undefined, states: new Map([['east', replica(999)], ['west', primary]]) });
    expect(down.site).toBe('west');
  });
});

describe('resolveGroupAccount', () => {
  const secrets: Record<string, Record<string, string>> = {
    plain: { username: 'backup', password: 'p@ss:word' },
    upper: { MYSQL_USER: 'bk', MYSQL_PASSWORD: 'x' },
    dsn: { dsn: 'mysql://app%40x:s%3Acret@mysql-orders-east:3306/' },
    godsn: { DSN: 'root:pa:ss@word@tcp(host:3306)/db' },
    empty: { other: 'x' },
  };
  const read = (name: string): Promise<Record<string, string> | null> => Promise.resolve(secrets[name] ?? null);
  it('reads backupSecret first, then operatorSecret, in either key layout', async () => {
    expect(await resolveGroupAccount({ credentials: { backupSecret: 'plain', operatorSecret: 'upper' } }, read)).toEqual({ user: 'backup', password: 'p@ss:word', field: 'spec.credentials.backupSecret' });
    expect(await resolveGroupAccount({ credentials: { operatorSecret: 'upper' } }, read)).toEqual({ user: 'bk', password: 'x', field: 'spec.credentials.operatorSecret' });
  });
  it('parses the legacy DSN, URL or Go form', async () => {
    expect(await resolveGroupAccount({ secretName: 'dsn' }, read)).toMatchObject({ user: 'app@x', password: 's:cret' });
    expect(await resolveGroupAccount({ secretName: 'godsn' }, read)).toMatchObject({ user: 'root', password: 'pa:ss@word' });
    expect(parseDsn('not a dsn')).toBeNull();
  });
  it('names the field for a missing Secret or missing keys', async () => {
    const missing = resolveGroupAccount({ credentials: { backupSecret: 'gone' } }, read);
    await expect(missing).rejects.toThrow(GroupFieldError);
    await expect(missing).rejects.toMatchObject({ field: 'spec.credentials.backupSecret', reason: 'SecretNotFound' });
    await expect(resolveGroupAccount({ credentials: { backupSecret: 'empty' } }, read)).rejects.toThrow(/must hold "username" and "password".*it has other/);
    await expect(resolveGroupAccount({}, read)).rejects.toThrow(/no MySQL credentials/);
  });
});

describe('nextRetry', () => {
  const policy = { maxAttempts: 3, initialBackoffSeconds: 60, maxBackoffSeconds: 90 };
  const at = new Date('2026-11-30T02:00:00Z');
  it('backs off exponentially from the completion time, capped, up to maxAttempts', () => {
    expect(nextRetry({ triggeredBy: 'schedule', attempt: 1, completionTime: at }, policy)).toEqual({ attempt: 2, due: new Date('2026-11-30T02:01:00Z'), backoffSeconds: 60 });
    expect(nextRetry({ triggeredBy: 'retry', attempt: 2, completionTime: at }, policy)).toEqual({ attempt: 3, due: new Date('2026-11-30T02:01:30Z'), backoffSeconds: 90 });
    expect(nextRetry({ triggeredBy: 'retry', attempt: 3, completionTime: at }, policy)).toBeNull();
  });
  it('never retries an ad-hoc backup', () => {
    expect(nextRetry({ triggeredBy: 'manual', attempt: 1, completionTime: at }, policy)).toBeNull();
  });
});

describe('parseBackupJobResult', () => {
  it('reads a success and a failure', () => {
    const ok = parseBackupJobResult(JSON.stringify({ phase: 'Succeeded', name: 'g-p-1', location: 's3://b/p/g-p-1', sizeBytes: 12, gtidExecuted: '0-1-5', binlogFile: 'bin.000002', binlogPos: 345 }));
    expect(ok).toMatchObject({ phase: 'Succeeded', location: 's3://b/p/g-p-1', binlogPos: 345 });
    expect(parseBackupJobResult('{"phase":"Failed","reason":"MYSQL_ACCESS_DENIED","message":"denied"}')).toEqual({ phase: 'Failed', reason: 'MYSQL_ACCESS_DENIED', message: 'denied' });
  });
  it('gives null for an empty, cut or foreign message', () => {
    expect(parseBackupJobResult('')).toBeNull();
    expect(parseBackupJobResult('{"phase":"Succ')).toBeNull();
    expect(parseBackupJobResult('OOMKilled')).toBeNull();
    expect(parseBackupJobResult('{"phase":"Succeeded"}')).toBeNull();
  });
});
