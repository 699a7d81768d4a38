/**
 * The binlog archiver: finds the server's sealed binlogs (every file of the index but the last,
 * which the server is still writing) and uploads each once, with its manifest entry, to the
 * archive (manifest.ts). Only a writable primary (@@read_only = 0) uploads, so a replica never
 * competes with its primary; after a failover the new primary archives under its own site.
 *
 * Two ways to read binlogs: `local`, from the binlog folder of a server on this machine, and
 * `remote`, over the replication protocol with the flavor's binlog tool, for servers elsewhere.
 * A file is uploaded before its manifest entry is written: a crash in between only means the
 * file is uploaded again on the next scan.
 */
import { createReadStream } from 'node:fs';
import { access, chmod, constants, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, pipeline, type Readable, type Transform } from 'node:stream';
import { HashCounter } from '../storage/hash-counter.js';
import type { Clock } from '../clock.js';
import type { PitrConfig } from '../config/schema.js';
import { AppError, ExitCode, errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import { withClientOptions } from '../mysql/client-tools.js';
import type { MysqlConnector, MysqlSession } from '../mysql/connection.js';
import { detectFlavor, type Flavor } from '../mysql/flavor.js';
import type { ProcessRunner } from '../process.js';
import { assertKeyIsCurrent, newDataKey, type KeyEncryptionKey, type ProfileKeys } from '../crypto/keys.js';
import { createEncryptStream, defaultSegmentSize } from '../crypto/segments.js';
import type { ObjectStore } from '../storage/object-store.js';
import { groupFromHostname } from '../catalog/names.js';
import { runFolder } from '../private-temp.js';
import { parseBinlog } from './binlog-parser.js';
import { binlogKey, isArchived, readSiteManifest, writeSiteManifest, type ArchivedBinlog } from './manifest.js';

export interface ArchiverDeps {
  connector: MysqlConnector;
  /** The storage of the profile the archive lives in. */
  store: ObjectStore;
  /** The profile's key: when it encrypts, every file gets a data key of its own. */
  keys?: ProfileKeys;
  runner: ProcessRunner;
  logger: Logger;
  clock: Clock;
  /**
   * How long a remote fetch may go without receiving a byte before it is stopped and fails
   * (default 60 s): the binlog tool itself waits for ever on a server or network that stops answering.
   */
  fetchStallMs?: number;
  /** Told of each file once it is archived (in the manifest), also in a scan that is then interrupted. */
  onArchived?: (entry: ArchivedBinlog) => void;
  /**
   * Where a path the server reports (@@log_bin_basename, @@log_bin_index) is in this process's
   * file system, given the server's @@datadir: a sidecar sees the data volume at a mount path of
   * its own. Default: the path as the server reports it.
   */
  localPath?: (serverPath: string, serverDatadir: string) => string;
}

const defaultFetchStallMs = 60_000;

export interface ArchiveScan {
  site: string;
  /** The group the server's host name implies (used when the config names none). */
  hostGroup: string;
  /** Whether the server is a writable primary (only then does it upload). */
  primary: boolean;
  archived: ArchivedBinlog[];
  /** Sealed files already in the archive. */
  alreadyArchived: number;
  /** The newest event time in this site's archive after the scan (RFC 3339); null when it holds none. */
  lastEventTime: string | null;
}

/** The latest `lastEventTime` among `entries` and `since` (RFC 3339 strings compare by time only once parsed). */
function newestEventTime(entries: readonly ArchivedBinlog[], since: string | null = null): string | null {
  let newest = since;
  for (const e of entries) {
    if (e.lastEventTime && (newest === null || Date.parse(e.lastEventTime) > Date.parse(newest))) newest = e.lastEventTime;
  }
  return newest;
}

interface ServerState {
  flavor: Flavor;
  readOnly: boolean;
  basename: string | null;
  datadir: string;
  files: Array<{ name: string; size: number }>;
}

async function serverState(session: MysqlSession): Promise<ServerState> {
  const flavor = await detectFlavor(session);
  const [row] = await session.query<{ ro: string | number; logBin: string | number; basename: string | null; datadir: string }>(
    'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.log_bin AS logBin, @@GLOBAL.log_bin_basename AS basename, @@GLOBAL.datadir AS datadir',
  );
  if (Number(row?.logBin) !== 1) {
    throw new AppError('BINLOG_OFF', 'the server has binary logging off: there is nothing to archive', ExitCode.precondition, {
      hint: 'start the server with log-bin (and a server-id) to use point-in-time recovery',
    });
  }
  const logs = await session.query<{ Log_name: string; File_size: string | number }>('SHOW BINARY LOGS');
  return { flavor, readOnly: Number(row?.ro) !== 0, basename: row?.basename ?? null, datadir: row?.datadir ?? '', files: logs.map((l) => ({ name: l.Log_name, size: Number(l.File_size) })) };
}

/** The folder a local source reads binlogs from: backup.pitr.source.binlogDir, or the server's own (mapped by the sidecar's --binlog-dir / --data-mount). */
function localBinlogFolder(deps: ArchiverDeps, config: PitrConfig, state: ServerState): string {
  const folder = config.source.type === 'local' ? config.source.binlogDir : undefined;
  const found = folder ?? (state.basename ? dirname(deps.localPath ? deps.localPath(state.basename, state.datadir) : state.basename) : null);
  if (!found) throw new AppError('BINLOG_DIR_UNKNOWN', 'the server does not say where its binlogs are (@@log_bin_basename)', ExitCode.usage, { hint: 'set backup.pitr.source.binlogDir' });
  return found;
}

/**
 * A local source's folder must be there and readable before a scan says it is fine: a wrong path
 * (a mount missing, a typo in the flag) is named at once, not at the first sealed binlog.
 */
async function checkLocalFolder(deps: ArchiverDeps, config: PitrConfig, state: ServerState): Promise<void> {
  if (config.source.type !== 'local') return;
  const folder = localBinlogFolder(deps, config, state);
  try {
    await access(folder, constants.R_OK | constants.X_OK);
  } catch (err) {
    const from = config.source.binlogDir !== undefined ? 'backup.pitr.source.binlogDir' : deps.localPath ? '--binlog-dir or --data-mount' : "the server's @@log_bin_basename";
    throw new AppError('BINLOG_DIR_UNREADABLE', `cannot read the binlog folder ${folder} (from ${from}): ${errorMessage(err)}`, ExitCode.usage, {
      hint: deps.localPath ? 'mount the MySQL data volume into this container and point --binlog-dir (or --data-mount) at it' : 'set backup.pitr.source.binlogDir to the folder holding the binlogs, readable by this user',
      retryable: true,
    });
  }
}

/** The site a server archives under: the configured one, or its host name. */
export function siteOf(config: Pick<PitrConfig, 'site'>, hostname: string): string {
  return config.site ?? groupFromHostname(hostname);
}

/** Reads one binlog file: from the local folder, or fetched from the server into a temp folder. */
async function openBinlog(deps: ArchiverDeps, config: PitrConfig, state: ServerState, file: string, signal?: AbortSignal): Promise<{ stream: Readable; cleanup: () => Promise<void> }> {
  if (config.source.type === 'local') {
    const folder = localBinlogFolder(deps, config, state);
    return { stream: createReadStream(join(folder, file)), cleanup: () => Promise.resolve() };
  }
  // A fetched binlog is data: into the run's private folder, swept after a SIGKILL.
  const dir = await (await runFolder()).makeFolder('binlog');
  const stallMs = deps.fetchStallMs ?? defaultFetchStallMs;
  const stalled = new AbortController();
  const watchdog = watchGrowth(join(dir, file), stallMs, () =>
    stalled.abort(
      new AppError('BINLOG_FETCH_STALLED', `${state.flavor.binlogTool} received nothing of ${file} from the server for ${Math.round(stallMs / 1000)} s; it was stopped`, ExitCode.failure, {
        hint: 'check that the server (mysql.host) is up and reachable; the file is fetched again at the next scan',
        retryable: true,
      }),
    ),
  );
  try {
    // A binlog holds row data: the file is made 0600 before the tool opens it (the tool truncates
    // it and keeps its mode; its own would be 0644 under the usual umask).
    await writeFile(join(dir, file), '', { mode: 0o600, flag: 'wx' });
    const runSignal = signal ? AbortSignal.any([signal, stalled.signal]) : stalled.signal;
    await withClientOptions(deps.connector.options, ({ args, inheritFds }) =>
      deps.runner.run(state.flavor.binlogTool, [...args, '--read-from-remote-server', '--raw', `--result-file=${dir}/`, file], { signal: runSignal, inheritFds }),
    );
    // Should a tool have made the file anew, it is still read by this user alone.
    await chmod(join(dir, file), 0o600);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    watchdog.stop();
  }
  return { stream: createReadStream(join(dir, file)), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Calls `onStall` once when the file at `path` has not grown for `stallMs` (a missing file counts as empty). */
function watchGrowth(path: string, stallMs: number, onStall: () => void): { stop: () => void } {
  let size = -1;
  let grewAt = Date.now();
  let checking = false;
  const timer = setInterval(
    () => {
      if (checking) return;
      checking = true;
      void stat(path)
        .then(
          (s) => s.size,
          () => 0,
        )
        .then((now) => {
          if (now !== size) {
            size = now;
            grewAt = Date.now();
          } else if (Date.now() - grewAt >= stallMs) {
            clearInterval(timer);
            onStall();
          }
        })
        .finally(() => (checking = false));
    },
    Math.max(100, Math.min(5000, stallMs / 4)),
  );
  return { stop: () => clearInterval(timer) };
}

/** Uploads one file while parsing and hashing it in the same pass. */
async function archiveFile(
  deps: ArchiverDeps,
  config: PitrConfig,
  state: ServerState,
  where: { site: string; file: string; kek: KeyEncryptionKey | null },
  signal?: AbortSignal,
): Promise<ArchivedBinlog> {
  const { site, file, kek } = where;
  const key = binlogKey(site, file);
  const { stream, cleanup } = await openBinlog(deps, config, state, file, signal);
  const toStore = new PassThrough();
  const toParser = new PassThrough();
  try {
    // The manifest keeps the SHA-256 of the stored bytes (the ciphertext, when encrypted).
    const dataKey = kek ? newDataKey(kek, defaultSegmentSize) : null;
    const hashing = new HashCounter();
    const stages: Array<Readable | Transform> = [toStore, ...(dataKey ? [createEncryptStream(dataKey.key, key, dataKey.wrapped.segmentSize)] : []), hashing];
    pipeline(stages, (err) => {
      if (err) hashing.destroy(err);
    });
    stream.on('data', (chunk: Buffer) => {
      const a = toStore.write(chunk);
      const b = toParser.write(chunk);
      if (!a || !b) {
        stream.pause();
        let waiting = (a ? 0 : 1) + (b ? 0 : 1);
        const go = (): void => {
          if (--waiting === 0) stream.resume();
        };
        if (!a) toStore.once('drain', go);
        if (!b) toParser.once('drain', go);
      }
    });
    stream.on('end', () => {
      toStore.end();
      toParser.end();
    });
    stream.on('error', (err) => {
      toStore.destroy(err);
      toParser.destroy(err);
    });
    const [written, summary] = await Promise.all([deps.store.write(key, hashing, signal ? { signal } : {}), parseBinlog(toParser, signal ? { signal } : {})]);
    return {
      file,
      site,
      key,
      flavor: summary.flavor,
      serverId: state.flavor.info.serverId,
      serverUuid: state.flavor.info.serverUuid,
      size: written.bytes,
      sha256: hashing.digest()!,
      firstEventTime: summary.firstEventTime?.toISOString() ?? null,
      lastEventTime: summary.lastEventTime?.toISOString() ?? null,
      gtids: summary.gtids,
      gtidRanges: summary.gtidRanges,
      previousGtids: summary.previousGtids,
      transactions: summary.transactions,
      endedWith: summary.endedWith,
      uploadedAt: deps.clock.now().toISOString(),
      ...(dataKey ? { encryption: dataKey.wrapped } : {}),
    };
  } finally {
    // When one side failed, the other must not wait for bytes that will not come.
    for (const s of [stream, toStore, toParser]) s.destroy();
    await cleanup();
  }
}

/** One scan: uploads every sealed binlog not archived yet, oldest first. */
export async function archiveOnce(deps: ArchiverDeps, config: PitrConfig, signal?: AbortSignal): Promise<ArchiveScan> {
  const session = await deps.connector.connect();
  let state: ServerState;
  try {
    state = await serverState(session);
  } finally {
    await session.close();
  }
  const site = siteOf(config, state.flavor.info.hostname);
  const hostGroup = groupFromHostname(state.flavor.info.hostname);
  if (state.readOnly) return { site, hostGroup, primary: false, archived: [], alreadyArchived: 0, lastEventTime: null };
  await checkLocalFolder(deps, config, state);
  const manifest = await readSiteManifest(deps.store, site, signal);
  const known = (f: { name: string; size: number }): boolean => isArchived(manifest, f.name, f.size);
  const sealed = state.files.slice(0, -1);
  const result: ArchiveScan = { site, hostGroup, primary: true, archived: [], alreadyArchived: sealed.filter(known).length, lastEventTime: newestEventTime(manifest.entries) };
  // Read afresh each scan: the passphrase may have been rotated under a long-running archiver.
  const kek = sealed.some((f) => !known(f)) ? ((await deps.keys?.forWriting()) ?? null) : null;
  for (const f of sealed) {
    if (known(f)) continue;
    throwIfAborted(signal);
    const entry: ArchivedBinlog = { ...(await archiveFile(deps, config, state, { site, file: f.name, kek }, signal)), binlogBytes: f.size };
    // Its data key must open with the profile's key; otherwise the file is archived again next scan.
    if (kek) await assertKeyIsCurrent(deps.store, kek);
    manifest.entries.push(entry);
    await writeSiteManifest(deps.store, manifest, signal);
    result.archived.push(entry);
    result.lastEventTime = newestEventTime([entry], result.lastEventTime);
    deps.onArchived?.(entry);
    deps.logger.info('binlog archived', { file: f.name, site, size: entry.size, transactions: entry.transactions, lastEventTime: entry.lastEventTime });
  }
  return result;
}

/** The binlog index file as this process sees it. */
function indexPath(deps: ArchiverDeps, serverIndex: string, serverDatadir: string): string {
  return deps.localPath ? deps.localPath(serverIndex, serverDatadir) : serverIndex;
}

/** What `/archiver/status` reports, and what the archiver's metrics are read from. */
export interface ArchiverStatus {
  enabled: boolean;
  primary: boolean | null;
  lastScanAt: string | null;
  filesArchived: number;
  /** Bytes stored for the files archived since the process started. */
  bytesArchived: number;
  /** Scans that failed since the process started. */
  failedScans: number;
  /** The newest event time in the site's archive, as of the last scan (RFC 3339). */
  lastArchivedEventTime: string | null;
  /**
   * When the archive last held every sealed binlog: the start of the last successful scan (a
   * scan archives every sealed file it finds). Null before the first one.
   */
  caughtUpAt: string | null;
  /** The group the server's host name implies, once a scan has read it. */
  hostGroup: string | null;
  lastError: string | null;
  storageType: 'PVC' | 'S3';
  manifestPrefix: string;
  site: string | null;
}

export function initialArchiverStatus(config: PitrConfig | undefined, store: ObjectStore): ArchiverStatus {
  return {
    enabled: config?.enabled ?? false,
    primary: null,
    lastScanAt: null,
    filesArchived: 0,
    bytesArchived: 0,
    failedScans: 0,
    lastArchivedEventTime: null,
    caughtUpAt: null,
    hostGroup: null,
    lastError: null,
    storageType: store.type,
    manifestPrefix: `${store.location.replace(/\/$/, '')}/binlogs/`,
    site: config?.site ?? null,
  };
}

/** How runArchiver watches for new files and paces itself beyond the poll interval. */
export interface ArchiverLoopOptions {
  /** Watches a file (the binlog index, local source) for changes; returns a function that stops watching. */
  watch?: ((path: string, onChange: () => void) => () => void) | undefined;
  /**
   * After a failed scan, wait this long (seconds) instead of the poll interval, if shorter: a
   * sidecar whose server is still starting archives as soon as it answers.
   */
  retryAfterFailureSeconds?: number;
  /**
   * Called after every scan, failed or not, before the wait; what it does cannot overlap a scan
   * (a sidecar prunes its own manifest here, which a scan also writes). Its errors are its own to report.
   */
  afterScan?: (signal: AbortSignal) => Promise<void>;
}

/**
 * Archives until `signal` fires: a scan every poll interval, and sooner when the binlog index
 * changes (local source), since that is when a file is sealed.
 */
export async function runArchiver(deps: ArchiverDeps, config: PitrConfig, status: ArchiverStatus, signal: AbortSignal, loop: ArchiverLoopOptions = {}): Promise<void> {
  const { watch } = loop;
  let wake: (() => void) | undefined;
  let unwatch: (() => void) | undefined;
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  // Counted as each file is archived: a scan cut short by the stop still counts what it did.
  const counting: ArchiverDeps = {
    ...deps,
    onArchived: (entry) => {
      status.filesArchived++;
      status.bytesArchived += entry.size;
      status.lastArchivedEventTime = newestEventTime([entry], status.lastArchivedEventTime);
      deps.onArchived?.(entry);
    },
  };
  let failed = false;
  try {
    while (!signal.aborted) {
      const scanStartedAt = deps.clock.now().toISOString();
      try {
        const scan = await archiveOnce(counting, config, signal);
        status.primary = scan.primary;
        status.site = scan.site;
        status.hostGroup = scan.hostGroup;
        if (scan.lastEventTime !== null) status.lastArchivedEventTime = scan.lastEventTime;
        status.caughtUpAt = scanStartedAt;
        status.lastError = null;
        if (!unwatch && watch && config.source.type === 'local') {
          const session = await deps.connector.connect();
          try {
            const [row] = await session.query<{ index: string | null; datadir: string }>('SELECT @@GLOBAL.log_bin_index AS `index`, @@GLOBAL.datadir AS datadir');
            if (row?.index) unwatch = watch(indexPath(deps, row.index, row.datadir), () => wake?.());
          } finally {
            await session.close();
          }
        }
      } catch (err) {
        if (signal.aborted) break;
        failed = true;
        status.failedScans++;
        status.lastError = errorMessage(err);
        deps.logger.error('binlog archiving failed; trying again at the next scan', { reason: status.lastError });
      }
      status.lastScanAt = deps.clock.now().toISOString();
      if (loop.afterScan && !signal.aborted) await loop.afterScan(signal);
      const waitSeconds = failed && loop.retryAfterFailureSeconds !== undefined ? Math.min(loop.retryAfterFailureSeconds, config.archivePollInterval) : config.archivePollInterval;
      failed = false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitSeconds * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    unwatch?.();
  }
}

