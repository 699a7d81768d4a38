/**
 * The messages between the dump's coordinator (the main thread) and its dump threads. A dump
 * thread owns one MySQL session of the snapshot: it runs the statements the coordinator sends
 * (session settings, the snapshot's START TRANSACTION, keepalives) and dumps the chunks it is
 * given — reading the rows, encoding them to TSV, checksumming, compressing and hashing — and
 * hands back only the compressed bytes and the facts about each file. Storage stays with the
 * coordinator, which writes the bytes and tells the thread when to pause.
 */
import type { Compression } from '../config/schema.js';
import type { WireError } from '../threads/wire-error.js';
import type { ColumnKind } from './tsv-encoder.js';

/** One chunk task, as a thread runs it. */
export interface ThreadTask {
  id: number;
  /** The chunk's SELECT. */
  sql: string;
  kinds: ColumnKind[];
  /** Uncompressed bytes the encoder gathers before handing a block on. */
  encoderBlock: number;
  compression: Compression;
  /**
   * 'range': every row goes into one file. 'stream': a new file every `bytesPerChunk`
   * uncompressed bytes, the next one begun only once the one before is stored, and an empty
   * last file after them (MySQL Shell's `@@N`).
   */
  kind: 'range' | 'stream';
  bytesPerChunk: number;
  /**
   * How the task's files are named (names.ts, dataFileName): a 'range' task's one file is chunk
   * `rangeChunk`, the table's last when `rangeLast`; a 'stream' task's are numbered from 0.
   */
  naming: { basename: string; extension: string; rangeChunk: number; rangeLast: boolean };
  /**
   * Encrypt here (crypto/segments.ts) with this data key, for each file's name: the coordinator
   * then stores the sealed bytes as they are (Sealing in storage/object-store.ts). Null: plain.
   */
  seal: { key: Uint8Array; segmentSize: number } | null;
  /**
   * Whether the store hashes what it writes (an encrypting store, which records the ciphertext's
   * SHA-256): then every file streams, unhashed here. Otherwise a small file is compressed whole
   * and both kinds are hashed here.
   */
  storeHashes: boolean;
}

/** What a file's content was, once the thread has handed over all of it. */
export interface ThreadFileEnd {
  rows: number;
  /** Uncompressed bytes. */
  rawBytes: number;
  /** Row checksum (row-checksum.ts), 16 hex digits. */
  checksum: string;
  /** The whole compressed file when it was small enough to be sent at once (no `open`/`block`). */
  whole: Uint8Array | null;
  /** Bytes to store: compressed (and sealed, with `seal`). */
  storedBytes: number;
  /** SHA-256 of the bytes to store, hex; null when the store hashes (storeHashes). */
  sha256: string | null;
  /** The `.idx` file to store beside it, when it says more than the file's size. */
  idx: Uint8Array | null;
}

/** The dump's own messages; statements and closing are threads/statement-protocol.ts's. */
export type ToThread =
  | { type: 'task'; task: ThreadTask }
  /** Storage is behind: stop reading rows until `resume`. */
  | { type: 'pause'; task: number }
  | { type: 'resume'; task: number }
  /** The coordinator has taken `bytes` of the task's blocks (handed them to storage): they no longer count against the thread. */
  | { type: 'taken'; task: number; bytes: number }
  /** A 'stream' task's file `file` is stored: the next may begin. */
  | { type: 'stored'; task: number; file: number };

export type FromThread =
  /** File `file` of the task, named `name` in the dump, streams: its blocks follow. */
  | { type: 'open'; task: number; file: number; name: string }
  | { type: 'block'; task: number; file: number; data: Uint8Array }
  | ({ type: 'file'; task: number; file: number; name: string } & ThreadFileEnd)
  /** Rows and uncompressed bytes encoded since the last report. */
  | { type: 'progress'; task: number; rows: number; bytes: number }
  /** The query has ended and every file has been handed over; the session is free. */
  | { type: 'done'; task: number; largestValues: number[]; largestRow: number }
  | { type: 'taskFailed'; task: number; error: WireError };
