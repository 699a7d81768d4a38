import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import {
  clusterFencingSteps,
  inPlaceJobArgs,
  inPlaceMode,
  judgeConfirmToken,
  labelSelectorString,
  parseInPlaceJobResult,
  peerSites,
  podsToFence,
  sitePodSelector,
} from '../../src/lib/kube/in-place-restore.js';
import { validateGroupSpec, type ParsedGroup, type RestoreInPlaceSpec } from '../../src/lib/kube/resources.js';
import { describePlanReport, inPlacePlanReport, inPlaceSucceededResult, plannedResult, type InPlacePlanReport } from '../../src/lib/restore/in-place-report.js';
import { executedSet } from '../../src/lib/pitr/gtid-space.js';
import type { PointInTimePlan } from '../../src/lib/pitr/window.js';
import type { RestorePlan } from '../../src/lib/restore/plan.js';
import type { InPlaceResult } from '../../src/lib/restore/restore-in-place.js';

function group(restoreInPlace: Record<string, unknown>, sites: unknown[] = [{ name: 'east' }, { name: 'west' }]): ParsedGroup & { spec: { restoreInPlace: RestoreInPlaceSpec } } {
  const parsed = validateGroupSpec({
    credentials: { backupSecret: 'acct' },
    sites,
    backup: { profiles: [{ name: 'nightly', storage: { type: 'S3', s3: { bucket: 'b-1', prefix: 'p' } } }], pitr: { enabled: true, profileName: 'nightly' } },
    restoreInPlace,
  });
  if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
  return { metadata: { name: 'orders', namespace: 'shop' }, spec: parsed.data } as never;
}

const now = new Date('2026-11-30T10:00:00Z');
const catalogSource = { kind: 'catalog' as const, profile: group({ confirm: 'x', source: { mysqlBackupRef: { name: 'b' } } }).spec.backup!.profiles[0]!, mysqlBackup: 'b', backupName: 'orders-nightly-1', description: 'orders-nightly-1' };

describe('judgeConfirmToken', () => {
  it('takes an RFC 3339 time newer than the last token', () => {
    expect(judgeConfirmToken('2026-11-30T09:59:00Z', '2026-11-30T09:00:00Z', now)).toEqual({ kind: 'new', at: new Date('2026-11-30T09:59:00Z') });
    expect(judgeConfirmToken('2026-11-30T11:00:00+02:00', undefined, now).kind).toBe('new');
  });

  it('calls an equal or older token stale, naming the field and the token used', () => {
    for (const token of ['2026-11-30T09:00:00Z', '2026-11-30T08:00:00Z']) {
      const v = judgeConfirmToken(token, '2026-11-30T09:00:00Z', now);
      expect(v.kind).toBe('stale');
      expect(v.kind === 'stale' && v.message).toContain('confirmTokenUsed (2026-11-30T09:00:00Z)');
    }
  });

  it('refuses garbage, a time without a zone, an impossible date, and a time far in the future, saying what to write', () => {
    for (const token of ['now', 'tomorrow', '2026-11-30 09:00:00', '2026-02-30T09:00:00Z', '2026-11-30T10:06:00Z']) {
      const v = judgeConfirmToken(token, undefined, now);
      expect(v.kind, token).toBe('invalid');
      expect(v.kind === 'invalid' && v.message, token).toMatch(/^spec\.restoreInPlace\.confirm ".*".*2026-11-30T10:00:00Z \(date -u \+%FT%TZ\)$/);
    }
    expect(judgeConfirmToken('2026-11-30T10:04:00Z', undefined, now).kind).toBe('new');
  });
});

describe('the in-place restore in the cluster', () => {
  it('is one schema only when includeSchemas names exactly one', () => {
    expect(inPlaceMode(group({ confirm: 'x', source: { mysqlBackupRef: { name: 'b' } } }).spec.restoreInPlace)).toBe('instance');
    expect(inPlaceMode(group({ confirm: 'x', source: { mysqlBackupRef: { name: 'b' } }, loadOptions: { includeSchemas: ['t42'] } }).spec.restoreInPlace)).toBe('schema');
  });

  it('selects the site pods by podSelector, or by group and site', () => {
    const g = group({ confirm: 'x', source: { mysqlBackupRef: { name: 'b' } } }, [
      { name: 'east', podSelector: { matchLabels: { app: 'mysql', zone: 'e' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db', 'sql'] }, { key: 'canary', operator: 'DoesNotExist' }] } },
      { name: 'west' },
    ]);
    expect(sitePodSelector(g, g.spec.sites![0]!)).toBe('app=mysql,zone=e,tier in (db,sql),!canary');
    expect(sitePodSelector(g, g.spec.sites![1]!)).toBe('shipstream.io/group=orders,shipstream.io/site=west');
    expect(labelSelectorString({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }, { key: 'b', operator: 'Exists' }] })).toBe('a notin (x),b');
    expect(peerSites(g, 'east')).toEqual(['west']);
  });

  it('fences only the pods labelled primary that are not being deleted', () => {
    const pod = (name: string, labels: Record<string, string>, deleting = false): V1Pod => ({ metadata: { name, labels, ...(deleting ? { deletionTimestamp: new Date() } : {}) } });
    expect(podsToFence([pod('b', { 'shipstream.io/role': 'primary' }), pod('a', { 'shipstream.io/role': 'primary' }), pod('c', { 'shipstream.io/role': 'replica' }), pod('d', { 'shipstream.io/role': 'primary' }, true)])).toEqual(['a', 'b']);
  });

  it('says the cluster fencing steps, and that fencing is at the server alone with no pods', () => {
    const g = group({ confirm: 'x', source: { mysqlBackupRef: { name: 'b' } } });
    const steps = clusterFencingSteps({ group: g, mode: 'instance', selector: 's=1', pods: ['p0'], token: 'T', peers: ['west'] });
    expect(steps.before.join(' ')).toMatch(/Remove shipstream\.io\/role=primary from pod\(s\) p0.*mysql-orders-primary.*topology-freeze=T/);
    expect(steps.after.join(' ')).toContain('shipstream.io/reclone-site=west');
    expect(clusterFencingSteps({ group: g, mode: 'instance', selector: 's=1', pods: [], token: 'T', peers: [] }).before[0]).toContain('fencing is at the server alone');
    expect(clusterFencingSteps({ group: g, mode: 'schema', selector: 's=1', pods: ['p0'], token: 'T', peers: ['west'] })).toEqual({ before: [], after: [] });
  });

  it('runs restore in-place with the confirm, the schema, the load options and the point in time', () => {
    const spec = group({
      confirm: '2026-11-30T09:00:00Z',
      source: { mysqlBackupRef: { name: 'b' } },
      loadOptions: { includeSchemas: ['t42'], threads: 3, loadUsers: true },
      pointInTime: { stopDatetime: '2026-11-30T08:00:00Z', excludeGtids: '0-1-7' },
    }).spec.restoreInPlace;
    expect(inPlaceJobArgs(spec, catalogSource)).toEqual([
      'restore', 'in-place', '--profile', 'nightly', '--backup', 'orders-nightly-1', '--confirm', '2026-11-30T09:00:00Z', '--include-schema', 't42', '--threads', '3', '--load-users',
      '--stop-datetime', '2026-11-30T08:00:00Z', '--binlogs-dir', '/pitr-binlogs', '--exclude-gtids', '0-1-7',
    ]);
    const dry = group({ confirm: 'x', source: { mysqlBackupRef: { name: 'b' } }, dryRun: true }).spec.restoreInPlace;
    expect(inPlaceJobArgs(dry, catalogSource)).toEqual(['restore', 'in-place', '--profile', 'nightly', '--backup', 'orders-nightly-1', '--dry-run']);
  });

  it('reads the Job result: Succeeded, Planned, Failed; nothing from a cut or empty message', () => {
    expect(parseInPlaceJobResult('{"phase":"Failed","reason":"CONFIRM_STALE","message":"old"}')).toEqual({ phase: 'Failed', reason: 'CONFIRM_STALE', message: 'old' });
    expect(parseInPlaceJobResult('{"phase":"Succeeded","backup":"b","mode":"instance","dropped":["app"],"rows":5,"bytes":9,"fencedSeconds":1.5,"pointReached":{"gtidExecuted":"0-1-9"}}')?.phase).toBe('Succeeded');
    expect(parseInPlaceJobResult('{"phase":"Succ')).toBeUndefined();
    expect(parseInPlaceJobResult(undefined)).toBeUndefined();
  });
});

describe('plannedResult', () => {
  it('cuts the longest list to fit 4096 bytes and counts what it left out', () => {
    const report: InPlacePlanReport = {
      backup: 'b',
      mode: 'instance',
      drop: Array.from({ length: 500 }, (_, i) => `tenant_${i}`),
      load: ['a'],
      binlogs: [],
      expectedBytes: 1,
      fencing: ['x'],
    };
    const doc = plannedResult(report);
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThanOrEqual(4096);
    expect(doc.plan.drop.length + (doc.plan.omitted?.drop ?? 0)).toBe(500);
    expect(doc.plan.omitted?.drop).toBeGreaterThan(0);
    expect(plannedResult({ ...report, drop: ['a'] }).plan.omitted).toBeUndefined();
  });
});

describe('describePlanReport', () => {
  it('shows the bytes, the binlogs and GTIDs a point in time replays, and the fencing steps', () => {
    const lines = describePlanReport({
      backup: 'b',
      mode: 'instance',
      drop: ['app'],
      load: ['app'],
      binlogs: [{ site: 'east', file: 'mysql-bin.000007' }, { site: 'west', file: 'mysql-bin.000002' }],
      gtidRanges: '0-101-40-57,0-102-58-60',
      expectedBytes: 1234,
      fencing: ['Set global read_only = 1 on h:1.', 'Put read_only back to 0.'],
    });
    expect(lines).toEqual([
      '  bytes      1234 to read from storage',
      '  replays    2 archived binlog(s): east/mysql-bin.000007, west/mysql-bin.000002',
      '  GTIDs      0-101-40-57,0-102-58-60',
      '  fencing:',
      '    - Set global read_only = 1 on h:1.',
      '    - Put read_only back to 0.',
    ]);
  });
});

// --- point in time (k11-ippitr) ---
describe('inPlacePlanReport with a point in time', () => {
  const plan = { mode: 'instance', backup: 'orders-nightly-1', source: 's3://b/p/orders-nightly-1', target: 'h:3306', drop: ['app'], load: { files: new Map([['app.t', { bytes: 100 }]]), schemas: [{ name: 'app' }] } } as unknown as RestorePlan;
  const file = (name: string, gtidRanges: PointInTimePlan['files'][number]['gtidRanges'], size: number) => ({ file: name, site: 'east', size, gtidRanges }) as PointInTimePlan['files'][number];

  it('MariaDB: gtidRanges are the files’ transactions beyond the backup’s position, runs across files merged', () => {
    const pitr = {
      dump: { flavor: 'mariadb', executed: executedSet('mariadb', '0-101-8,1-7-3') },
      files: [
        file('mysql-bin.000001', [{ domain: 0, server: 101, first: 1, last: 15 }, { domain: 1, server: 7, first: 1, last: 3 }], 40),
        file('mysql-bin.000002', [{ domain: 0, server: 101, first: 16, last: 20 }, { domain: 0, server: 102, first: 21, last: 22 }], 60),
      ],
    } as unknown as PointInTimePlan;
    const report = inPlacePlanReport(plan, pitr);
    expect(report.binlogs).toEqual([{ site: 'east', file: 'mysql-bin.000001' }, { site: 'east', file: 'mysql-bin.000002' }]);
    // Domain 1 is wholly in the backup; 0-101-1..8 too.
    expect(report.gtidRanges).toBe('0-101-9..20,0-102-21..22');
    expect(report.expectedBytes).toBe(200);
    expect(inPlacePlanReport(plan, undefined).gtidRanges).toBeUndefined();
  });

  it('MySQL: the files’ GTID set less the backup’s executed set', () => {
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const pitr = { dump: { flavor: 'mysql', executed: executedSet('mysql', `${uuid}:1-10`) }, files: [file('binlog.000003', [{ uuid, first: 5, last: 14 }], 1)] } as unknown as PointInTimePlan;
    expect(inPlacePlanReport(plan, pitr).gtidRanges).toBe(`${uuid}:11-14`);
  });
});

describe('inPlaceSucceededResult after a replay', () => {
  it('pointReached is the last replayed transaction: its time at whole seconds, GTID, archived file and position', () => {
    const result = {
      backup: 'orders-nightly-1',
      source: 's3://b/p',
      mode: 'instance',
      dropped: ['app'],
      rows: 5,
      bytes: 9,
      fencedMs: 1500,
      pitr: { applied: 3, lastAppliedGtid: '0-101-15', lastAppliedTime: '2026-11-30T11:07:03.000Z', lastAppliedAt: { site: 'east', file: 'mysql-bin.000001', position: 4242 } },
    } as unknown as InPlaceResult;
    expect(inPlaceSucceededResult(result, null).pointReached).toEqual({ time: '2026-11-30T11:07:03Z', gtidExecuted: '0-101-15', binlogFile: 'mysql-bin.000001', binlogPos: 4242 });
  });
});
