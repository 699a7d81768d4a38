/**
 * `pitr archive --sidecar`: the wiring of the sidecar archiver (src/lib/pitr/sidecar.ts) with its
 * HTTP endpoints (/archiver/status, /healthz, /metrics) in the daemon's HTTP helper style.
 */
import { watch } from 'node:fs';
import { durationSchema, nameSchema, type PitrConfig } from '../lib/config/schema.js';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { Registry } from 'prom-client';
import { registerArchiverMetrics, type ArchiverLabels } from '../lib/metrics/archiver-metrics.js';
import { PitrWindowMetrics, windowRefresher } from '../lib/metrics/pitr-window-metrics.js';
import { initialArchiverStatus, type ArchiverDeps } from '../lib/pitr/archiver.js';
import { initialSidecarStatus, runSidecar, sidecarPathMapper, type SidecarStatus } from '../lib/pitr/sidecar.js';
import { startHttpServer } from '../daemon/http.js';

export interface SidecarFlags {
  site: string | undefined;
  'binlog-dir': string | undefined;
  'data-mount': string | undefined;
  listen: string;
  'pitr-cutoff-url': string | undefined;
  'cutoff-interval': string;
}

/**
 * The labels of the sidecar's series: the namespace, group and profile its --pitr-cutoff-url
 * names (how the daemon knows it), else the group its server's host name implies and the
 * archive's profile, with an empty namespace.
 */
function sidecarLabels(cutoffUrl: string | undefined, config: PitrConfig): (s: { hostGroup: string | null }) => ArchiverLabels | null {
  const query = cutoffUrl ? new URL(cutoffUrl).searchParams : new URLSearchParams();
  const namespace = query.get('namespace') ?? '';
  const profile = query.get('profile') || config.profileName;
  return (s) => {
    const group = query.get('group') || s.hostGroup;
    return group ? { namespace, group, profile } : null;
  };
}

/** How long to wait between scans while the server does not answer (mysqld starting). */
const retryAfterFailureSeconds = 5;

/** Checks the sidecar's flags against the config: every problem at once, as a ConfigError. */
function sidecarSettings(flags: SidecarFlags, config: PitrConfig): { site: string; cutoffIntervalSeconds: number; cutoffUrl: string | undefined } {
  const issues: ConfigIssue[] = [];
  const site = flags.site ?? config.site;
  if (!site) {
    issues.push({ path: '--site', message: "required with --sidecar (or the environment variable BLOODRAVEN_SITE, or backup.pitr.site): the name this site's binlogs are archived under, like the group's site name; the pod's host name is not one" });
  } else {
    const named = nameSchema.safeParse(site);
    if (!named.success) issues.push({ path: '--site', message: `"${site}": ${named.error.issues[0]?.message ?? 'not a site name'}` });
  }
  if (config.source.type !== 'local') {
    issues.push({ path: 'backup.pitr.source', message: 'is remote, but --sidecar reads the binlogs from the mounted data volume: remove backup.pitr.source (or set type: local)' });
  }
  const interval = durationSchema.safeParse(flags['cutoff-interval']);
  if (!interval.success) issues.push({ path: '--cutoff-interval', message: interval.error.issues[0]?.message ?? 'not a duration' });
  const url = flags['pitr-cutoff-url'];
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol)) issues.push({ path: '--pitr-cutoff-url', message: `"${url}" is not an http(s) URL, like http://bloodraven-metrics.bloodraven-system.svc:9464/pitr-cutoff?namespace=NS&group=GROUP&profile=PROFILE` });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { site: site!, cutoffIntervalSeconds: interval.data!, cutoffUrl: url };
}

/**
 * Runs the sidecar until `signal` fires; resolves with its final status. The HTTP server is up
 * before the first scan, so /healthz answers while mysqld is still starting.
 */
export async function runPitrSidecar(
  deps: Omit<ArchiverDeps, 'localPath'>,
  config: PitrConfig,
  flags: SidecarFlags,
  logger: Logger,
  signal: AbortSignal,
): Promise<SidecarStatus> {
  const settings = sidecarSettings(flags, config);
  const localPath = sidecarPathMapper({ binlogDir: flags['binlog-dir'], dataMount: flags['data-mount'] });
  const status = initialSidecarStatus(initialArchiverStatus(config, deps.store), { site: settings.site, ...(settings.cutoffUrl ? { cutoffUrl: settings.cutoffUrl } : {}), cutoffIntervalSeconds: settings.cutoffIntervalSeconds, retryAfterFailureSeconds }, flags['binlog-dir'] ?? null);
  const metrics = new Registry();
  const labels = sidecarLabels(settings.cutoffUrl, config);
  registerArchiverMetrics(metrics, { status: () => status, labels: (s) => labels(s), clock: deps.clock, startedAt: deps.clock.now(), namespaced: true });
  // The window's metrics, read again when a file was archived or every few minutes.
  const windowMetrics = windowRefresher({ metrics: new PitrWindowMetrics(metrics, { namespaced: true }), store: deps.store, clock: deps.clock, logger, labels: () => labels(status) });
  const http = await startHttpServer(flags.listen, {
    metrics: async () => ({ contentType: metrics.contentType, body: await metrics.metrics() }),
    // Alive whatever the server's state: the pod's readiness must not hang on the archiver.
    health: () => ({ status: signal.aborted ? 'stopping' : 'ok', mode: 'sidecar', site: status.site }),
    archiverStatus: () => structuredClone(status) as unknown as Record<string, unknown>,
  });
  logger.info('sidecar archiver serving /archiver/status, /healthz and /metrics', { address: http.address, site: settings.site, enabled: config.enabled });
  try {
    if (!config.enabled) {
      logger.warn('backup.pitr.enabled is false: nothing is archived or pruned; the endpoints answer until stopped');
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      return status;
    }
    await runSidecar(
      { ...deps, ...(localPath ? { localPath } : {}) },
      config,
      {
        site: settings.site,
        ...(settings.cutoffUrl ? { cutoffUrl: settings.cutoffUrl } : {}),
        cutoffIntervalSeconds: settings.cutoffIntervalSeconds,
        retryAfterFailureSeconds,
        afterScan: (scanSignal) => windowMetrics.afterScan(status.filesArchived, scanSignal),
        watch: (path, onChange) => {
          // The index may not be where it is looked for (a volume mounted elsewhere): the scans go on.
          try {
            const watcher = watch(path, () => onChange());
            watcher.on('error', () => undefined);
            return () => watcher.close();
          } catch (err) {
            logger.warn('cannot watch the binlog index; new binlogs are found by the periodic scan', { path, reason: String(err) });
            return () => undefined;
          }
        },
      },
      status,
      signal,
    );
    return status;
  } finally {
    await http.close();
  }
}
