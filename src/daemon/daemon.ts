/**
 * `bloodraven daemon`, standalone: runs every schedule of a config file (each on its own, never
 * overlapping itself), retries failed scheduled backups, prunes a profile after each success,
 * runs each profile's scheduled verification (scheduled-verifications.ts), keeps the backup and
 * verification metrics, archives binlogs when backup.pitr is enabled, keeps the archiver's, the
 * restorable window's and retention's metrics, and serves /metrics, /healthz and the status page
 * at / (read afresh from storage at most every 10 s, however often it is asked for).
 *
 * Stopping (SIGTERM): no new work is taken; a running backup gets a grace period to finish, then
 * is interrupted (its record says Failed); a running verification is interrupted at once (its
 * sandbox removed, nothing saved); the function returns once everything has ended.
 */
import type { Clock } from '../lib/clock.js';
import type { Config, Profile, Schedule } from '../lib/config/schema.js';
import { listBackups } from '../lib/catalog/catalog.js';
import type { BackupRecord } from '../lib/catalog/record.js';
import { BackupFailedError, runBackup } from '../lib/backup/run-backup.js';
import { errorMessage } from '../lib/errors.js';
import { dumpOptionsOf } from '../lib/dump/options.js';
import type { Logger } from '../lib/log.js';
import type { BackupMetrics } from '../lib/metrics/backup-metrics.js';
import type { MysqlConnector } from '../lib/mysql/connection.js';
import { applyPrune, planPrune } from '../lib/retention/prune.js';
import type { ObjectStore } from '../lib/storage/object-store.js';
import type { ProfileKeys } from '../lib/crypto/keys.js';
import { countsOf, emptyTally, foldGone, readTally, writeTally, type Tally } from '../lib/metrics/tally.js';
import { initialArchiverStatus, runArchiver, type ArchiverStatus } from '../lib/pitr/archiver.js';
import type { ProcessRunner } from '../lib/process.js';
import { startHttpServer } from './http.js';
import { runScheduleLoop } from './schedule-loop.js';
import { VerificationMetrics } from '../lib/metrics/verification-metrics.js';
import { registerArchiverMetrics } from '../lib/metrics/archiver-metrics.js';
import { PitrWindowMetrics, windowRefresher, type WindowRefresher } from '../lib/metrics/pitr-window-metrics.js';
import { RetentionMetrics } from '../lib/metrics/retention-metrics.js';
import { sandboxScratch } from '../lib/verify/scratch.js';
import type { ScratchNeeds, ScratchServer } from '../lib/verify/verify-backup.js';
import { ScheduledVerifications } from './scheduled-verifications.js';
import { describeStatus } from '../lib/status/describe-status.js';
import { renderStatusPage } from '../lib/status/status-page.js';
import { cachedFor } from './cached.js';
import { runVerificationLoop } from './verification-loop.js';

export interface DaemonDeps {
  config: Config;
  connector: MysqlConnector;
  storeFor(profile: Profile): Promise<ObjectStore>;
  /** The profile's encryption key (read afresh for each backup, so a rotation is picked up). */
  keysFor(profile: Profile): Promise<ProfileKeys>;
  clock: Clock;
  logger: Logger;
  metrics: BackupMetrics;
  toolVersion: string;
  /** Runs the binlog tool for remote archiving. */
  runner: ProcessRunner;
  /** Watches a file (the binlog index) for changes; returns a function that stops watching. */
  watch?: (path: string, onChange: () => void) => () => void;
  /** The verification metrics; default: created on `metrics.registry`, so /metrics serves both. */
  verificationMetrics?: VerificationMetrics;
  /** Where a profile's scheduled verification restores; default: a throwaway sandbox of the local server binaries. */
  scratchFor?: (profile: Profile) => (needs: ScratchNeeds, signal: AbortSignal) => Promise<ScratchServer>;
}

export interface DaemonOptions {
  /** `HOST:PORT` for the status page (/), /metrics and /healthz, or null for no HTTP server. */
  listen: string | null;
  /** How long a running backup may go on after the daemon is told to stop. */
  graceMs: number;
}

export interface DaemonEvents {
  /** Called once the daemon is serving (with the bound address, when it listens). */
  onReady?(info: { address: string | null }): void;
}

/** How long the status page is reused: a browser or a scraper asking for / often must not read every profile's storage each time. */
const statusPageTtlMs = 10_000;

/** The browser reloads the status page this often (a meta refresh: the page has no scripts). */
const statusPageRefreshSeconds = 60;

function profileOf(config: Config, schedule: Schedule): Profile {
  const p = config.backup.profiles.find((x) => x.name === schedule.profileName);
  // The config schema guarantees it exists.
  if (!p) throw new Error(`schedule ${schedule.name} names no profile`);
  return p;
}

/**
 * Keeps each profile's tally (metrics/tally.ts) in step with the metrics, so a restart neither
 * loses nor re-counts a backup.
 */
class Tallies {
  private readonly tallies = new Map<string, Tally>();

  constructor(private readonly deps: DaemonDeps) {}

  /** Seeds the metrics from every profile's tally and catalog, counting what was never counted. */
  async seed(): Promise<void> {
    const { deps } = this;
    for (const profile of deps.config.backup.profiles) {
      try {
        const store = await deps.storeFor(profile);
        // Before the first backup its folder may not exist yet: nothing to count then.
        const entries = await listBackups(store, { now: deps.clock.now(), missingStorageIsEmpty: true });
        const terminal = entries.filter((e) => e.phase === 'Succeeded' || e.phase === 'Failed');
        const tally = foldGone(await readTally(store), new Set(terminal.map((e) => e.name)));
        const group = deps.config.name ?? tally.group ?? terminal.find((e) => e.record)?.record?.group ?? 'unknown';
        tally.group = group;
        deps.metrics.seedRuns({ group, profile: profile.name }, countsOf(tally));
        for (const e of [...terminal].reverse()) {
          const seen = tally.counted[e.name] !== undefined;
          const r = e.record;
          deps.metrics.observe(
            {
              name: e.name,
              group,
              profile: profile.name,
              phase: e.phase,
              startedAt: e.startedAt.toISOString(),
              completedAt: r?.completedAt ?? r?.heartbeatAt ?? null,
              sizeBytes: r?.sizeBytes ?? 0,
            },
            { countRun: !seen },
          );
          if (!seen) tally.counted[e.name] = e.phase === 'Succeeded' ? 'success' : 'failure';
        }
        this.tallies.set(profile.name, tally);
        await writeTally(store, tally);
      } catch (err) {
        deps.logger.warn('cannot read the catalog of a profile to seed the metrics', { profile: profile.name, reason: errorMessage(err) });
      }
    }
  }

  /** The group label of the profile's series: the config's name, else the one its tally was made under. */
  groupOf(profile: Profile): string | undefined {
    return this.deps.config.name ?? this.tallies.get(profile.name)?.group ?? undefined;
  }

  /** Counts a terminal attempt once, and remembers it. */
  async count(profile: Profile, record: BackupRecord): Promise<void> {
    const counted = this.deps.metrics.observe({ ...record, profile: profile.name });
    if (!counted) return;
    const tally = this.tallies.get(profile.name) ?? { ...emptyTally(), group: record.group };
    tally.counted[record.name] = record.phase === 'Succeeded' ? 'success' : 'failure';
    this.tallies.set(profile.name, tally);
    await this.save(profile, tally);
  }

  /** After a prune: what left the catalog stays counted, in the totals. */
  async pruned(profile: Profile, deleted: string[]): Promise<void> {
    const tally = this.tallies.get(profile.name);
    if (!tally || deleted.length === 0) return;
    const present = new Set(Object.keys(tally.counted).filter((n) => !deleted.includes(n)));
    const folded = foldGone(tally, present);
    this.tallies.set(profile.name, folded);
    await this.save(profile, folded);
  }

  private async save(profile: Profile, tally: Tally): Promise<void> {
    try {
      await writeTally(await this.deps.storeFor(profile), tally);
    } catch (err) {
      this.deps.logger.warn('cannot save the metrics tally; a restart may count a backup twice', { profile: profile.name, reason: errorMessage(err) });
    }
  }
}

/** Resolves once `signal` has fired (at once if it has). */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** The profiles' scheduled verifications, with the daemon's defaults: a sandbox scratch, metrics on the daemon's registry. */
function scheduledVerifications(deps: DaemonDeps): ScheduledVerifications {
  const { config } = deps;
  const watchScratch = { unresponsiveTimeoutMs: config.mysql.unresponsiveTimeout * 1000, settingName: 'mysql.unresponsiveTimeout' };
  return new ScheduledVerifications({
    config,
    storeFor: (profile) => deps.storeFor(profile),
    keysFor: (profile) => deps.keysFor(profile),
    scratchFor: deps.scratchFor ?? (() => sandboxScratch(deps.runner, [], watchScratch)),
    clock: deps.clock,
    logger: deps.logger,
    metrics: deps.verificationMetrics ?? new VerificationMetrics(deps.metrics.registry),
  });
}

/** Retention's metrics, each profile with a policy at 0 from the start, so that the first deletion is an increase. */
function zeroedRetentionMetrics(deps: DaemonDeps, tallies: Tallies): RetentionMetrics {
  const metrics = new RetentionMetrics(deps.metrics.registry);
  for (const profile of deps.config.backup.profiles) {
    const group = tallies.groupOf(profile);
    if (profile.retentionPolicy && group !== undefined) metrics.observe({ group, profile: profile.name }, []);
  }
  return metrics;
}

/**
 * The archiver's and the restorable window's metrics of the standalone daemon, on its registry,
 * labelled {group, profile} with the archive's profile: the group is the config's name, else the
 * one the server's host name implies, else the one the profile's tally was made under.
 * `refresh` reads the window from storage; a failure is logged and the old values stay.
 */
function pitrMetrics(
  deps: DaemonDeps,
  archive: { pitr: Config['backup']['pitr'] | undefined; store: ObjectStore | undefined; status: ArchiverStatus | undefined; groupOfProfile: () => string | undefined },
): WindowRefresher {
  const { config, clock, logger } = deps;
  const { pitr, store, status } = archive;
  // Without archiving: no series, and nothing to read.
  if (!pitr || !store || !status) return { refresh: () => Promise.resolve(), afterScan: () => Promise.resolve() };
  registerArchiverMetrics(deps.metrics.registry, {
    status: () => status,
    labels: (s) => {
      const group = config.name ?? s.hostGroup;
      return group === null ? null : { group, profile: pitr.profileName };
    },
    clock,
    startedAt: clock.now(),
  });
  return windowRefresher({
    metrics: new PitrWindowMetrics(deps.metrics.registry),
    store,
    clock,
    logger,
    labels: () => {
      const group = config.name ?? status.hostGroup ?? archive.groupOfProfile() ?? null;
      return group === null ? null : { group, profile: pitr.profileName };
    },
  });
}

export async function runDaemon(deps: DaemonDeps, options: DaemonOptions, stop: AbortSignal, events: DaemonEvents = {}): Promise<void> {
  const { config, logger, clock } = deps;
  const tallies = new Tallies(deps);
  await tallies.seed();
  const verifications = scheduledVerifications(deps);
  await verifications.seed();
  const verified = verifications.scheduled();
  const nextRuns = new Map<string, string>();
  const pitr = config.backup.pitr?.enabled ? config.backup.pitr : undefined;
  const pitrProfile = pitr ? config.backup.profiles.find((p) => p.name === pitr.profileName) : undefined;
  const pitrStore = pitrProfile ? await deps.storeFor(pitrProfile) : undefined;
  const pitrKeys = pitrProfile ? await deps.keysFor(pitrProfile) : undefined;
  const archiverStatus: ArchiverStatus | undefined = pitr && pitrStore ? initialArchiverStatus(pitr, pitrStore) : undefined;
  const running = new Map<string, { attempt: number; since: string }>();
  const retentionMetrics = zeroedRetentionMetrics(deps, tallies);
  const windowMetrics = pitrMetrics(deps, { pitr, store: pitrStore, status: archiverStatus, groupOfProfile: () => (pitrProfile ? tallies.groupOf(pitrProfile) : undefined) });
  const server = options.listen
    ? await startHttpServer(options.listen, {
        metrics: async () => ({ contentType: deps.metrics.registry.contentType, body: await deps.metrics.metrics() }),
        health: () => ({
          status: stop.aborted ? 'stopping' : 'ok',
          schedules: config.backup.schedules.map((s) => ({ name: s.name, profile: s.profileName, nextRun: nextRuns.get(s.name) ?? null })),
          running: [...running].map(([schedule, r]) => ({ schedule, ...r })),
          verifications: verifications.health(),
        }),
        ...(archiverStatus ? { archiverStatus: () => ({ ...archiverStatus }) } : {}),
        statusPage: cachedFor(statusPageTtlMs, async () => {
          const now = clock.now();
          return renderStatusPage(await describeStatus(config, (profile) => deps.storeFor(profile), now, stop), { now, refreshSeconds: statusPageRefreshSeconds });
        }),
      })
    : null;
  if (server) logger.info('serving the status page at /, /metrics and /healthz', { address: server.address });
  logger.info('daemon started', { schedules: config.backup.schedules.length, verifications: verified.length });
  events.onReady?.({ address: server?.address ?? null });

  const work = new AbortController();
  let graceTimer: NodeJS.Timeout | undefined;
  const onStop = (): void => {
    logger.info('stopping: no new backups are started; a running verification is interrupted', { runningNow: running.size, graceSeconds: options.graceMs / 1000 });
    graceTimer = setTimeout(() => work.abort(new Error('the daemon is stopping')), options.graceMs);
  };
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });

  const backup = async (schedule: Schedule, attempt: number, signal: AbortSignal): Promise<BackupRecord | null> => {
    const profile = profileOf(config, schedule);
    running.set(schedule.name, { attempt, since: clock.now().toISOString() });
    let record: BackupRecord | null;
    try {
      const store = await deps.storeFor(profile);
      const encryption = await (await deps.keysFor(profile)).forWriting();
      record = await runBackup(
        { connector: deps.connector, store, logger, clock },
        {
          group: config.name,
          profile: profile.name,
          dump: dumpOptionsOf(profile.dump),
          toolVersion: deps.toolVersion,
          trigger: { kind: 'schedule', schedule: schedule.name, attempt },
          encryption,
        },
        { signal },
      );
    } catch (err) {
      record = err instanceof BackupFailedError ? (err.record ?? null) : null;
      logger.error('scheduled backup failed', { schedule: schedule.name, attempt, reason: errorMessage(err) });
    } finally {
      running.delete(schedule.name);
    }
    if (record) await tallies.count(profile, record);
    if (record && pitr?.profileName === profile.name) await windowMetrics.refresh(stop);
    return record;
  };

  const afterSuccess = async (schedule: Schedule): Promise<void> => {
    const profile = profileOf(config, schedule);
    if (!profile.retentionPolicy) return;
    const store = await deps.storeFor(profile);
    const plan = await planPrune(store, profile.retentionPolicy, clock.now());
    const result = await applyPrune(store, plan, { logger });
    if (result.deleted.length > 0) logger.info('pruned', { profile: profile.name, deleted: result.deleted.join(', ') });
    const group = tallies.groupOf(profile);
    const deleted = plan.decisions.filter((d) => result.deleted.includes(d.name)).map((d) => ({ bytes: d.phase === 'Succeeded' ? d.sizeBytes : d.heldBytes }));
    if (group !== undefined) retentionMetrics.observe({ group, profile: profile.name }, deleted);
    await tallies.pruned(profile, result.deleted);
    // The window starts later once older backups are gone.
    if (result.deleted.length > 0 && pitr?.profileName === profile.name) await windowMetrics.refresh(stop);
  };

  // The archiver stops taking work with everything else; an upload in flight ends with the grace period.
  const archiving =
    pitr && pitrStore && archiverStatus
      ? runArchiver({ connector: deps.connector, store: pitrStore, ...(pitrKeys ? { keys: pitrKeys } : {}), runner: deps.runner, logger, clock }, pitr, archiverStatus, AbortSignal.any([stop, work.signal]), {
          watch: deps.watch,
          // The window moves with every archived file; otherwise it is read again every few minutes.
          afterScan: (signal) => windowMetrics.afterScan(archiverStatus.filesArchived, signal),
        })
      : Promise.resolve();
  try {
    await Promise.all([
      archiving,
      ...config.backup.schedules.map((schedule) =>
        runScheduleLoop(
          schedule,
          config.backup.retry,
          { clock, logger, backup, afterSuccess, onNextRun: (s, at) => nextRuns.set(s.name, at.toISOString()) },
          { stop, work: work.signal },
        ),
      ),
      ...verified.map((profile) =>
        runVerificationLoop(profile, { clock, logger, runOnce: (p, signal) => verifications.runOnce(p, signal), onNextRun: (p, at) => verifications.setNextRun(p, at) }, stop),
      ),
    ]);
    // Without schedules the daemon only serves its endpoints, until told to stop.
    if (config.backup.schedules.length + verified.length === 0 && !pitr) await untilAborted(stop);
  } finally {
    if (graceTimer) clearTimeout(graceTimer);
    stop.removeEventListener('abort', onStop);
    await server?.close();
    logger.info('daemon stopped');
  }
}
