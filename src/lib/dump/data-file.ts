/**
 * One data file on its way to storage, on the coordinator's side: the dump thread that encoded
 * it has compressed and hashed it already (thread-task.ts), and sends either the whole small file
 * at once, stored with one put(), or its compressed blocks, streamed into ObjectStore.write().
 * Backpressure runs end to end: push() returns false when the store is behind, and the caller
 * pauses the thread's task until `onDrain`.
 */
import { Readable } from 'node:stream';
import type { ObjectStore, StoreOptions, WriteResult } from '../storage/object-store.js';
import { InternalError } from '../errors.js';
import type { ThreadFileEnd } from './thread-protocol.js';

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
  /** Bytes stored (compressed, and encrypted when the store encrypts). */
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
  signal: AbortSignal;
  /** Called when the file can take more blocks after push() returned false. */
  onDrain: () => void;
  /**
   * Called once if the file fails on its way to storage, as soon as it does: a thread paused
   * on this file would otherwise wait for an onDrain that never comes.
   */
  onError?: (err: unknown) => void;
}

export class DataFileWriter {
  private streaming: { source: Readable; written: Promise<WriteResult> } | null = null;
  /** The whole-file put under way, once finish() has started it. */
  private storing: Promise<unknown> | null = null;

  constructor(private readonly options: DataFileOptions) {}

  /** The file streams: its compressed blocks follow with push(). */
  open(): void {
    const { store, key, signal, onDrain, onError } = this.options;
    // highWaterMark in bytes: a few compressed blocks may wait here before the thread is paused.
    const source = new Readable({ highWaterMark: 1024 * 1024, read: () => onDrain() });
    const written = store.write(key, source, { signal, ...dumpFileWrite });
    // If storage fails, fail the source too, so that the caller's next push() sees it.
    written.catch((err: unknown) => {
      source.destroy(err instanceof Error ? err : new Error(String(err)));
      onError?.(err);
    });
    this.streaming = { source, written };
  }

  /** Adds compressed bytes of a streaming file; false means: pause the thread until onDrain. */
  push(block: Buffer): boolean {
    if (!this.streaming) throw new InternalError(`${this.options.name}: a block arrived before the file was opened`);
    return this.streaming.source.push(block);
  }

  /** Ends the file with what the thread reports of it; resolves once it is completely stored. */
  async finish(end: ThreadFileEnd): Promise<DataFileResult> {
    const { store, key, name, signal } = this.options;
    let storedBytes: number;
    let sha256: string | null;
    if (end.whole) {
      const data = Buffer.from(end.whole.buffer, end.whole.byteOffset, end.whole.byteLength);
      const stored = store.put(key, data, { signal, ...dumpFileWrite });
      this.storing = stored;
      try {
        await stored;
      } catch (err) {
        this.options.onError?.(err);
        throw err;
      }
      storedBytes = data.length;
      sha256 = end.sha256;
    } else {
      if (!this.streaming) throw new InternalError(`${name}: the thread ended a file it never sent`);
      this.streaming.source.push(null);
      const stored = await this.streaming.written;
      if (!store.hashesWrites && stored.bytes !== end.storedBytes) {
        throw new InternalError(`${name}: ${stored.bytes} bytes were stored of the ${end.storedBytes} the dump thread compressed`);
      }
      storedBytes = stored.bytes;
      sha256 = stored.sha256 ?? end.sha256;
    }
    if (!sha256) throw new InternalError(`no SHA-256 for ${name}: neither the store nor the dump thread hashed it`);
    return { name, rows: end.rows, rawBytes: end.rawBytes, storedBytes, sha256, checksum: end.checksum };
  }

  /** Abandons the file: nothing is left in storage. */
  async abort(err: Error): Promise<void> {
    if (this.streaming) {
      this.streaming.source.destroy(err);
      await this.streaming.written.catch(() => undefined);
    }
    // A put already under way is cancelled by the dump's signal, which fires with the failure.
    await this.storing?.catch(() => undefined);
  }
}
