import type { Compression, DumpConfig } from '../config/schema.js';

/** dump.storageStallTimeout's default, seconds (config/schema.ts), for options that do not set it. */
export const defaultStorageStallTimeoutSeconds = 120;

/** What a dump is asked to do; the profile's `dump:` block, resolved. */
export interface DumpOptions {
  threads: number;
  /** Uncompressed bytes per chunk (decimal sizes, as in MySQL Shell). */
  bytesPerChunk: number;
  compression: Compression;
  consistent: boolean;
  includeSchemas: string[];
  excludeSchemas: string[];
  /**
   * How long the backup may hold up the application, in seconds (fractions allowed): the bound
   * on a running statement's age before the snapshot lock is requested, and on each lock wait
   * (see src/lib/dump/snapshot.ts).
   */
  lockWaitTimeoutSeconds: number;
  /** Dump the accounts and their grants (`@.users.sql`), as MySQL Shell's `users` option. Default true. */
  users?: boolean;
  /** How long a storage write may make no progress before the backup fails (storage/stall-guard.ts). Default 120. */
  storageStallTimeoutSeconds?: number;
  /**
   * Not a profile setting (the config never sets it): the encoder's block size, so tests can
   * drive the data files' backpressure with other sizes than the default (table-plan.ts).
   */
  encoderBlockBytes?: number;
}

/** The dump a profile's `dump:` block asks for. */
export function dumpOptionsOf(dump: DumpConfig): DumpOptions {
  const { lockWaitTimeout, storageStallTimeout, ...rest } = dump;
  return { ...rest, lockWaitTimeoutSeconds: lockWaitTimeout, storageStallTimeoutSeconds: storageStallTimeout };
}
