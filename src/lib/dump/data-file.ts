/**
 * One data file on its way to storage: encoded blocks → compressor → SHA-256 and byte count →
 * ObjectStore.write(). Backpressure runs end to end: push() returns false when the compressor
 * or the store is behind, and the caller pauses the server's result stream until `onDrain`.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Compression } from '../config/schema.js';
import { HashCounter } from '../storage/hash-counter.js';
import type { ObjectStore, WriteResult } from '../storage/object-store.js';
import { InternalError } from '../errors.js';
import { createCompressor } from './compression.js';

export interface DataFileResult {
  /** File name inside the dump folder. */
  name: string;
  rows: number;
  /** Uncompressed bytes. */
  rawBytes: number;
  /** Bytes stored (compressed). */
  storedBytes: number;
  /** SHA-256 of the stored bytes, hex. */
  sha256: string;
  /** Content checksum of the rows (row-checksum.ts). */
  checksum: string;
}

export interface DataFileOptions {
  store: ObjectStore;
  /** Key of the file in the store (dump prefix + name). */
  key: string;
  name: string;
  compression: Compression;
  signal: AbortSignal;
  /** Called when the file can take more blocks after push() returned false. */
  onDrain: () => void;
  /**
   * Called once if the file fails on its way to storage, as soon as it does: a producer paused
   * on push() would otherwise wait for an onDrain that never comes.
   */
  onError?: (err: unknown) => void;
}

export class DataFileSink {
  private readonly source: Readable;
  private readonly counter: HashCounter;
  private readonly written: Promise<[void, WriteResult]>;
  private rows = 0;
  private rawBytes = 0;
  private checksum = '';

  constructor(private readonly options: DataFileOptions) {
    // highWaterMark in bytes: a few encoder blocks may wait here before the query is paused.
    this.counter = new HashCounter(!options.store.hashesWrites);
    this.source = new Readable({ highWaterMark: 1024 * 1024, read: () => options.onDrain() });
    const compressor = createCompressor(options.compression);
    const flowing = pipeline(this.source, compressor, this.counter, { signal: options.signal });
    // syncLater: durable once the dump's completion marker is written (dump-instance.ts).
    const stored = options.store.write(options.key, this.counter, { signal: options.signal, syncLater: true });
    // If storage fails, stop the encoder side too, so the caller's push() sees the failure.
    stored.catch((err: unknown) => this.source.destroy(err instanceof Error ? err : new Error(String(err))));
    // The store's error names the file and says what to do (a full disk); the stream side only
    // sees the raw error it was destroyed with, so the store's wins when both fail.
    this.written = Promise.allSettled([flowing, stored]).then(([f, s]): [void, WriteResult] => {
      if (s.status === 'rejected') throw s.reason;
      if (f.status === 'rejected') throw f.reason;
      return [undefined, s.value];
    });
    // finish() or abort() awaits this; until then a failure must not count as unhandled.
    this.written.catch((err: unknown) => options.onError?.(err));
  }

  /** Adds encoded bytes; false means: stop producing until onDrain is called. */
  push(block: Buffer): boolean {
    this.rawBytes += block.length;
    return this.source.push(block);
  }

  /** Records what the encoder saw, before finish(). */
  setContent(rows: number, checksum: string): void {
    this.rows = rows;
    this.checksum = checksum;
  }

  /** Ends the file; resolves once it is completely stored. */
  async finish(): Promise<DataFileResult> {
    this.source.push(null);
    const [, stored] = await this.written;
    const sha256 = stored.sha256 ?? this.counter.digest();
    if (!sha256) throw new InternalError(`the store hashes its writes but reported no SHA-256 for ${this.options.name}`);
    return {
      name: this.options.name,
      rows: this.rows,
      rawBytes: this.rawBytes,
      storedBytes: stored.bytes,
      sha256,
      checksum: this.checksum,
    };
  }

  /** Abandons the file: nothing is left in storage. */
  async abort(err: Error): Promise<void> {
    this.source.destroy(err);
    await this.written.catch(() => undefined);
  }
}
