import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/lib/catalog/catalog.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { PreconditionError } from '../../src/lib/errors.js';
import { containsSet, executedSet, gapsBeyond, holes, parseGtid, rangesSet, subtractSets, unionSets } from '../../src/lib/pitr/gtid-space.js';
import type { ArchivedBinlog, SiteManifest } from '../../src/lib/pitr/manifest.js';
import { parseTargetTime } from '../../src/lib/pitr/target-time.js';
import { computeWindow, planPointInTime } from '../../src/lib/pitr/window.js';

function dump(name: string, snapshotAt: string, gtid: string, flavor: 'mariadb' | 'mysql' = 'mariadb'): CatalogEntry {
  const record = { name, phase: 'Succeeded', startedAt: snapshotAt, snapshotAt, gtidExecuted: gtid, source: { flavor } } as unknown as BackupRecord;
  return { name, prefix: `${name}/`, record, complete: true, phase: 'Succeeded', failure: null, heldBytes: 0, startedAt: new Date(snapshotAt), verified: false, verification: null, verifiedAt: null };
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

function mysqlFile(site: string, name: string, uuid: string, [first, last]: [number, number], [from, to]: [string, string]): ArchivedBinlog {
  return { ...file(site, name, [first, last], [from, to]), flavor: 'mysql', serverUuid: uuid, gtids: `${uuid}:${first}-${last}`, gtidRanges: [{ uuid, first, last }] };
}

const site = (name: string, entries: ArchivedBinlog[]): SiteManifest => ({ version: 1, site: name, entries });

/** 2026-01-01 at this UTC time. */
const jan1 = (hhmm: string): string => `2026-01-01T${hhmm}:00.000Z`;

/** Runs `run`, expects the exit-3 PITR_OUT_OF_RANGE refusal from it, and returns that. */
function refusal(run: () => unknown): PreconditionError {
  let err: unknown;
  try {
    run();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PreconditionError);
  expect((err as PreconditionError).code).toBe('PITR_OUT_OF_RANGE');
  expect((err as PreconditionError).exitCode).toBe(3);
  return err as PreconditionError;
}

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

  it('subtracts sets, and finds what is missing past a base: holes above it, and the start of a space it lacks', () => {
    const set = new Map([['0', [[0, 20], [26, 30]] as Array<[number, number]>], ['u', [[4, 9]] as Array<[number, number]>]]);
    expect(subtractSets(set, executedSet('mariadb', '0-1-22'))).toEqual(new Map([['0', [[26, 30]]], ['u', [[4, 9]]]]));
    expect(containsSet(set, executedSet('mariadb', '0-1-20'))).toBe(true);
    expect(containsSet(set, executedSet('mariadb', '0-1-21'))).toBe(false);
    expect(gapsBeyond(executedSet('mariadb', '0-1-10'), set)).toEqual([
      { space: '0', first: 21, last: 25 },
      { space: 'u', first: 1, last: 3 },
    ]);
    // A hole the base already had is not something that happened after it.
    expect(gapsBeyond(new Map([['0', [[0, 20], [26, 30]]]]), set).filter((g) => g.space === '0')).toEqual([]);
  });
});

describe('the window: only what storage proves', () => {
  it('without an archive, two backups holding different transactions are two points, and a time between them is refused naming both', () => {
    const dumps = [dump('d1', jan1('00:00'), '0-1-10'), dump('d2', jan1('06:00'), '0-1-13')];
    const window = computeWindow(dumps, []);
    expect(window.ranges).toEqual([
      { from: jan1('00:00'), to: jan1('00:00'), backups: ['d1'] },
      { from: jan1('06:00'), to: jan1('06:00'), backups: ['d2'] },
    ]);
    expect(window.gaps).toEqual([{ from: jan1('00:00'), to: jan1('06:00'), reason: 'transactions missing from the archive: domain 0, sequence numbers 11..13 (backup d2 holds them)' }]);
    const err = refusal(() => planPointInTime(dumps, [], new Date(jan1('03:00'))));
    expect(err.message).toContain(`nothing between ${jan1('00:00')} and ${jan1('06:00')} is restorable`);
    expect(err.message).toContain(`the nearest restorable times are ${jan1('00:00')} before it and ${jan1('06:00')} after it`);
    expect(err.hint).toMatch(/pitr window.*pitr archive/);
    // Each snapshot itself is restorable, with nothing to replay.
    expect(planPointInTime(dumps, [], new Date(jan1('00:00')))).toMatchObject({ dump: { entry: { name: 'd1' } }, files: [], required: new Map() });
    expect(planPointInTime(dumps, [], new Date(jan1('06:00'))).dump.entry.name).toBe('d2');
  });

  it('two backups holding the same transactions prove the span between them empty, archive or not', () => {
    const dumps = [dump('d1', jan1('00:00'), '0-1-10'), dump('d2', jan1('06:00'), '0-1-10')];
    expect(computeWindow(dumps, [])).toMatchObject({ from: jan1('00:00'), to: jan1('06:00'), ranges: [{ from: jan1('00:00'), to: jan1('06:00'), backups: ['d1', 'd2'] }], gaps: [] });
    expect(planPointInTime(dumps, [], new Date(jan1('03:00')))).toMatchObject({ dump: { entry: { name: 'd1' } }, files: [], coverage: { from: jan1('00:00'), to: jan1('06:00') } });
    refusal(() => planPointInTime(dumps, [], new Date(jan1('07:00'))));
  });

  it('an archive that continues a backup without a hole covers it to the last archived event, across sites', () => {
    const dumps = [dump('d1', jan1('00:00'), '0-1-10')];
    const a = site('a', [file('a', 'b.1', [11, 20], [jan1('01:00'), jan1('02:00')]), file('a', 'b.2', [21, 30], [jan1('03:00'), jan1('05:00')])]);
    // After a failover, the new primary carries on from the old one's numbers; overlaps are fine.
    const b = site('b', [file('b', 'c.1', [25, 40], [jan1('04:00'), jan1('08:00')], 2)]);
    expect(computeWindow(dumps, [a, b])).toMatchObject({ from: jan1('00:00'), to: jan1('08:00'), ranges: [{ from: jan1('00:00'), to: jan1('08:00'), backups: ['d1'] }], gaps: [], sites: ['a', 'b'], files: 3 });
    const plan = planPointInTime(dumps, [a, b], new Date(jan1('03:30')));
    expect(plan.files.map((f) => f.file)).toEqual(['b.1', 'b.2']);
    // Only the file that ends by the target must be applied in full.
    expect(plan.required).toEqual(new Map([['0', [[11, 20]]]]));
    expect(refusal(() => planPointInTime(dumps, [a, b], new Date(jan1('09:00')))).message).toContain(`the nearest restorable times are ${jan1('08:00')} before it and none after it`);
    refusal(() => planPointInTime(dumps, [a, b], new Date('2025-12-31T00:00:00Z')));
  });

  it('no coverage reaches across a whole-instance restore in place: the binlogs after it do not carry on from before it', () => {
    const dumps = [dump('d1', jan1('00:00'), '0-1-10'), dump('d2', jan1('06:00'), '0-1-35')];
    const a = site('a', [file('a', 'b.1', [11, 20], [jan1('01:00'), jan1('02:00')]), file('a', 'b.2', [21, 40], [jan1('03:00'), jan1('08:00')])]);
    const breaks = [{ at: new Date(jan1('02:30')), reason: 'the whole instance was restored in place from d0 at 02:30, outside the binary log' }];
    const w = computeWindow(dumps, [a], breaks);
    expect(w.ranges).toEqual([
      { from: jan1('00:00'), to: '2026-01-01T02:29:59.999Z', backups: ['d1'] },
      { from: jan1('06:00'), to: jan1('08:00'), backups: ['d2'] },
    ]);
    expect(w.gaps[0]).toMatchObject({ from: '2026-01-01T02:29:59.999Z', to: jan1('06:00'), reason: breaks[0]!.reason });
    // Without the break, d1 would claim the whole span and replay what the restore undid.
    expect(computeWindow(dumps, [a]).ranges).toHaveLength(1);
    expect(refusal(() => planPointInTime(dumps, [a], new Date(jan1('04:00')), undefined, breaks)).message).toContain('restored in place');
    expect(planPointInTime(dumps, [a], new Date(jan1('07:00')), undefined, breaks).dump.entry.name).toBe('d2');
  });

  it('a restore in place cuts only the coverage of the server it restored: by server_uuid, else by server_id, hostname and port', () => {
    const from = (name: string, at: string, source: Record<string, unknown>): CatalogEntry => {
      const e = dump(name, at, '0-1-10');
      return { ...e, record: { ...e.record!, source: { flavor: 'mariadb', target: '127.0.0.1:3306', hostname: 'db1', serverId: 1, serverUuid: null, ...source } } as BackupRecord };
    };
    const a = site('a', [file('a', 'b.1', [11, 20], [jan1('01:00'), jan1('02:00')]), file('a', 'b.2', [21, 40], [jan1('03:00'), jan1('08:00')])]);
    const at = new Date(jan1('02:30'));
    const restored = (server: { uuid: string | null; serverId: number; hostname: string; port: number | null }) => [{ at, reason: 'restored in place', server }];
    const cut = (entry: CatalogEntry, server: Parameters<typeof restored>[0]): boolean => computeWindow([entry], [a], restored(server)).to !== jan1('08:00');
    const mariadb = from('d1', jan1('00:00'), {});
    expect(cut(mariadb, { uuid: null, serverId: 1, hostname: 'db1', port: 3306 })).toBe(true);
    // Another server on the same host (the trial's case), with the same server id or another.
    expect(cut(mariadb, { uuid: null, serverId: 1, hostname: 'db1', port: 3307 })).toBe(false);
    expect(cut(mariadb, { uuid: null, serverId: 2, hostname: 'db1', port: 3306 })).toBe(false);
    expect(cut(mariadb, { uuid: null, serverId: 1, hostname: 'db2', port: 3306 })).toBe(false);
    // Reached through a socket: the port is not known, the server id and hostname decide.
    expect(cut(from('d1', jan1('00:00'), { target: 'socket /run/mysqld.sock' }), { uuid: null, serverId: 1, hostname: 'db1', port: 3307 })).toBe(true);
    const mysql = from('d1', jan1('00:00'), { serverUuid: 'u-1' });
    expect(cut(mysql, { uuid: 'u-1', serverId: 9, hostname: 'elsewhere', port: 1 })).toBe(true);
    expect(cut(mysql, { uuid: 'u-2', serverId: 1, hostname: 'db1', port: 3306 })).toBe(false);
    // A record that does not name its server (older bloodraven) cuts every coverage, as before.
    expect(computeWindow([mariadb], [a], [{ at, reason: 'restored in place' }]).to).not.toBe(jan1('08:00'));
  });

  it('a hole ends coverage at the last archived event before it; a backup past the hole starts a range of its own', () => {
    const files = site('a', [file('a', 'b.1', [11, 20], [jan1('01:00'), jan1('02:00')]), file('a', 'b.3', [31, 40], [jan1('05:00'), jan1('06:00')])]);
    const reason = 'transactions missing from the archive: domain 0, sequence numbers 21..30';
    expect(computeWindow([dump('d1', jan1('00:00'), '0-1-10')], [files])).toMatchObject({
      ranges: [{ from: jan1('00:00'), to: jan1('02:00'), backups: ['d1'] }],
      gaps: [{ from: jan1('02:00'), to: null, reason }],
    });
    const dumps = [dump('d1', jan1('00:00'), '0-1-10'), dump('d2', jan1('05:30'), '0-1-35')];
    const window = computeWindow(dumps, [files]);
    expect(window.ranges).toEqual([
      { from: jan1('00:00'), to: jan1('02:00'), backups: ['d1'] },
      { from: jan1('05:30'), to: jan1('06:00'), backups: ['d2'] },
    ]);
    expect(window.gaps).toEqual([{ from: jan1('02:00'), to: jan1('05:30'), reason: `${reason} (backup d2 holds them)` }]);
    expect(planPointInTime(dumps, [files], new Date(jan1('02:00'))).files.map((f) => f.file)).toEqual(['b.1']);
    const err = refusal(() => planPointInTime(dumps, [files], new Date(jan1('03:00'))));
    expect(err.message).toContain(reason);
    expect(err.message).toContain(`the nearest restorable times are ${jan1('02:00')} before it and ${jan1('05:30')} after it`);
    expect(planPointInTime(dumps, [files], new Date(jan1('05:45')))).toMatchObject({ dump: { entry: { name: 'd2' } }, files: [{ file: 'b.3' }] });
  });

  it('picks the newest backup whose coverage holds the target, not the newest one before it', () => {
    const a = site('a', [file('a', 'b.1', [11, 30], [jan1('01:00'), jan1('05:00')])]);
    // d2 recorded no GTID position: nothing shows which binlogs carry on from it.
    const dumps = [dump('d1', jan1('00:00'), '0-1-10'), dump('d2', jan1('02:00'), ''), dump('d3', jan1('03:00'), '0-1-25')];
    expect(planPointInTime(dumps, [a], new Date(jan1('02:30')))).toMatchObject({ dump: { entry: { name: 'd1' } }, files: [{ file: 'b.1' }] });
    expect(planPointInTime(dumps, [a], new Date(jan1('04:00'))).dump.entry.name).toBe('d3');
    expect(planPointInTime(dumps, [a], new Date(jan1('02:00')))).toMatchObject({ dump: { entry: { name: 'd2' } }, files: [] });
    const named = refusal(() => planPointInTime(dumps, [a], new Date(jan1('02:30')), 'd2'));
    expect(named.message).toMatch(/backup d2 reaches only 2026-01-01T02:00:00.000Z only \(backup d2 recorded no GTID position/);
    expect(planPointInTime(dumps, [a], new Date(jan1('04:00')), 'd1').dump.entry.name).toBe('d1');
  });

  it('judges MySQL GTID sets the same way, per source UUID', () => {
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const other = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
    const noArchive = [dump('m1', jan1('00:00'), `${uuid}:1-10`, 'mysql'), dump('m2', jan1('06:00'), `${uuid}:1-13`, 'mysql')];
    expect(computeWindow(noArchive, []).gaps).toEqual([{ from: jan1('00:00'), to: jan1('06:00'), reason: `transactions missing from the archive: ${uuid}:11..13 (backup m2 holds them)` }]);
    refusal(() => planPointInTime(noArchive, [], new Date(jan1('03:00'))));

    // A hole the backup's own executed set already had does not end coverage; a new UUID (a
    // failover) must start at 1.
    const d = [dump('m1', jan1('00:00'), `${uuid}:1-5:7-10`, 'mysql')];
    const a = site('a', [mysqlFile('a', 'b.1', uuid, [11, 20], [jan1('01:00'), jan1('02:00')])]);
    const b = site('b', [mysqlFile('b', 'c.1', other, [1, 5], [jan1('03:00'), jan1('04:00')])]);
    expect(computeWindow(d, [a, b])).toMatchObject({ ranges: [{ from: jan1('00:00'), to: jan1('04:00') }], gaps: [] });
    const late = site('b', [mysqlFile('b', 'c.2', other, [3, 5], [jan1('03:00'), jan1('04:00')])]);
    expect(computeWindow(d, [a, late])).toMatchObject({
      ranges: [{ from: jan1('00:00'), to: jan1('00:00') }],
      gaps: [{ from: jan1('00:00'), to: null, reason: `transactions missing from the archive: ${other}:1..2` }],
    });
  });

  it('reports nothing restorable without a complete backup', () => {
    expect(computeWindow([], [])).toMatchObject({ from: null, to: null, ranges: [], reason: 'there is no complete backup to start from' });
    expect(refusal(() => planPointInTime([], [], new Date(jan1('00:00')))).message).toContain('there is no complete backup to start from');
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
