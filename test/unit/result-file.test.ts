/** The result a Job's pod leaves in its termination message: always valid JSON of at most 4096 bytes. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupSucceededResult, failedResult, oneLine, resultFileFromArgv, resultMaxBytes, verificationEndedResult, writeResultFile } from '../../src/cli/result-file.js';
import type { TableCheck, VerificationResult } from '../../src/lib/verify/verify-backup.js';
import { parseVerificationJobResult } from '../../src/lib/kube/verification-result.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { AppError, ConfigError } from '../../src/lib/errors.js';

const uuid = (i: number): string => `3e11fa47-71ca-11e1-9e33-${i.toString(16).padStart(12, '0')}`;

function recordWith(gtidExecuted: string | null): BackupRecord {
  return {
    name: 'shop-local-20261130-064500',
    location: 's3://backups/team/shop-local-20261130-064500',
    sizeBytes: 123456,
    gtidExecuted,
    binlogFile: 'mysql-bin.000003',
    binlogPos: 1234,
    startedAt: '2026-11-30T06:45:00.000Z',
    completedAt: '2026-11-30T06:46:00.000Z',
  } as BackupRecord;
}

describe('backupSucceededResult', () => {
  it('holds the record summary under the MysqlBackup status names', () => {
    expect(backupSucceededResult(recordWith('0-1-42'))).toEqual({
      phase: 'Succeeded',
      name: 'shop-local-20261130-064500',
      location: 's3://backups/team/shop-local-20261130-064500',
      sizeBytes: 123456,
      gtidExecuted: '0-1-42',
      binlogFile: 'mysql-bin.000003',
      binlogPos: 1234,
      startTime: '2026-11-30T06:45:00.000Z',
      completionTime: '2026-11-30T06:46:00.000Z',
    });
  });

  it('cuts a GTID set too long for 4096 bytes after its last whole element, and says so', () => {
    const elements = Array.from({ length: 200 }, (_, i) => `${uuid(i)}:1-${1000 + i}`);
    const full = elements.join(',');
    const result = backupSucceededResult(recordWith(full));
    const text = JSON.stringify(result);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(resultMaxBytes);
    expect(result.gtidExecutedTruncated).toBe(true);
    const kept = result.gtidExecuted!.split(',');
    // A prefix of whole elements, as many as fit: one more would not.
    expect(kept).toEqual(elements.slice(0, kept.length));
    expect(kept.length).toBeGreaterThan(40);
    expect(Buffer.byteLength(JSON.stringify({ ...result, gtidExecuted: elements.slice(0, kept.length + 1).join(',') }))).toBeGreaterThan(resultMaxBytes);
    expect(result).toMatchObject({ name: 'shop-local-20261130-064500', sizeBytes: 123456, binlogPos: 1234 });
  });

  it('leaves a set that fits whole, without the truncation flag', () => {
    const set = Array.from({ length: 20 }, (_, i) => `${uuid(i)}:1-5`).join(',');
    const result = backupSucceededResult(recordWith(set));
    expect(result.gtidExecuted).toBe(set);
    expect('gtidExecutedTruncated' in result).toBe(false);
  });
});

describe('failedResult', () => {
  it('puts a multi-line message on one line, with the error code as reason', () => {
    const err = new ConfigError([
      { path: 'mysql.port', message: 'too big' },
      { path: 'backup.profiles[0].name', message: 'bad name' },
    ]);
    expect(failedResult(err, { name: 'x' })).toEqual({
      phase: 'Failed',
      name: 'x',
      reason: 'CONFIG_INVALID',
      message: 'invalid configuration: mysql.port: too big; backup.profiles[0].name: bad name',
    });
  });

  it('cuts a long message (multi-byte characters and JSON escapes included) to fit 4096 bytes', () => {
    const err = new AppError('MYSQL_ERROR', `"quoted" é ${'ü\\'.repeat(3000)}`);
    const result = failedResult(err);
    const size = Buffer.byteLength(JSON.stringify(result));
    expect(size).toBeLessThanOrEqual(resultMaxBytes);
    expect(size).toBeGreaterThan(resultMaxBytes - 8);
    expect(result.message.endsWith('…')).toBe(true);
    expect(result.message.startsWith('"quoted" é ü\\')).toBe(true);
  });
});

describe('result file', () => {
  it('is written whole, replacing what was there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bloodraven-result-'));
    try {
      const path = join(dir, 'termination-log');
      await writeResultFile(path, failedResult(new AppError('X', 'a much longer first message '.repeat(20))));
      await writeResultFile(path, { phase: 'Succeeded' });
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ phase: 'Succeeded' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails with RESULT_FILE_UNWRITABLE naming the path', async () => {
    await expect(writeResultFile('/nonexistent-dir/termination-log', { phase: 'Succeeded' })).rejects.toMatchObject({ code: 'RESULT_FILE_UNWRITABLE', message: expect.stringContaining('/nonexistent-dir/termination-log') as string });
  });

  it('is found in raw arguments when the flags could not be parsed', () => {
    expect(resultFileFromArgv(['backup', 'now', '--bogus', '--result-file', '/dev/termination-log'])).toBe('/dev/termination-log');
    expect(resultFileFromArgv(['--result-file=/tmp/r'])).toBe('/tmp/r');
    expect(resultFileFromArgv(['--', '--result-file', '/tmp/r'])).toBeUndefined();
  });
});

describe('oneLine', () => {
  it('joins trimmed lines', () => {
    expect(oneLine('a:\n  b\n\n  c  ')).toBe('a: b; c');
  });
});

// Verification in the cluster (issue 11): `verify --result-file`.
describe('verificationEndedResult', () => {
  const checksum = (i: number): string => (i * 7919).toString(16).padStart(16, '0');
  function table(i: number, ok: boolean, schema = 'app'): TableCheck {
    return { schema, table: `t${i}`, expectedRows: 100, actualRows: 100, expectedChecksum: checksum(i), actualChecksum: ok ? checksum(i) : checksum(i + 1), ok };
  }
  function result(tables: TableCheck[], extra: Partial<VerificationResult> = {}): VerificationResult {
    return {
      backup: 'orders-offsite-20261201-100000',
      ok: tables.every((t) => t.ok),
      verifiedAt: '2026-12-01T10:05:00.000Z',
      completedAt: '2026-12-01T10:05:02.345Z',
      scratch: 'sandbox (/tmp/x)',
      files: { checked: tables.length + 2, failed: [] },
      tables,
      mismatches: tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.table}`),
      restore: { durationMs: 2345, bytes: 123456, rows: tables.length * 100, bytesPerSecond: 52000, objects: tables.length + 3 },
      error: null,
      ...extra,
    };
  }

  it('reports a pass with what was proven and the measured restore time', () => {
    const doc = verificationEndedResult(result([table(1, true), table(2, true)]));
    expect(doc).toEqual({
      phase: 'Passed',
      backup: 'orders-offsite-20261201-100000',
      tables: 2,
      rows: 200,
      objects: 5,
      bytes: 123456,
      restoreSeconds: 2.345,
      mismatches: [],
      message: expect.stringContaining('2 tables match') as string,
    });
    expect(parseVerificationJobResult(JSON.stringify(doc))).toMatchObject({ kind: 'ended', phase: 'Passed', tables: 2, restoreSeconds: 2.345 });
  });

  it('names each mismatch by schema.table and check, with checksums, never row data', () => {
    const missing: TableCheck = { schema: 'app', table: 'gone', expectedRows: 3, actualRows: null, expectedChecksum: 'aa', actualChecksum: null, ok: false };
    const rows: TableCheck = { ...table(3, false), actualRows: 99 };
    const doc = verificationEndedResult(result([table(1, true), table(2, false), rows, missing], { files: { checked: 5, failed: [{ name: 'app@t9@@0.tsv.zst', ok: false, problem: 'SHA-256 differs' }] } }));
    expect(doc.phase).toBe('Failed');
    expect(doc.mismatches).toEqual([
      { object: 'app@t9@@0.tsv.zst', check: 'file checksum', actual: 'SHA-256 differs' },
      { object: 'app.t2', check: 'content checksum', expected: checksum(2), actual: checksum(3) },
      { object: 'app.t3', check: 'row count', expected: '100', actual: '99' },
      { object: 'app.gone', check: 'missing table', expected: '3 rows' },
    ]);
    expect(doc.message).toMatch(/did not verify: file checksum of app@t9@@0\.tsv\.zst differs \(and 3 more\)/);
    expect(doc.mismatchesOmitted).toBeUndefined();
  });

  it('keeps the first mismatches that fit 4096 bytes and counts the ones left out', () => {
    const tables = Array.from({ length: 400 }, (_, i) => table(i, false, `schema_with_a_rather_long_name_${i % 7}`));
    const doc = verificationEndedResult(result(tables));
    const size = Buffer.byteLength(JSON.stringify(doc));
    expect(size).toBeLessThanOrEqual(resultMaxBytes);
    expect(doc.mismatches.length).toBeGreaterThan(10);
    expect(doc.mismatches.length + (doc.mismatchesOmitted ?? 0)).toBe(400);
    // The first ones, in order: the Event names the first.
    expect(doc.mismatches.map((m) => m.object)).toEqual(tables.slice(0, doc.mismatches.length).map((t) => `${t.schema}.${t.table}`));
    // One more would not have fit.
    const oneMore = { ...doc, mismatches: [...doc.mismatches, { object: `${tables[doc.mismatches.length]?.schema}.t${doc.mismatches.length}`, check: 'content checksum', expected: checksum(1), actual: checksum(2) }] };
    expect(Buffer.byteLength(JSON.stringify(oneMore))).toBeGreaterThan(resultMaxBytes);
    expect(parseVerificationJobResult(JSON.stringify(doc))).toMatchObject({ kind: 'ended', phase: 'Failed', mismatchesOmitted: doc.mismatchesOmitted });
  });

  it('cuts a long restore error and a long file problem so the whole still fits', () => {
    const doc = verificationEndedResult(
      result([], {
        ok: false,
        restore: null,
        error: `the load failed: ${'é'.repeat(5000)}`,
        files: { checked: 3, failed: Array.from({ length: 3 }, (_, i) => ({ name: `f${i}`, ok: false, problem: 'x'.repeat(3000) })) },
      }),
    );
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThanOrEqual(resultMaxBytes);
    expect(doc.message.endsWith('…')).toBe(true);
    expect(doc.mismatches[0]?.object).toBe('f0');
    expect(doc).toMatchObject({ phase: 'Failed', tables: 0, restoreSeconds: 0 });
  });

  it('is told apart from an error result by the parser', () => {
    const error = failedResult(new AppError('BACKUP_GONE', 'the backup was removed'), { backup: 'b' });
    expect(parseVerificationJobResult(JSON.stringify(error))).toEqual({ kind: 'error', backup: 'b', reason: 'BACKUP_GONE', message: 'the backup was removed' });
    expect(parseVerificationJobResult('OOMKilled')).toBeNull();
    expect(parseVerificationJobResult('')).toBeNull();
  });
});
