/**
 * Where backups live. One interface, two adapters: a directory (`PVC`, fs-store.ts) and an S3
 * bucket (s3-store.ts). Keys are relative to the profile's root (a folder, or bucket + prefix),
 * use `/` as separator, and never start with `/` or contain `..` segments.
 */
import type { Readable } from 'node:stream';
import { StorageError } from '../errors.js';

export interface ObjectInfo {
  /** Key relative to the store's root. */
  key: string;
  size: number;
  lastModified: Date;
}

export interface StoreOptions {
  signal?: AbortSignal;
  /**
   * For write() and put(): the object's bytes and name may be made durable later (for PVC, one
   * sync of the file system, or an fsync of each file and folder), when the next write() or put()
   * without this flag makes everything written since durable before its own object becomes
   * visible. A crash before then can lose the object or leave it partly written. For the many
   * files of a dump that a marker written last vouches for; stores whose writes are durable when
   * they end (S3) ignore it.
   */
  syncLater?: boolean;
  /**
   * For write() and put(): the object's folder, once this store has made it, must still be there.
   * If something removed it since, the write fails (FOLDER_VANISHED, for PVC) instead of making
   * it again. A dump's files pass it: their folder vanishing means the files already written in
   * it are gone, and a folder made again would hold a dump with holes. Without it a missing
   * folder is made again, as S3 has no folders to lose (a lease or a record written after its
   * folder was emptied by another process). Stores without folders ignore it.
   */
  folderMustExist?: boolean;
  /**
   * For put(): the object may be written under its final name directly, without a temporary
   * name and a rename (PVC), so a crash can leave it partly written under that name. Only for
   * objects that a marker written later vouches for (a dump's files, as MySQL Shell writes its
   * JSON, SQL and `.idx` files): readers trust none of them before the marker exists. In a
   * folder of thousands of files, each create and rename is a directory update, and the temporary
   * names doubled them. Stores whose objects appear only once complete (S3) ignore it.
   */
  inPlace?: boolean;
  /**
   * Hears of each request of this call that failed transiently and will be sent again after a
   * wait (`what`: the operation and object). A store retrying within its time budget is waiting
   * for the storage to come back, not stalled: the stall guard (stall-guard.ts) counts each retry
   * as a sign of life, so that the store's own error, not STORAGE_STALLED, ends a call whose
   * budget runs out. Stores that do not retry never call it.
   */
  onRetry?: (what: string, err: unknown) => void;
}

/** A multipart upload begun and never completed nor aborted (its parts are stored, and billed). */
export interface IncompleteUpload {
  /** The key it would have created, relative to the store's root. */
  key: string;
  uploadId: string;
  /** When it was begun. */
  initiated: Date;
}

export interface WriteResult {
  /** Bytes stored. */
  bytes: number;
  /**
   * SHA-256 (hex) of the bytes stored, when they differ from the body's (an encrypting store
   * says so; others leave it out and the body's hash is the stored bytes' hash).
   */
  sha256?: string;
}

/**
 * How an encrypting store lets a writer on another thread encrypt for it (a dump thread, so that
 * encryption runs on every core): bytes sealed with `key` (crypto/segments.ts) for the file name
 * `sealedName(k)` are stored as they are through `inner`, the store under the encryption.
 */
export interface Sealing {
  key: Buffer;
  segmentSize: number;
  /** The name a file is sealed for (its name within the backup), or null when `k` is stored plain. */
  sealedName(k: string): string | null;
  inner: ObjectStore;
}

export interface ObjectStore {
  /** Where the store points, for messages and records: `/abs/path` or `s3://bucket/prefix`. */
  readonly location: string;
  /** `PVC` or `S3`. */
  readonly type: 'PVC' | 'S3';
  /** The store reports the SHA-256 of what it stores in WriteResult (writers need not hash). */
  readonly hashesWrites?: boolean;
  /** Present on a store that encrypts its writes and lets the writer encrypt instead (see Sealing). */
  readonly sealing?: Sealing;

  /**
   * Checks that the store can be written: the folder exists or can be created and is writable;
   * the bucket exists and the credentials reach it. Throws StorageError with a hint otherwise.
   */
  check(options?: StoreOptions): Promise<void>;

  /**
   * Checks, creating nothing, that the store is there to be read: the folder exists and is a
   * folder. Throws StorageError STORAGE_NOT_FOUND (a missing folder) or NOT_A_DIRECTORY, naming
   * the path and the config field, so that readers never mistake a wrong path for an empty store.
   * S3 has no folders (a prefix without objects is an empty store) and its listing already
   * reports a missing bucket.
   */
  checkReadable(options?: StoreOptions): Promise<void>;

  /**
   * Streams `body` into `key`. The object becomes visible only once the body has ended and all
   * of it is stored; if the body or the store fails (or the signal fires), nothing is left under
   * `key` (a local temp file is removed, a multipart upload is aborted). Memory used is bounded by
   * the store's part size, whatever the body's length. Honors backpressure from the body.
   */
  write(key: string, body: Readable, options?: StoreOptions): Promise<WriteResult>;

  /** Stores a small object in one request; replaces an existing one atomically. */
  put(key: string, data: string | Uint8Array, options?: StoreOptions): Promise<void>;

  /**
   * Stores a small object only if none exists under `key`, atomically: of two writers racing for
   * one key, exactly one gets true; the other gets false and the object stays the winner's. What
   * claims a name (a backup's record) uses this.
   */
  putIfAbsent(key: string, data: string | Uint8Array, options?: StoreOptions): Promise<boolean>;

  /** A stream of the object's bytes. Throws NotFoundError (code OBJECT_NOT_FOUND) if missing. */
  read(key: string, options?: StoreOptions): Promise<Readable>;

  /** The whole object, for small files (JSON, SQL). Throws NotFoundError if missing. */
  get(key: string, options?: StoreOptions): Promise<Buffer>;

  exists(key: string, options?: StoreOptions): Promise<boolean>;

  /**
   * Every object whose key starts with `prefix` (a folder prefix should end with `/`), in key
   * order. Objects still being written (local `*.dumping` files, incomplete uploads) are not listed.
   */
  list(prefix: string, options?: StoreOptions): Promise<ObjectInfo[]>;

  /** Deletes one object; a missing object counts as deleted. */
  delete(key: string, options?: StoreOptions): Promise<void>;

  /** Deletes these objects (in batches where the store can); missing ones count as deleted. */
  deleteMany(keys: readonly string[], options?: StoreOptions): Promise<void>;

  /**
   * Deletes every object under `prefix` (which must be non-empty and end with `/`); returns how
   * many were deleted. A missing prefix counts as deleted. Refuses anything outside the root.
   */
  deletePrefix(prefix: string, options?: StoreOptions): Promise<number>;

  /**
   * Stores with multipart uploads (S3): every upload under the store's root (its prefix, never
   * the rest of the bucket) that was begun and neither completed nor aborted: a write whose
   * process died, or whose abort failed. Includes writes still under way. Absent on stores that
   * leave nothing behind (PVC: a dead write's `*.dumping` file is part of its backup's folder).
   * Throws StorageError when the storage cannot list them (a server without ListMultipartUploads).
   */
  listIncompleteUploads?(options?: StoreOptions): Promise<IncompleteUpload[]>;

  /** Aborts one upload listIncompleteUploads returned, freeing its parts; one already gone counts as aborted. */
  abortIncompleteUpload?(upload: IncompleteUpload, options?: StoreOptions): Promise<void>;
}

/** Rejects keys that would escape the store's root or are not in the canonical form. */
export function assertSafeKey(key: string): void {
  const unsafe =
    key === '' ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    key.split('/').some((segment) => segment === '..' || segment === '.');
  if (unsafe) {
    throw new StorageError('UNSAFE_KEY', `refusing storage key ${JSON.stringify(key)}: it would reach outside the profile's root`);
  }
}
