/** `restore bootstrap --result-file`: the success document the init-restore reconciler reads. */
import { describe, expect, it } from 'vitest';
import { bootstrapSucceededResult } from '../../src/cli/restore-result.js';
import { resultMaxBytes } from '../../src/cli/result-file.js';
import type { RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';

const uuid = (i: number): string => `3e11fa47-71ca-11e1-9e33-${i.toString(16).padStart(12, '0')}`;

function resultWith(gtidExecuted: string | null, backup: string | null = 'g-p-20261130-010000'): RestoreResult {
  return {
    source: 's3://bucket/team/g-p-20261130-010000',
    backup,
    tables: [{}, {}, {}],
    rows: 300,
    bytes: 4096,
    pointReached: { gtidExecuted, time: '2026-11-30T01:00:00.000Z', binlogFile: 'mariadb-bin.000003', binlogPos: 1234 },
  } as unknown as RestoreResult;
}

describe('bootstrapSucceededResult', () => {
  it('holds the status.initFromBackup fields', () => {
    expect(bootstrapSucceededResult(resultWith('0-1-42'))).toEqual({
      phase: 'Succeeded',
      backup: 'g-p-20261130-010000',
      rows: 300,
      bytes: 4096,
      tables: 3,
      pointReached: { gtidExecuted: '0-1-42', time: '2026-11-30T01:00:00.000Z', binlogFile: 'mariadb-bin.000003', binlogPos: 1234 },
    });
  });

  it('names the location restored from when the dump has no backup name', () => {
    expect(bootstrapSucceededResult(resultWith(null, null)).backup).toBe('s3://bucket/team/g-p-20261130-010000');
  });

  it('cuts a GTID set too long for 4096 bytes to whole elements, and says so', () => {
    const elements = Array.from({ length: 200 }, (_, i) => `${uuid(i)}:1-${1000 + i}`);
    const doc = bootstrapSucceededResult(resultWith(elements.join(',')));
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThanOrEqual(resultMaxBytes);
    expect(doc.gtidExecutedTruncated).toBe(true);
    const kept = doc.pointReached.gtidExecuted!.split(',');
    expect(kept.length).toBeGreaterThan(10);
    expect(kept).toEqual(elements.slice(0, kept.length));
  });
});
