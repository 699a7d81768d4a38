/** Which names `backup delete` takes: one folder name that cannot reach outside the profile's root. */
import { describe, expect, it } from 'vitest';
import { assertPlainBackupName } from '../../src/lib/catalog/delete-backup.js';
import { AppError } from '../../src/lib/errors.js';

function refusal(name: string): AppError | undefined {
  try {
    assertPlainBackupName(name);
    return undefined;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

describe('assertPlainBackupName', () => {
  it('takes backup names, including ones bloodraven did not make', () => {
    for (const name of ['shop-local-20261130-064500', 'dump_2024-01-01', 'Nightly.Full']) expect(refusal(name), name).toBeUndefined();
  });

  it('refuses, with exit 2 and the name, anything that is a path, empty, hidden or holds control characters', () => {
    for (const name of ['', '..', '../x', 'a/b', '/abs', 'a\\b', '.leases', '.', 'a..b', 'x\n', 'x\0y']) {
      const err = refusal(name);
      expect(err, JSON.stringify(name)).toMatchObject({ code: 'BACKUP_NAME_INVALID', exitCode: 2 });
      expect(err?.message).toContain(`NAME ${JSON.stringify(name)}`);
    }
  });
});
