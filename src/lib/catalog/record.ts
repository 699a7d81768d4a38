/**
 * The backup record, `bloodraven.json`, written beside `@.json`: what was backed up, from where,
 * at which binlog coordinates, how big it is, and the SHA-256 of every data file as stored. It
 * is written as `Running` before the dump starts and rewritten as `Succeeded` (before
 * `@.done.json`) or `Failed` (with the reason) when it ends.
 */
import type { WrappedKey } from '../crypto/keys.js';
import type { FlavorName } from '../mysql/flavor.js';
import { serializeJson } from '../storage/json.js';

/** `Deleting`: a prune has started removing it (its data may be partly gone). */
export type BackupPhase = 'Running' | 'Succeeded' | 'Failed' | 'Deleting';

export interface BackupSource {
  /** Where bloodraven connected: `host:port` or `socket /path`. */
  target: string;
  hostname: string | null;
  serverUuid: string | null;
  serverId: number | null;
  flavor: FlavorName | null;
  version: string | null;
}

export interface BackupFileRecord {
  name: string;
  rows: number;
  /** Content checksum of the file's rows (row-checksum.ts). */
  checksum: string;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
}

export interface BackupTableRecord {
  schema: string;
  table: string;
  rows: number;
  /** Order-independent checksum of the table's encoded rows; verify recomputes it after a restore. */
  checksum: string;
  rawBytes: number;
  storedBytes: number;
  /**
   * The largest value of a column loaded through FROM_BASE64 (binary columns): a restore target
   * whose max_allowed_packet is smaller cannot take it. The column is named by its place in the
   * dump's column list of the table (`<s>@<t>.json`), so an encrypted backup's record names no
   * column. Absent in records before it was kept.
   */
  largestValue?: { columnIndex: number; bytes: number } | null;
  /** The largest row, in bytes of its values. Absent in records before it was kept. */
  largestRowBytes?: number;
}

export interface BackupRecord {
  recordVersion: 1;
  name: string;
  group: string;
  profile: string;
  phase: BackupPhase;
  /** Why a backup failed: the error's message and code. */
  failure?: { code: string; message: string };
  /**
   * What a failed attempt still holds after it removed its data files: their count and bytes
   * (0 when all went; `files` null when it could not be told) and why the removal fell short.
   * Absent in records of successful backups, and of failed ones before the removal was done.
   */
  leftover?: { files: number | null; bytes: number; error: string | null };
  /** `/path/name` or `s3://bucket/prefix/name`. */
  location: string;
  storageType: 'PVC' | 'S3';
  source: BackupSource;
  consistent: boolean | null;
  gtidExecuted: string | null;
  binlogFile: string | null;
  binlogPos: number | null;
  startedAt: string;
  /** When the snapshot was taken: the point in time the dump holds (point-in-time recovery starts here). */
  snapshotAt?: string | null;
  completedAt: string | null;
  /** Uncompressed data bytes. */
  dataBytes: number;
  /** Bytes stored for the dump (data, indexes, metadata). */
  sizeBytes: number;
  compression: string;
  threads: number;
  bytesPerChunk: number;
  tables: BackupTableRecord[];
  files: BackupFileRecord[];
  /**
   * The size and SHA-256 of the dump's `@.inventory.json` (dump/inventory-file.ts): what the
   * source held in the dumped schemas and its accounts, read at dump time independently of what
   * was dumped, and the digest of every metadata and DDL file. Restores and verify compare with
   * it. Absent in older records.
   */
  inventoryFile?: { bytes: number; sha256: string };
  tool: { name: 'bloodraven'; version: string };
  /** Process that runs the backup, so a catalog can tell a live Running record from a dead one. */
  runner: { hostname: string; pid: number };
  /** Rewritten while the backup runs; a Running record whose heartbeat stopped belongs to a dead run. */
  heartbeatAt?: string;
  /** The backup's data key, wrapped with the profile's key (crypto/keys.ts), when it is encrypted. */
  encryption?: WrappedKey;
  /** How the attempt was started: by hand (`backup now`) or by a schedule of the daemon. */
  trigger?: { kind: 'manual' } | { kind: 'schedule'; schedule: string; attempt: number };
}

export function serializeRecord(record: BackupRecord): string {
  return serializeJson(record);
}
