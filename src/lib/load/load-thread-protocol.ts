/**
 * The messages between the load's coordinator (the main thread) and its load threads. A load
 * thread owns one session to the target: it runs the statements the coordinator sends (session
 * settings, DDL, each file's transaction) and loads the data files it is given. The coordinator
 * reads each file's stored bytes from storage and hands them over as they are; the thread checks
 * them against the record (size, SHA-256), decrypts, decompresses and feeds them to LOAD DATA
 * LOCAL. Statements and closing are threads/statement-protocol.ts's.
 */
import type { Compression } from '../config/schema.js';
import type { LoadDataResult } from '../mysql/connection.js';
import type { ExpectedObject } from '../storage/object-check.js';
import type { WireError } from '../threads/wire-error.js';

/** One data file, as a thread loads it. */
export interface LoadFileTask {
  id: number;
  /** The LOAD DATA LOCAL statement (load-data.ts). */
  sql: string;
  /** The file's name in the dump: for messages, and what it is sealed for. */
  name: string;
  /** What the record says the stored bytes are. */
  expected: ExpectedObject;
  compression: Compression;
  /** Uncompressed bytes, as the dump records them (null: unknown). */
  rawBytes: number | null;
  /** The backup's data key, when the file is encrypted (crypto/segments.ts); null: stored plain. */
  sealKey: Uint8Array | null;
  /** All the stored bytes of a small file; null: they follow as `block`s, then `end`. */
  whole: Uint8Array | null;
}

export type ToLoadThread =
  | { type: 'load'; task: LoadFileTask }
  | { type: 'block'; task: number; data: Uint8Array }
  | { type: 'end'; task: number }
  /** Reading the stored bytes failed on the coordinator's side: the file's input fails with this. */
  | { type: 'stop'; task: number; error: WireError };

export type FromLoadThread =
  /** The thread has taken `bytes` of the task's blocks off its queue: the coordinator may send that much more. */
  | { type: 'taken'; task: number; bytes: number }
  /** Uncompressed bytes sent to the server since the last report. */
  | { type: 'sent'; task: number; bytes: number }
  | { type: 'loaded'; task: number; result: LoadDataResult }
  /**
   * The load failed. `inputFailed`: the file's bytes failed (they differ from the record, fail
   * authentication or decompression, or the coordinator's read failed), not the statement.
   */
  | { type: 'loadFailed'; task: number; error: WireError; inputFailed: boolean };
