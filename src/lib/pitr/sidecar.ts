/**
 * The archiver as a sidecar container beside MySQL in its pod (`pitr archive --sidecar`): it reads
 * sealed binlogs from the data volume mounted read-only, uploads them while its server is a
 * writable primary (runArchiver: the @@read_only gate is checked at every scan), and prunes its
 * own site's archive by the cutoff the Kubernetes daemon publishes (cutoff.ts, cutoff-prune.ts).
 *
 * While its server is not up yet (mysqld starting, restarting) a scan fails: the failure is in
 * the status, and the next scan comes a few seconds later; the process keeps running, so the
 * container does not crash-loop while mysqld starts.
 */
import { join, relative, isAbsolute, basename } from 'node:path';
import type { PitrConfig } from '../config/schema.js';
import { ConfigError, errorMessage } from '../errors.js';
import { runArchiver, type ArchiverDeps, type ArchiverStatus } from './archiver.js';
import { fetchPitrCutoff } from './cutoff.js';
import { pruneSiteToCutoff } from './cutoff-prune.js';

export interface SidecarOptions {
  /** The site this server's binlogs are archived under (manifest-<site>.json). */
  site: string;
  /** `GET` this for the cutoff (the daemon's /pitr-cutoff with namespace, group, profile); undefined: never prune. */
  cutoffUrl?: string;
  /** Seconds between two readings of the cutoff. */
  cutoffIntervalSeconds: number;
  /** Seconds between two scans while the server cannot be scanned (it is starting). */
  retryAfterFailureSeconds: number;
  /** Watches the binlog index for changes (a new file sealed); returns a function that stops watching. */
  watch?: (path: string, onChange: () => void) => () => void;
  /** Also called after each scan, after any pruning (the metrics read the window then). */
  afterScan?: (signal: AbortSignal) => Promise<void>;
}

/** What the sidecar knows of pruning, in its status. */
export interface SidecarPruneStatus {
  /** The URL asked for the cutoff; null when pruning is off. */
  cutoffUrl: string | null;
  /** When the cutoff was last asked for (RFC 3339), successfully or not. */
  lastPolledAt: string | null;
  /** The last cutoff read; null when none was read or the daemon knows of no retained backup. */
  cutoff: string | null;
  /** Why the last reading or pruning failed (nothing was pruned then); null when it worked. */
  lastError: string | null;
  /** Binlogs deleted since the process started. */
  filesPruned: number;
  lastPrunedAt: string | null;
}

/** `/archiver/status` of a sidecar: the archiver's fields (the reference's) and what it prunes. */
export interface SidecarStatus extends ArchiverStatus {
  mode: 'sidecar';
  /** Where this process reads binlogs; null until the server said where they are (or when --binlog-dir is not given). */
  binlogDir: string | null;
  prune: SidecarPruneStatus;
}

export function initialSidecarStatus(base: ArchiverStatus, options: SidecarOptions, binlogDir: string | null): SidecarStatus {
  return {
    ...base,
    site: options.site,
    mode: 'sidecar',
    binlogDir,
    prune: { cutoffUrl: options.cutoffUrl ?? null, lastPolledAt: null, cutoff: null, lastError: null, filesPruned: 0, lastPrunedAt: null },
  };
}

/**
 * Maps a path the server reports onto this container's view of the data volume: `binlogDir` (the
 * binlog folder as mounted here) takes every binlog path to that folder; else `dataMount` (where
 * the server's @@datadir is mounted here) takes a path under @@datadir to the same place under the
 * mount; with neither, paths are used as the server reports them (the volume mounted at the same
 * path in both containers). A path outside @@datadir with only `dataMount` is a ConfigError naming
 * --binlog-dir.
 */
export function sidecarPathMapper(options: { binlogDir?: string | undefined; dataMount?: string | undefined }): ((serverPath: string, serverDatadir: string) => string) | undefined {
  const { binlogDir, dataMount } = options;
  if (binlogDir) return (serverPath) => join(binlogDir, basename(serverPath));
  if (!dataMount) return undefined;
  return (serverPath, serverDatadir) => {
    const rel = relative(serverDatadir, serverPath);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new ConfigError([
        { path: '--data-mount', message: `the server keeps its binlogs at ${serverPath}, outside its datadir ${serverDatadir}: give --binlog-dir, the folder where that path is mounted in this container` },
      ]);
    }
    return join(dataMount, rel);
  };
}

/**
 * Runs until `signal` fires: archive scans (runArchiver) with, after each, the cutoff read and
 * this site's archive pruned once `cutoffIntervalSeconds` have passed since the last reading.
 * Pruning runs between scans, never during one, since both write the site's manifest. A failed
 * reading (daemon unreachable, unknown group) prunes nothing, is in `status.prune.lastError`,
 * and archiving goes on. `config.site` is replaced by `options.site`; `config.source` must be local.
 */
export async function runSidecar(deps: ArchiverDeps, config: PitrConfig, options: SidecarOptions, status: SidecarStatus, signal: AbortSignal): Promise<void> {
  const siteConfig: PitrConfig = { ...config, site: options.site };
  let nextPollAt = 0;
  const afterScan = async (scanSignal: AbortSignal): Promise<void> => {
    await pruneIfDue(scanSignal);
    if (!scanSignal.aborted) await options.afterScan?.(scanSignal);
  };
  const pruneIfDue = async (scanSignal: AbortSignal): Promise<void> => {
    if (!options.cutoffUrl || Date.now() < nextPollAt) return;
    nextPollAt = Date.now() + options.cutoffIntervalSeconds * 1000;
    const prune = status.prune;
    try {
      const cutoff = await fetchPitrCutoff(options.cutoffUrl, { signal: scanSignal });
      prune.lastPolledAt = deps.clock.now().toISOString();
      prune.cutoff = cutoff ? cutoff.toISOString() : null;
      const result = await pruneSiteToCutoff(deps.store, options.site, cutoff, { logger: deps.logger, signal: scanSignal });
      prune.lastError = null;
      if (result.deleted.length > 0) {
        prune.filesPruned += result.deleted.length;
        prune.lastPrunedAt = deps.clock.now().toISOString();
      }
    } catch (err) {
      if (scanSignal.aborted) return;
      prune.lastPolledAt = deps.clock.now().toISOString();
      prune.lastError = errorMessage(err);
      deps.logger.warn('binlog pruning skipped; archiving goes on, and the cutoff is read again later', { reason: prune.lastError, inSeconds: options.cutoffIntervalSeconds });
    }
  };
  await runArchiver(deps, siteConfig, status, signal, { watch: options.watch, retryAfterFailureSeconds: options.retryAfterFailureSeconds, afterScan });
}
