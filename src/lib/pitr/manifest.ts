/**
 * The binlog archive in a profile's storage (the reference's layout):
 *
 *   <profile root>/binlogs/manifest-<site>.json     one manifest per site, written only by that site
 *   <profile root>/binlogs/<site>/<binlog file>     the files, uploaded once each
 *
 * Per-site manifests keep a primary and a post-failover primary from racing on one object; a
 * restore reads every manifest and merges them.
 */
import type { WrappedKey } from '../crypto/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { BinlogFlavor, MariadbGtidRange, MysqlGtidRange } from './binlog-parser.js';
import { readJson, writeJson } from '../storage/json.js';

export const archiveFolder = 'binlogs/';

export function manifestKey(site: string): string {
  return `${archiveFolder}manifest-${site}.json`;
}

export function binlogKey(site: string, file: string): string {
  return `${archiveFolder}${site}/${file}`;
}

export interface ArchivedBinlog {
  file: string;
  site: string;
  /** Key of the file in the profile's storage. */
  key: string;
  flavor: BinlogFlavor;
  /** @@server_id of the server that wrote the file. */
  serverId: number;
  /** @@server_uuid (MySQL); null on MariaDB. */
  serverUuid: string | null;
  /** Bytes stored (the ciphertext, when the archive is encrypted). */
  size: number;
  /** Bytes of the binlog file on the server (SHOW BINARY LOGS); absent in older manifests. */
  binlogBytes?: number;
  sha256: string;
  /** Times of the first and last transaction events (RFC 3339), read from the events themselves. */
  firstEventTime: string | null;
  lastEventTime: string | null;
  /** The GTIDs the file holds (binlog-parser.ts notation) and as ranges. */
  gtids: string;
  gtidRanges: Array<MariadbGtidRange | MysqlGtidRange>;
  /** The GTID state before the file (MariaDB GTID list; MySQL previous GTIDs). */
  previousGtids: string;
  transactions: number;
  /** How the file ended (sealed by rotation, closed by a clean shutdown, or neither: a crash). */
  endedWith: 'rotate' | 'stop' | 'eof';
  uploadedAt: string;
  /** The file's data key, wrapped with the profile's key, when the archive is encrypted. */
  encryption?: WrappedKey;
}

export interface SiteManifest {
  version: 1;
  site: string;
  entries: ArchivedBinlog[];
  /**
   * Files prune deleted from the archive (no kept backup needs them): the archiver must not
   * upload them again while the server still has them. Known by name and size, so a file of the
   * same name written after the server's binary logs were reset is not mistaken for one.
   */
  pruned?: Array<{ file: string; size: number }>;
}

export async function readSiteManifest(store: ObjectStore, site: string, signal?: AbortSignal): Promise<SiteManifest> {
  const m = await readJson<Partial<SiteManifest>>(store, manifestKey(site), signal ? { signal } : {});
  return { version: 1, site, entries: m?.entries ?? [], ...(m?.pruned ? { pruned: m.pruned } : {}) };
}

/** Whether the file `name` of `size` bytes was archived, or archived and pruned since. */
export function isArchived(manifest: SiteManifest, name: string, size: number): boolean {
  return manifest.entries.some((e) => e.file === name) || (manifest.pruned ?? []).some((p) => p.file === name && p.size === size);
}

export async function writeSiteManifest(store: ObjectStore, manifest: SiteManifest, signal?: AbortSignal): Promise<void> {
  await writeJson(store, manifestKey(manifest.site), manifest, signal ? { signal } : {});
}

/** Every site's manifest in the archive. */
export async function readAllManifests(store: ObjectStore, signal?: AbortSignal): Promise<SiteManifest[]> {
  const objects = await store.list(archiveFolder, signal ? { signal } : {});
  const sites = objects.map((o) => /^binlogs\/manifest-(.+)\.json$/.exec(o.key)?.[1]).filter((s): s is string => s !== undefined);
  return Promise.all(sites.map((s) => readSiteManifest(store, s, signal)));
}
