/** The result a Job's pod leaves in its termination message: always valid JSON of at most 4096 bytes. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupSucceededResult, failedResult, oneLine, resultFileFromArgv, resultMaxBytes, writeResultFile } from '../../src/cli/result-file.js';
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
