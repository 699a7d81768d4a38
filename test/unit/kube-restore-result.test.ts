/** The restore Job's termination message as the init-restore reconciler reads it. */
import { describe, expect, it } from 'vitest';
import { parseRestoreJobResult } from '../../src/lib/kube/restore-result.js';

describe('parseRestoreJobResult', () => {
  it('reads a success, pointReached in the status shape (whole-second time, nulls left out)', () => {
    const message = JSON.stringify({
      phase: 'Succeeded',
      backup: 'src-offsite-20261130-102600',
      rows: 340,
      bytes: 4406,
      tables: 2,
      pointReached: { gtidExecuted: '0-1-19', time: '2026-11-30T10:37:19.000Z', binlogFile: null, binlogPos: 4123 },
    });
    expect(parseRestoreJobResult(message)).toEqual({
      phase: 'Succeeded',
      backup: 'src-offsite-20261130-102600',
      rows: 340,
      bytes: 4406,
      tables: 2,
      pointReached: { gtidExecuted: '0-1-19', time: '2026-11-30T10:37:19Z', binlogPos: 4123 },
    });
  });

  it('reads a failure', () => {
    expect(parseRestoreJobResult('{"phase":"Failed","reason":"LOCAL_INFILE_OFF","message":"local_infile is OFF"}')).toEqual({ phase: 'Failed', reason: 'LOCAL_INFILE_OFF', message: 'local_infile is OFF' });
  });

  it('finds nothing in an empty, cut or foreign message', () => {
    expect(parseRestoreJobResult(undefined)).toBeNull();
    expect(parseRestoreJobResult('{"phase":"Succeeded","rows":3')).toBeNull();
    expect(parseRestoreJobResult('OOMKilled')).toBeNull();
    expect(parseRestoreJobResult('{"phase":"Succeeded","backup":"x"}')).toBeNull();
  });
});
