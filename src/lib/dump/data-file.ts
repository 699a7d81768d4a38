/**
 * One data file on its way to storage: encoded blocks → compressor → SHA-256 and byte count →
 * ObjectStore.write(); a small file is compressed whole and stored with one put() instead.
 * Backpressure runs end to end: push() returns false when the compressor
 * or the store is behind, and the caller pauses the server's result stream until `onDrain`.
 */
import { hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Compression } from '../config/schema.js';
import { HashCounter } from '../storage/hash-counter.js';
import type { ObjectStore, StoreOptions, WriteResult } from '../storage/object-store.js';
import { InternalError } from '../errors.js';
import { compressWhole, createCompressor } from './compression.js';

/**
 * How a dump stores each of its files before the completion marker, which vouches for them all:
 * their names durable once the marker is written (`syncLater`; dump-instance.ts writes it last),
 * into the folder made for this dump only (`folderMustExist`: a folder removed under the dump
 * fails it, FOLDER_VANISHED, rather than being made again to hold a dump with holes), and, when
 * stored whole, under their final names (`inPlace`, as MySQL Shell writes its JSON, SQL and
 * `.idx` files; a streamed data file still goes through `<name>.dumping`).
 */
export const dumpFileWrite = { syncLater: true, folderMustExist: true, inPlace: true } as const satisfies StoreOptions;

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

/**
 * Encoded bytes a file may reach and still be stored whole: compressed at once and stored with
 * one put(), with no stream pipeline. A dump of thousands of small tables writes thousands of
 * files of a few hundred bytes, where building and tearing down a pipeline of four streams (and
 * a compressor context) per file cost more CPU than the bytes. Several files per worker may be
 * held this way at once (dump-instance.ts), so the bound stays small.
 */
const wholeFileBytes = 256 * 1024;

/** The stream side of a file too large to be stored whole. */
interface Streaming {
  source: Readable;
  counter: HashCounter;
  written: Promise<WriteResult>;
}

export class DataFileSink {
  /** Blocks held while the file is small enough to be stored whole; null once it streams. */
  private held: Buffer[] | null = [];
  private heldBytes = 0;
  private streaming: Streaming | null = null;
  /** The whole-file put under way, once finish() has started it. */
  private storing: Promise<unknown> | null = null;
  private rows = 0;
  private rawBytes = 0;
  private checksum = '';

  constructor(private readonly options: DataFileOptions) {
    // A store that hashes its writes reports the stored bytes' SHA-256 only from write(), so its
    // files always stream.
    if (options.store.hashesWrites) this.startStreaming();
  }

  /** Adds encoded bytes; false means: stop producing until onDrain is called. */
  push(block: Buffer): boolean {
    this.rawBytes += block.length;
    if (this.held) {
      this.held.push(block);
      this.heldBytes += block.length;
      if (this.heldBytes <= wholeFileBytes) return true;
      const held = this.held;
      this.held = null;
      const streaming = this.startStreaming();
      let more = true;
      for (const b of held) more = streaming.source.push(b);
      return more;
    }
    return this.streaming!.source.push(block);
  }

  /** Records what the encoder saw, before finish(). */
  setContent(rows: number, checksum: string): void {
    this.rows = rows;
    this.checksum = checksum;
  }

  /** Ends the file; resolves once it is completely stored. */
  async finish(): Promise<DataFileResult> {
    const { store, key, name, compression, signal } = this.options;
    let storedBytes: number;
    let sha256: string | null;
    if (this.held) {
      const data = compressWhole(compression, this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes));
      this.held = null;
      const stored = store.put(key, data, { signal, ...dumpFileWrite });
      this.storing = stored;
      try {
        await stored;
      } catch (err) {
        this.options.onError?.(err);
        throw err;
      }
      storedBytes = data.length;
      // One-shot: no Hash object per file.
      sha256 = hash('sha256', data, 'hex');
    } else {
      const streaming = this.streaming!;
      streaming.source.push(null);
      const stored = await streaming.written;
      storedBytes = stored.bytes;
      sha256 = stored.sha256 ?? streaming.counter.digest();
    }
    if (!sha256) throw new InternalError(`the store hashes its writes but reported no SHA-256 for ${name}`);
    return { name, rows: this.rows, rawBytes: this.rawBytes, storedBytes, sha256, checksum: this.checksum };
  }

  /** Abandons the file: nothing is left in storage. */
  async abort(err: Error): Promise<void> {
    this.held = null;
    if (this.streaming) {
      this.streaming.source.destroy(err);
      await this.streaming.written.catch(() => undefined);
    }
    // A put already under way is cancelled by the dump's signal, which fires with the failure.
    await this.storing?.catch(() => undefined);
  }

  private startStreaming(): Streaming {
    const options = this.options;
    this.held = null;
    // highWaterMark in bytes: a few encoder blocks may wait here before the query is paused.
    const counter = new HashCounter(!options.store.hashesWrites);
    const source = new Readable({ highWaterMark: 1024 * 1024, read: () => options.onDrain() });
    const compressor = createCompressor(options.compression);
    const flowing = pipeline(source, compressor, counter, { signal: options.signal });
    const stored = options.store.write(options.key, counter, { signal: options.signal, ...dumpFileWrite });
    // If storage fails, stop the encoder side too, so the caller's push() sees the failure.
    stored.catch((err: unknown) => source.destroy(err instanceof Error ? err : new Error(String(err))));
    // The store's error names the file and says what to do (a full disk); the stream side only
    // sees the raw error it was destroyed with, so the store's wins when both fail.
    const written = Promise.allSettled([flowing, stored]).then(([f, s]): WriteResult => {
      if (s.status === 'rejected') throw s.reason;
      if (f.status === 'rejected') throw f.reason;
      return s.value;
    });
    // finish() or abort() awaits this; until then a failure must not count as unhandled.
    written.catch((err: unknown) => options.onError?.(err));
    this.streaming = { source, counter, written };
    return this.streaming;
  }
}
