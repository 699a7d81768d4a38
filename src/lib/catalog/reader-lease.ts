/**
 * Reader leases: a run that reads a backup (verify, a restore) says so in the profile's storage,
 * so that a prune leaves the backup alone until it is done. One small object per reader, under
 * `.leases/<backup>/` at the profile's root (outside the backup's folder, so that keeping a lease
 * alive never writes into, or recreates, a folder a prune is removing).
 *
 * The race with prune is settled by both sides writing before they look: the reader writes its
 * lease, then checks that the backup's record is still there and not `Deleting`; prune marks the
 * record `Deleting`, then looks for live leases (and puts the record back if it finds one). On a
 * store where a read sees every write that finished before it (a folder, S3), at least one of the
 * two sees the other, so a backup is never deleted under a reader that went on.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AppError, ExitCode, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { recordFileName } from './names.js';
import type { BackupRecord } from './record.js';
import { processAlive } from './catalog.js';

/** Rewritten this often while the reader runs. */
export const leaseRenewMs = 30_000;
/** A lease not renewed for this long belongs to a reader that is gone. */
export const leaseTtlMs = 5 * 60_000;

const leasesRoot = '.leases/';
/** The longest a lease's own storage call may take (a check, a renewal, the removal). */
const storageCallMs = 20_000;

/** The folder key of a backup's leases. */
export function leasePrefix(backup: string): string {
  return `${leasesRoot}${backup}/`;
}

export interface LeaseHolder {
  purpose: string;
  pid: number;
  hostname: string;
  startedAt: string;
}

interface LeaseObject {
  holder: LeaseHolder;
  renewedAt: string;
  expiresAt: string;
}

export interface ReaderLease {
  /** Throws BACKUP_GONE when the backup's record is gone or being deleted. */
  assertBackupPresent(signal?: AbortSignal): Promise<void>;
  /** Stops renewing and removes the lease (best effort: an expired lease counts as gone anyway). */
  release(): Promise<void>;
}

/** A backup a reader was reading has been deleted, or is being deleted. */
export class BackupGoneError extends AppError {
  constructor(backup: string, location: string, state: string) {
    super('BACKUP_GONE', `backup ${backup} is gone from ${location} (${state}); nothing was written there`, ExitCode.failure, {
      hint: 'a prune or a person removed it while this run read it; check `bloodraven backup list` and use another backup',
    });
  }
}

/** Why the backup is gone (its record missing, or marked for deletion); null while it is there. */
async function whyGone(store: ObjectStore, backup: string, signal?: AbortSignal): Promise<string | null> {
  let text: Buffer;
  try {
    text = await store.get(`${backup}/${recordFileName}`, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof AppError && err.code === 'OBJECT_NOT_FOUND') return 'its record no longer exists';
    throw err;
  }
  const phase = (JSON.parse(text.toString('utf8')) as Partial<BackupRecord>).phase;
  return phase === 'Deleting' ? 'a prune is deleting it' : null;
}

/**
 * Takes a lease on `backup` for this process and keeps it renewed until released. Refuses with
 * BACKUP_GONE (releasing the lease) when the backup is gone or being deleted once the lease is
 * written.
 */
export async function takeReaderLease(
  store: ObjectStore,
  backup: string,
  options: { purpose: string; logger: Logger; signal?: AbortSignal; now?: () => Date },
): Promise<ReaderLease> {
  const now = options.now ?? (() => new Date());
  const key = `${leasePrefix(backup)}${process.pid}-${randomUUID()}.json`;
  const holder: LeaseHolder = { purpose: options.purpose, pid: process.pid, hostname: hostname(), startedAt: now().toISOString() };
  const write = async (signal?: AbortSignal): Promise<void> => {
    const at = now();
    const lease: LeaseObject = { holder, renewedAt: at.toISOString(), expiresAt: new Date(at.getTime() + leaseTtlMs).toISOString() };
    await store.put(key, JSON.stringify(lease, null, 2) + '\n', signal ? { signal } : {});
  };
  // Bounded: a run on its way out (an interrupt) must not wait on a storage that stopped answering.
  const remove = (): Promise<void> =>
    store.delete(key, { signal: AbortSignal.timeout(storageCallMs) }).catch((err: unknown) => options.logger.warn('could not remove the reader lease; it expires by itself', { key, reason: errorMessage(err) }));

  await write(options.signal);
  const assertBackupPresent = async (signal?: AbortSignal): Promise<void> => {
    const bound = AbortSignal.timeout(storageCallMs);
    const why = await whyGone(store, backup, signal ? AbortSignal.any([signal, bound]) : bound);
    if (why !== null) throw new BackupGoneError(backup, store.location, why);
  };
  try {
    await assertBackupPresent(options.signal);
  } catch (err) {
    await remove();
    throw err;
  }

  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = write(AbortSignal.timeout(storageCallMs)).catch((err: unknown) => options.logger.warn('could not renew the reader lease', { key, reason: errorMessage(err) }));
  }, leaseRenewMs);
  timer.unref();
  let released = false;
  return {
    assertBackupPresent,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // A renewal in flight must not land after (and bring back) the removal.
      await renewing;
      await remove();
    },
  };
}

/** A lease that still counts, as prune reports it. */
export interface LiveLease {
  holder: LeaseHolder;
  renewedAt: string;
}

/**
 * The leases on `backup` that still count: renewed within their time, and (on this host) held by
 * a process that still runs. A lease that cannot be read counts as live until its file is older
 * than the lease time (it may be half written).
 */
export async function liveLeases(
  store: ObjectStore,
  backup: string,
  options: { now: Date; signal?: AbortSignal; isAlive?: (pid: number) => boolean },
): Promise<LiveLease[]> {
  const storeOptions = options.signal ? { signal: options.signal } : {};
  const isAlive = options.isAlive ?? processAlive;
  const live: LiveLease[] = [];
  for (const o of await store.list(leasePrefix(backup), storeOptions)) {
    let lease: LeaseObject;
    try {
      lease = JSON.parse((await store.get(o.key, storeOptions)).toString('utf8')) as LeaseObject;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (options.now.getTime() - o.lastModified.getTime() < leaseTtlMs) {
        live.push({ holder: { purpose: 'unknown (unreadable lease)', pid: 0, hostname: 'unknown', startedAt: o.lastModified.toISOString() }, renewedAt: o.lastModified.toISOString() });
      }
      continue;
    }
    if (Date.parse(lease.expiresAt) <= options.now.getTime()) continue;
    if (lease.holder.hostname === hostname() && !isAlive(lease.holder.pid)) continue;
    live.push({ holder: lease.holder, renewedAt: lease.renewedAt });
  }
  return live;
}

/** How a live lease reads in prune's report. */
export function describeLease(lease: LiveLease): string {
  const h = lease.holder;
  return `${h.purpose} (pid ${h.pid} on ${h.hostname}, since ${h.startedAt})`;
}
