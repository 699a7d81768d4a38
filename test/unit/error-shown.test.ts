import { describe, expect, it } from 'vitest';
import { toAppError } from '../../src/cli/base-command.js';

describe('how an error that is not an AppError is shown', () => {
  it('a full disk (ENOSPC) is DISK_FULL naming the path, exit 1, with what to do; not a bug report', () => {
    const err = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/tmp/bloodraven-run-1/pitr/binlog.000002' });
    const shown = toAppError(err);
    expect(shown.code).toBe('DISK_FULL');
    expect(shown.exitCode).toBe(1);
    expect(shown.message).toContain('/tmp/bloodraven-run-1/pitr/binlog.000002');
    expect(shown.hint).toMatch(/free space.*TMPDIR/);
  });

  it('anything else unknown is INTERNAL', () => {
    expect(toAppError(new Error('boom')).code).toBe('INTERNAL');
  });
});
