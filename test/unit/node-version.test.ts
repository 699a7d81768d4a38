import { describe, expect, it } from 'vitest';
import { assertNodeVersion } from '../../src/cli/base-command.js';
import { AppError } from '../../src/lib/errors.js';

describe('the Node.js version guard', () => {
  it('refuses a Node without zstd in node:zlib (before 22.15) as bad usage, saying which Node to use', () => {
    for (const old of ['20.20.2', '22.14.9', '18.0.0']) {
      let err: unknown;
      try {
        assertNodeVersion(old);
      } catch (e) {
        err = e;
      }
      expect(err, old).toBeInstanceOf(AppError);
      expect((err as AppError).exitCode).toBe(2);
      expect((err as AppError).message).toContain(`this is Node.js ${old}`);
      expect((err as AppError).hint).toMatch(/npx bloodraven/);
    }
  });

  it('accepts 22.15 and later', () => {
    for (const ok of ['22.15.0', '22.20.1', '23.0.0', '24.21.0']) expect(() => assertNodeVersion(ok), ok).not.toThrow();
  });
});
