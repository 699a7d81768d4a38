import type { Compression } from '../config/schema.js';

/** What a dump is asked to do; the profile's `dump:` block, resolved. */
export interface DumpOptions {
  threads: number;
  /** Uncompressed bytes per chunk (decimal sizes, as in MySQL Shell). */
  bytesPerChunk: number;
  compression: Compression;
  consistent: boolean;
  includeSchemas: string[];
  excludeSchemas: string[];
  /** How long to wait for the global read lock or the backup lock before giving up. */
  lockWaitTimeoutSeconds: number;
  /** Dump the accounts and their grants (`@.users.sql`), as MySQL Shell's `users` option. Default true. */
  users?: boolean;
}
