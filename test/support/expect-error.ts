/** Asserting on the typed errors bloodraven throws. */
import { expect } from 'vitest';
import { AppError } from '../../src/lib/errors.js';

/** Expects `promise` to reject with an AppError of `code` (showing the message when it is another), and returns it. */
export async function expectAppError(promise: Promise<unknown>, code: string): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(AppError);
  expect((err as AppError).code, (err as Error).message).toBe(code);
  return err as AppError;
}
