import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/lib/catalog/catalog.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { executedSet, holes, parseGtid, rangesSet, unionSets } from '../../src/lib/pitr/gtid-space.js';
import type { ArchivedBinlog, SiteManifest } from '../../src/lib/pitr/manifest.js';
import { parseTargetTime } from '../../src/lib/pitr/target-time.js';
import { computeWindow, planPointInTime } from '../../src/lib/pitr/window.js';

function dump(name: string, snapshotAt: string, gtid: string): CatalogEntry {
  const record = { name, phase: 'Succeeded', startedAt: snapshotAt, snapshotAt, gtidExecuted: gtid, source: { flavor: 'mariadb' } } as unknown as BackupRecord;
  return { name, prefix: `${name}/`, record, complete: true, phase: 'Succeeded', failure: null, startedAt: new Date(snapshotAt), verified: false };
}

function file(site: string, name: string, [first, last]: [number, number], [from, to]: [string, string], server = 1): ArchivedBinlog {
  return {
    file: name,
    site,
    key: `binlogs/${site}/${name}`,
    flavor: 'mariadb',
    serverId: server,
    serverUuid: null,
    size: 1,
    sha256: 'x',
    firstEventTime: from,
    lastEventTime: to,
    gtids: `0-${server}-${first}..${last}`,
    gtidRanges: [{ domain: 0, server, first, last }],
    previousGtids: '',
    transactions: last - first + 1,
    endedWith: 'rotate',
    uploadedAt: to,
  };
}

const site = (name: string, entries: ArchivedBinlog[]): SiteManifest => ({ version: 1, site: name, entries });

describe('GTID spaces', () => {
  it('reads MariaDB and MySQL GTIDs and executed sets', () => {
    expect(parseGtid('0-1-42')).toEqual({ space: '0', seq: 42 });
    expect(parseGtid('3E11FA47-71CA-11E1-9E33-C80AA9429562:7')).toEqual({ space: '3e11fa47-71ca-11e1-9e33-c80aa9429562', seq: 7 });
    expect(() => parseGtid('nope')).toThrow(/not a GTID/);
    expect(executedSet('mariadb', '0-1-100,1-2-5')).toEqual(new Map([['0', [[0, 100]]], ['1', [[0, 5]]]]));
    expect(executedSet('mysql', '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9')).toEqual(new Map([['3e11fa47-71ca-11e1-9e33-c80aa9429562', [[1, 5], [7, 9]]]]));
  });

  it('finds holes across files of any site, ignoring overlaps', () => {
    const all = unionSets(executedSet('mariadb', '0-1-10'), rangesSet([{ domain: 0, server: 1, first: 11, last: 20 }]), rangesSet([{ domain: 0, server: 2, first: 15, last: 25 }]), rangesSet([{ domain: 0, server: 2, first: 30, last: 31 }]));
    expect(holes(all)).toEqual([{ space: '0', first: 26, last: 29 }]);
  });
});

describe('the window and the plan', () => {
  const dumps = [dump('old', '2026-01-01T00:00:00.000Z', '0-1-10'), dump('new', '2026-01-02T00:00:00.000Z', '0-1-30')];
  const a = site('a', [file('a', 'b.1', [11, 20], ['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z']), file('a', 'b.2', [21, 30], ['2026-01-01T03:00:00.000Z', '2026-01-01T23:00:00.000Z'])]);
  const b = site('b', [file('b', 'c.1', [25, 40], ['2026-01-01T22:00:00.000Z', '2026-01-02T05:00:00.000Z'], 2)]);

  it('spans from the oldest snapshot to the last archived event, without gaps when files overlap', () => {
    expect(computeWindow(dumps, [a, b])).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T05:00:00.000Z', gaps: [], sites: ['a', 'b'], files: 3 });
  });

  it('picks the newest dump before the target and the files after it, from every site', () => {
    const plan = planPointInTime(dumps, [a, b], new Date('2026-01-02T04:00:00Z'));
    expect(plan.dump.entry.name).toBe('new');
    expect(plan.files.map((f) => f.file)).toEqual(['c.1']);
    const early = planPointInTime(dumps, [a, b], new Date('2026-01-01T02:30:00Z'));
    expect(early.dump.entry.name).toBe('old');
    expect(early.files.map((f) => f.file)).toEqual(['b.1']);
  });

  it('reports a lost file as a gap with its time span, and refuses targets past its start', () => {
    const lossy = site('a', [a.entries[0]!, file('a', 'b.3', [31, 40], ['2026-01-01T05:00:00.000Z', '2026-01-01T06:00:00.000Z'])]);
    const window = computeWindow([dumps[0]!], [lossy]);
    expect(window.gaps).toEqual([{ from: '2026-01-01T02:00:00.000Z', to: '2026-01-01T05:00:00.000Z', reason: 'transactions missing from the archive: domain 0, sequence numbers 21..30' }]);
    expect(() => planPointInTime([dumps[0]!], [lossy], new Date('2026-01-01T05:30:00Z'))).toThrow(/cross a gap/);
    expect(planPointInTime([dumps[0]!], [lossy], new Date('2026-01-01T02:00:00Z')).files.map((f) => f.file)).toEqual(['b.1']);
  });

  it('refuses a target before every dump, or after the archive', () => {
    expect(() => planPointInTime(dumps, [a], new Date('2025-12-31T00:00:00Z'))).toThrow(/no complete backup was taken before it/);
    expect(() => planPointInTime(dumps, [a], new Date('2026-01-03T00:00:00Z'))).toThrow(/after the last archived event/);
  });
});

describe('target times', () => {
  it('reads RFC 3339 with or without a zone, and MySQL datetimes as UTC', () => {
    expect(parseTargetTime('2026-04-15T09:30:00Z').toISOString()).toBe('2026-04-15T09:30:00.000Z');
    expect(parseTargetTime('2026-04-15T11:30:00+02:00').toISOString()).toBe('2026-04-15T09:30:00.000Z');
    expect(parseTargetTime('2026-04-15T09:30:00').toISOString()).toBe('2026-04-15T09:30:00.000Z');
    expect(parseTargetTime('2026-04-15 09:30:00').toISOString()).toBe('2026-04-15T09:30:00.000Z');
    expect(() => parseTargetTime('yesterday')).toThrow(/not a time/);
  });
});
