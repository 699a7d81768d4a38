import { describe, expect, it } from 'vitest';
import { restoreSummary } from '../../src/cli/restore-summary.js';
import type { RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';

const result = (o: Partial<RestoreResult>): RestoreResult => ({
  source: '/backups/g-p-20261130-010000',
  backup: 'g-p-20261130-010000',
  target: '127.0.0.1:3306',
  schemas: ['shop'],
  tables: [],
  rows: 300_000,
  bytes: 30_000_000,
  warnings: 0,
  resumedSteps: 0,
  startedAt: '2026-11-30T01:00:00.000Z',
  completedAt: '2026-11-30T01:00:10.000Z',
  durationMs: 10_000,
  bytesPerSecond: 3_000_000,
  users: null,
  missingDefiners: [],
  checked: [],
  verified: { filesBySha256: 4, filesLoaded: 4, tablesCounted: 2, objectsFound: 3 },
  pointReached: { gtidExecuted: '0-1-42', time: '2026-11-30T01:00:00.000Z', binlogFile: 'mariadb-bin.000003', binlogPos: 1234 },
  ...o,
});

describe('restoreSummary', () => {
  it('a run that loaded everything: its files checked against their SHA-256', () => {
    const text = restoreSummary('Restored', result({}));
    expect(text).toContain('  checked     4 data file(s) loaded, each checked against its SHA-256; 2 table(s)');
    expect(text).not.toContain('resumed');
  });

  it('a resumed run says what it checked itself, and that an earlier run checked what it loaded, instead of bare zeros', () => {
    const text = restoreSummary('Restored', result({ resumedSteps: 5, verified: { filesBySha256: 0, filesLoaded: 0, tablesCounted: 2, objectsFound: 3 } }));
    expect(text).toContain('  resumed     5 step(s) already done by an earlier run');
    expect(text).toContain(
      "  checked     0 data file(s) loaded by this run, each checked against its SHA-256; 2 table(s) against the backup's row count; 3 object(s) of its inventory present; what an earlier run loaded was checked by that run",
    );
  });
});
