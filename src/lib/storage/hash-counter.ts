/** A pass-through stream that counts and hashes (SHA-256) the bytes on their way to storage. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class HashCounter extends Transform {
  /** Null when built with `hashing: false` (only counting). */
  private readonly hash: Hash | null;
  bytes = 0;

  constructor(hashing = true) {
    super();
    this.hash = hashing ? createHash('sha256') : null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** The SHA-256 (hex) of everything that passed, once the stream has ended; null when not hashing. */
  digest(): string | null {
    return this.hash?.digest('hex') ?? null;
  }
}
