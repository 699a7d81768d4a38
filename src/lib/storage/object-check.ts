/**
 * Checks a stored object against what its backup record says it is: its size and the SHA-256 of
 * its stored bytes. A restore streams every data file through this check: a file that differs
 * fails its reader at the end of the stream, before the end reaches whoever consumes it, so a
 * load that reads it never commits it.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import { AppError, ExitCode } from '../errors.js';

/** What a backup's record says one of its stored files is. */
export interface ExpectedObject {
  /** Stored (compressed, encrypted) bytes. */
  bytes: number;
  /** SHA-256 (hex) of the stored bytes, or null when nothing recorded it (dumps by MySQL Shell). */
  sha256: string | null;
}

/** A stored file differs from its record: damaged, cut short, or replaced. */
export class ObjectMismatchError extends AppError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super('DUMP_FILE_MISMATCH', `${file} does not match the backup record: ${problem}`, ExitCode.failure, {
      hint: 'the backup is damaged; restore another backup (bloodraven backup list), and find out what changed the file',
    });
  }
}

export function describeMismatch(expected: ExpectedObject, actual: { bytes: number; sha256: string }): string | null {
  if (actual.bytes !== expected.bytes) return `it holds ${actual.bytes} bytes, the record says ${expected.bytes}`;
  if (expected.sha256 !== null && actual.sha256 !== expected.sha256) return `its SHA-256 is ${actual.sha256}, the record says ${expected.sha256}`;
  return null;
}

/** Passes bytes through, counting and hashing them; fails at the end when they differ from `expected`. */
export class ObjectCheck extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;

  constructor(
    private readonly name: string,
    private readonly expected: ExpectedObject,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    // Too many bytes is known before the end: stop at once.
    if (this.bytes > this.expected.bytes) {
      cb(new ObjectMismatchError(this.name, `it holds more than the ${this.expected.bytes} bytes the record says`));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const problem = describeMismatch(this.expected, { bytes: this.bytes, sha256: this.hash.digest('hex') });
    cb(problem ? new ObjectMismatchError(this.name, problem) : null);
  }
}
