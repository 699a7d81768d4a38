/**
 * A data file's way from its stored bytes to LOAD DATA, inside a load thread: the stored bytes
 * checked against the record (size and SHA-256, storage/object-check.ts), decrypted when sealed,
 * decompressed, and counted. Whatever goes wrong with the bytes fails the stream the server reads,
 * never ends it quietly, so a damaged file is never committed.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// Not named imports: a Node without zstd (before 22.15) must still load this module, so that the
// version guard can refuse it by name instead of the command failing to load.
import zlib from 'node:zlib';
import type { Compression } from '../config/schema.js';
import { createDecryptStream, decryptBuffer } from '../crypto/segments.js';
import { createDecompressor } from '../dump/compression.js';
import { ObjectCheck, ObjectMismatchError, describeMismatch, type ExpectedObject } from '../storage/object-check.js';

/**
 * Files up to this size (stored, and uncompressed as the dump records it) are read whole and
 * decompressed at once instead of streamed: for thousands of small tables, a chain of streams per
 * file (storage, decompressor, byte counter, the driver's) allocates far more than the file holds,
 * and that churn, not the data, is what grew the restore's heap.
 */
export const wholeFileBytes = 256 * 1024;
/** A whole-read file that decompresses to more than this is damaged (its record says at most wholeFileBytes). */
const wholeFileMaxOutput = 32 * wholeFileBytes;

/** Whether a data file is read whole (wholeFileBytes) rather than streamed. */
export function readsWhole(file: { rawBytes: number | null; storedBytes: number }): boolean {
  return file.rawBytes !== null && file.rawBytes <= wholeFileBytes && file.storedBytes <= wholeFileBytes;
}

/** What a file's stored bytes are and how to open them. */
export interface StoredFile {
  /** The file's name in the dump (what it is sealed for). */
  name: string;
  expected: ExpectedObject;
  compression: Compression;
  rawBytes: number | null;
  /** The data key when the file is sealed; null: plain. */
  sealKey: Buffer | null;
}

/** A data file on its way into LOAD DATA. */
export interface FileInput {
  /** The stream the driver reads (created when the server asks for the data). */
  source: () => Readable;
  /** Settles, never rejecting, once reading the file has ended, however. */
  ended: Promise<void>;
  /** Why reading the file failed; undefined while it has not. */
  failure: () => Error | undefined;
  /** Stops reading, however far it got. */
  stop: () => void;
}

/** Passes bytes through, telling `onBytes` how many each chunk held (progress, flow control). */
export class ByteCounter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.onBytes(chunk.length);
    cb(null, chunk);
  }
}

/** A small file's stored bytes, all of them: checked, decrypted and decompressed at once. */
export async function wholeInput(file: StoredFile, stored: Buffer, onBytes: (n: number) => void): Promise<FileInput> {
  let data: Buffer = Buffer.alloc(0);
  let failure: Error | undefined;
  try {
    const problem = describeMismatch(file.expected, { bytes: stored.length, sha256: createHash('sha256').update(stored).digest('hex') });
    if (problem) throw new ObjectMismatchError(file.name, problem);
    const plain = file.sealKey ? await decryptBuffer(file.sealKey, file.name, stored) : stored;
    data = decompressWhole(file.compression, plain, file.rawBytes ?? 0);
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
  }
  return {
    source: () => {
      const out = new PassThrough();
      // Like a stream that fails before the server reads it: the LOAD DATA sees the failure.
      if (failure) process.nextTick(() => out.destroy(failure));
      else {
        onBytes(data.length);
        out.end(data);
      }
      return out;
    },
    ended: Promise.resolve(),
    failure: () => failure,
    stop: () => undefined,
  };
}

/** `stored` decompressed, into a buffer the size the dump records (zlib's default is 16 KiB, per file). */
function decompressWhole(kind: Compression, stored: Buffer, rawBytes: number): Buffer {
  const options = { maxOutputLength: wholeFileMaxOutput, chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, rawBytes) };
  try {
    switch (kind) {
      case 'zstd':
        return zlib.zstdDecompressSync(stored, options);
      case 'gzip':
        return zlib.gunzipSync(stored, options);
      case 'none':
        return stored;
    }
  } catch (err) {
    if (err instanceof RangeError) throw new Error(`it decompresses to more than ${wholeFileMaxOutput} bytes, though the dump records at most ${wholeFileBytes}`);
    throw err;
  }
}

/** A file's stored bytes as they stream in: checked, decrypted and decompressed on the way, the bytes that pass counted. */
export function streamedInput(file: StoredFile, stored: Readable, onBytes: (n: number) => void): FileInput {
  const counter = new ByteCounter(onBytes);
  // A damaged file may fail before the server asks for the data or while it reads it; either
  // way the LOAD DATA must see the failure, never a quiet end of file.
  let failure: Error | undefined;
  // Ends the stream however far it got, so that waiting for it never outlasts a failed load
  // (a stream whose reader went away would otherwise wait for it forever).
  const stop = new AbortController();
  const stages: NodeJS.ReadWriteStream[] = [new ObjectCheck(file.name, file.expected)];
  if (file.sealKey) stages.push(createDecryptStream(file.sealKey, file.name));
  stages.push(createDecompressor(file.compression, file.rawBytes), counter);
  const flowing = pipeline([stored, ...stages], { signal: stop.signal }).catch((err: unknown) => {
    if (stop.signal.aborted) return;
    failure = err instanceof Error ? err : new Error(String(err));
  });
  return {
    source: () => {
      const out = new PassThrough();
      if (failure) process.nextTick(() => out.destroy(failure));
      else {
        counter.pipe(out);
        void flowing.then(() => {
          if (failure) out.destroy(failure);
        });
      }
      return out;
    },
    ended: flowing,
    failure: () => failure,
    stop: () => stop.abort(),
  };
}
