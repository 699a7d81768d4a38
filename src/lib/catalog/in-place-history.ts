/**
 * `in-place-restores.json`: every in-place restore of the servers whose backups (or binlog
 * archive) a storage holds, oldest first. A whole-instance restore in place reloads a backup
 * outside the binary log, so the binlogs after it do not carry on from the state before it:
 * point-in-time recovery reads this history from its archive's storage and never reaches across
 * one. The restore records itself in the storage of its profile and of the PITR archive.
 */
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/json.js';

export const inPlaceHistoryFile = 'in-place-restores.json';

/** A server as it names itself: @@server_uuid (MySQL; null on MariaDB), @@server_id, @@hostname and @@port. */
export interface RestoredServer {
  uuid: string | null;
  serverId: number;
  hostname: string;
  port: number | null;
}

/** One in-place restore, as the catalog keeps it. */
export interface InPlaceRestoreEvent {
  /** When it began changing the server (RFC 3339). */
  startedAt: string;
  backup: string;
  /** `instance`: out of the binary log, so the binlogs after it do not continue what came before. */
  mode: 'instance' | 'schema';
  /** The server, as bloodraven reached it (`host:port` or `socket …`). */
  target: string;
  /**
   * The server as it names itself: only its point-in-time coverage is cut by the restore, not
   * that of other servers whose backups share the storage. Absent in older records (they cut every coverage).
   */
  server?: RestoredServer;
  /** How it ended, once it has (absent: still running, or killed before it could say). */
  outcome?: 'Succeeded' | 'Failed' | 'Interrupted';
  completedAt?: string;
}

export async function readInPlaceRestores(store: ObjectStore, signal?: AbortSignal): Promise<InPlaceRestoreEvent[]> {
  return (await readJson<{ events?: InPlaceRestoreEvent[] }>(store, inPlaceHistoryFile, signal ? { signal } : {}))?.events ?? [];
}

/** Appends `event` to the history of each store (one store once, however often it is named). */
export async function recordInPlaceRestore(stores: readonly ObjectStore[], event: InPlaceRestoreEvent): Promise<void> {
  const seen = new Set<string>();
  for (const store of stores) {
    if (seen.has(store.location)) continue;
    seen.add(store.location);
    await writeJson(store, inPlaceHistoryFile, { events: [...(await readInPlaceRestores(store)), event] });
  }
}

/**
 * Records how the restore that began at `event.startedAt` on `event.target` ended, in each store
 * that holds its start. A store without it (the history was replaced meanwhile) is left alone.
 */
export async function recordInPlaceOutcome(
  stores: readonly ObjectStore[],
  event: InPlaceRestoreEvent & Required<Pick<InPlaceRestoreEvent, 'outcome' | 'completedAt'>>,
): Promise<void> {
  const seen = new Set<string>();
  for (const store of stores) {
    if (seen.has(store.location)) continue;
    seen.add(store.location);
    const events = await readInPlaceRestores(store);
    const index = events.findLastIndex((e) => e.startedAt === event.startedAt && e.target === event.target);
    if (index < 0) continue;
    events[index] = event;
    await writeJson(store, inPlaceHistoryFile, { events });
  }
}
