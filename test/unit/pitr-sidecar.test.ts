/**
 * The sidecar's pure parts: which binlogs a cutoff lets go (planCutoffPrune, prune's rule and the
 * cutoff together), and how paths the server reports map onto the sidecar's mount.
 */
import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/lib/catalog/catalog.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { ConfigError } from '../../src/lib/errors.js';
import { planCutoffPrune } from '../../src/lib/pitr/cutoff-prune.js';
import type { ArchivedBinlog, SiteManifest } from '../../src/lib/pitr/manifest.js';
import { sidecarPathMapper } from '../../src/lib/pitr/sidecar.js';

function dump(name: string, snapshotAt: string, gtid: string, phase: 'Succeeded' | 'Failed' = 'Succeeded'): CatalogEntry {
  const record = { name, phase, startedAt: snapshotAt, snapshotAt, gtidExecuted: gtid, source: { flavor: 'mariadb' } } as unknown as BackupRecord;
  return { name, prefix: `${name}/`, record, complete: phase === 'Succeeded', phase, failure: null, heldBytes: 0, startedAt: new Date(snapshotAt), verified: false, verification: null, verifiedAt: null };
}

function file(name: string, [first, last]: [number, number], lastEventTime: string): ArchivedBinlog {
  return {
    file: name,
    site: 'east',
    key: `binlogs/east/${name}`,
    flavor: 'mariadb',
    serverId: 1,
    serverUuid: null,
    size: 1,
    sha256: 'x',
    firstEventTime: lastEventTime,
    lastEventTime,
    gtids: `0-1-${first}..${last}`,
    gtidRanges: [{ domain: 0, server: 1, first, last }],
    previousGtids: '',
    transactions: last - first + 1,
    endedWith: 'rotate',
    uploadedAt: lastEventTime,
  };
}

const at = (hhmm: string): string => `2026-01-01T${hhmm}:00.000Z`;
const east = (entries: ArchivedBinlog[]): SiteManifest => ({ version: 1, site: 'east', entries });

// Three files; the oldest backup in storage was snapshotted at 03:00 holding transactions 1..20.
const files = [file('b.1', [1, 10], at('01:00')), file('b.2', [11, 20], at('02:00')), file('b.3', [21, 30], at('04:00'))];
const backups = [dump('nightly-1', at('03:00'), '0-1-20'), dump('nightly-2', at('05:00'), '0-1-30')];

describe('planCutoffPrune', () => {
  it('prunes nothing on a null cutoff (no retained backup), whatever storage holds', () => {
    expect(planCutoffPrune(backups, east(files), null)).toEqual([]);
  });

  it('lets go the files both the cutoff and prune’s rule allow, with both reasons', () => {
    const plan = planCutoffPrune(backups, east(files), new Date(at('03:30')));
    expect(plan.map((d) => d.file)).toEqual(['b.1', 'b.2']);
    expect(plan[0]?.reason).toMatch(/older than nightly-1.*and before the cluster's cutoff 2026-01-01T03:30:00.000Z/);
  });

  it('keeps a file after the cutoff although the oldest backup in storage would let it go', () => {
    expect(planCutoffPrune(backups, east(files), new Date(at('01:30'))).map((d) => d.file)).toEqual(['b.1']);
  });

  it('keeps a file before the cutoff that the oldest backup in storage still needs (its snapshot is older than the cutoff)', () => {
    // The cutoff (a completionTime) is after file b.3's last event, but nightly-1's snapshot is not.
    expect(planCutoffPrune(backups, east(files), new Date(at('06:00'))).map((d) => d.file)).toEqual(['b.1', 'b.2']);
    // Once nightly-1 is gone from storage, nightly-2 (snapshot 05:00, up to 30) lets b.3 go too.
    expect(planCutoffPrune([backups[1]!], east(files), new Date(at('06:00'))).map((d) => d.file)).toEqual(['b.1', 'b.2', 'b.3']);
  });

  it('prunes nothing without a restorable backup in storage, whatever the cutoff', () => {
    expect(planCutoffPrune([dump('failed', at('03:00'), '0-1-20', 'Failed')], east(files), new Date(at('06:00')))).toEqual([]);
  });
});

describe('sidecarPathMapper', () => {
  it('uses the server’s paths when the volume is mounted where mysqld has it', () => {
    expect(sidecarPathMapper({})).toBeUndefined();
  });

  it('takes every binlog path into --binlog-dir', () => {
    const map = sidecarPathMapper({ binlogDir: '/binlogs' })!;
    expect(map('/var/lib/mysql/mysql-bin', '/var/lib/mysql/')).toBe('/binlogs/mysql-bin');
    expect(map('/var/lib/mysql/mysql-bin.index', '/var/lib/mysql/')).toBe('/binlogs/mysql-bin.index');
  });

  it('maps a path under @@datadir onto --data-mount, and refuses one outside it naming --binlog-dir', () => {
    const map = sidecarPathMapper({ dataMount: '/mysql-data' })!;
    expect(map('/var/lib/mysql/logs/mysql-bin', '/var/lib/mysql/')).toBe('/mysql-data/logs/mysql-bin');
    let err: unknown;
    try {
      map('/binlogs/mysql-bin', '/var/lib/mysql/');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/--data-mount: the server keeps its binlogs at \/binlogs\/mysql-bin, outside its datadir .*give --binlog-dir/);
  });
});
