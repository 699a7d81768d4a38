import { watch } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { pitrContext } from '../../cli/pitr-context.js';
import { systemClock } from '../../lib/clock.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { createConnector } from '../../lib/deps.js';
import { archiveOnce, initialArchiverStatus, runArchiver, type ArchiveScan } from '../../lib/pitr/archiver.js';
import { nodeProcessRunner } from '../../lib/process.js';
import type { SidecarStatus } from '../../lib/pitr/sidecar.js';
import { runPitrSidecar } from '../../cli/pitr-sidecar.js';
import { AbortedError, AppError, ExitCode } from '../../lib/errors.js';

export default class PitrArchive extends BaseCommand {
  static override summary = "Archive the server's sealed binlogs for point-in-time recovery.";

  static override description = `Uploads every sealed binlog of the configured server (never the one it is writing) once, to <profile root>/binlogs/<site>/ of backup.pitr.profileName's storage, with an entry in manifest-<site>.json: size, SHA-256, server, first and last event time and the GTIDs it holds, read from its events. Only a writable primary (@@read_only = 0) uploads.

backup.pitr.source says how binlogs are read: local (the server's binlog folder on this machine, watched for new files, with a scan every archivePollInterval as a safety net) or remote (over the replication protocol, with mariadb-binlog / mysqlbinlog). Runs until stopped (SIGTERM, Ctrl-C), or once with --once.

Exit codes: 0 done (a continuous run stopped by Ctrl-C or SIGTERM, saying what it archived; a file being fetched then is archived by the next run), 1 failure (a continuous run stopped while its last scan had failed too: its error is named), 2 bad usage or configuration, 3 binary logging is off, 130 --once interrupted. bloodraven daemon runs it too when backup.pitr.enabled is true.

--sidecar: the container to run beside MySQL in its pod (deploy/pitr-sidecar/ shows it).
  - Binlogs are read from the MySQL data volume mounted read-only; nothing is ever written there. Their folder is --binlog-dir; without it, the folder of @@log_bin_basename as the server reports it, mapped onto --data-mount (where the server's @@datadir is mounted in this container) when that is given, else used as it is (the volume mounted at the same path as in the MySQL container).
  - The server is the config's mysql block (127.0.0.1 in the pod; credentials from files). Only a writable primary uploads: @@read_only is read at every scan, so after a failover the old primary stops uploading within one scan, and the new primary's sidecar archives under its own site. --site (or BLOODRAVEN_SITE) names the site: required, since the pod's host name is not a site name.
  - While MySQL is not up yet (starting, restarting), scans fail and are retried every 5 seconds; the failure is in /archiver/status (lastError) and the process keeps running, so the container does not crash-loop while mysqld starts. /healthz answers 200 from the start (use it as the readiness probe: a sidecar waiting for its server must not take the MySQL pod out of its Services).
  - HTTP on --listen: GET /archiver/status gives {enabled, primary, lastScanAt, filesArchived, lastError, storageType, manifestPrefix, site, mode, binlogDir, prune: {cutoffUrl, lastPolledAt, cutoff, lastError, filesPruned, lastPrunedAt}}; /healthz; /metrics (bloodraven_pitr_archiver_*).
  - Pruning: every --cutoff-interval the sidecar reads --pitr-cutoff-url, the Kubernetes daemon's /pitr-cutoff?namespace=NS&group=GROUP&profile=PROFILE (the oldest completionTime among the retained MysqlBackups), and deletes from its own site's manifest and storage the binlogs whose last event is before it, and only those that bloodraven prune would delete too (every transaction they hold is in the oldest backup in storage, and they end before its snapshot). So the sidecar needs no Kubernetes access and the daemon no storage credentials. A null cutoff (no retained backup) prunes nothing; a daemon that cannot be reached prunes nothing, says so in prune.lastError, and archiving goes on. Without --pitr-cutoff-url nothing is pruned.
  - The config comes as for every Job: --config, or BLOODRAVEN_CONFIG_YAML; backup.pitr.profileName names the archive's profile, whose storage credentials (and the MySQL account) are files. With backup.pitr.enabled false the sidecar only serves its endpoints. SIGTERM stops it (exit 0).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --once',
    '<%= config.bin %> <%= command.id %> --config /etc/bloodraven.yaml',
    '<%= config.bin %> <%= command.id %> --sidecar --site east --pitr-cutoff-url "http://bloodraven-metrics.bloodraven-system.svc:9464/pitr-cutoff?namespace=shop&group=orders&profile=offsite"',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    once: Flags.boolean({ description: 'Scan once and exit.', exclusive: ['sidecar'] }),
    sidecar: Flags.boolean({ description: 'Run as the sidecar container beside MySQL in its pod (see the description).', helpGroup: 'SIDECAR' }),
    site: Flags.string({ description: 'The site these binlogs are archived under (manifest-<site>.json), in place of backup.pitr.site. Required with --sidecar.', env: 'BLOODRAVEN_SITE', helpGroup: 'SIDECAR' }),
    'binlog-dir': Flags.string({ description: 'The folder of the binlogs in this container (the data volume, mounted read-only). Default: the folder of @@log_bin_basename, mapped onto --data-mount.', dependsOn: ['sidecar'], helpGroup: 'SIDECAR' }),
    'data-mount': Flags.string({ description: "Where the server's @@datadir is mounted in this container, when not at the same path as in the MySQL container.", dependsOn: ['sidecar'], exclusive: ['binlog-dir'], helpGroup: 'SIDECAR' }),
    listen: Flags.string({ description: 'HOST:PORT of /archiver/status, /healthz and /metrics. Default: 0.0.0.0:8080.', dependsOn: ['sidecar'], helpGroup: 'SIDECAR' }),
    'pitr-cutoff-url': Flags.string({ description: "The Kubernetes daemon's /pitr-cutoff?namespace=NS&group=GROUP&profile=PROFILE, read to prune this site's archive. Without it nothing is pruned.", dependsOn: ['sidecar'], helpGroup: 'SIDECAR' }),
    'cutoff-interval': Flags.string({ description: 'Time between two readings of the cutoff: seconds, or a duration like 30s, 5m, 1h. Default: 1h.', dependsOn: ['sidecar'], helpGroup: 'SIDECAR' }),
  };

  async run(): Promise<ArchiveScan | ArchiverStopped | SidecarStatus> {
    const { flags } = await this.parse(PitrArchive);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const context = await pitrContext(loaded, flags.profile, this.logger, true);
    const { store, keys } = context;
    const config = flags.site === undefined ? context.config : { ...context.config, site: flags.site };
    const deps = { connector: await createConnector(loaded), store, keys, runner: nodeProcessRunner, logger: this.logger, clock: systemClock };
    if (flags.sidecar) {
      // Stopped by SIGTERM like any pod's container: its last status is what it did.
      const sidecarFlags = { ...flags, listen: flags.listen ?? '0.0.0.0:8080', 'cutoff-interval': flags['cutoff-interval'] ?? '1h' };
      const status = await runPitrSidecar(deps, config, sidecarFlags, this.logger, this.interrupt.signal);
      if (!this.jsonEnabled()) process.stdout.write(`Stopped: archived ${status.filesArchived} and pruned ${status.prune.filesPruned} binlog(s) for site ${status.site ?? '?'} while running\n`);
      return status;
    }
    if (flags.once) {
      const scan = await archiveOnce(deps, config, this.interrupt.signal);
      if (!this.jsonEnabled()) {
        process.stdout.write(
          scan.primary
            ? `Archived ${scan.archived.length} binlog(s) for site ${scan.site} (${scan.alreadyArchived} were archived before, or pruned)\n`
            : `The server is read-only (not the primary): nothing archived for site ${scan.site}\n`,
        );
      }
      return scan;
    }
    this.logger.info('archiving sealed binlogs as they appear, until stopped (Ctrl-C); use --once for a single scan', { everySeconds: config.archivePollInterval });
    const status = initialArchiverStatus(config, store);
    const archived: string[] = [];
    await runArchiver({ ...deps, onArchived: (entry) => archived.push(entry.file) }, config, status, this.interrupt.signal, {
      watch: (path, onChange) => {
        const watcher = watch(path, () => onChange());
        watcher.on('error', () => undefined);
        return () => watcher.close();
      },
    });
    // Ctrl-C or SIGTERM is how a continuous archiver is stopped: an end like any other, exit 0.
    // A file being fetched at that moment is not in the manifest, and is archived by the next run.
    const stopped: ArchiverStopped = { stopped: stopReason(this.interrupt.signal), site: status.site, archived };
    if (!this.jsonEnabled()) {
      const files = archived.length > 0 ? ` (${archived[0]}${archived.length > 1 ? ` … ${archived.at(-1)}` : ''})` : '';
      process.stdout.write(`Stopped (${stopped.stopped}): archived ${archived.length} binlog(s)${status.site ? ` for site ${status.site}` : ''} while running${files}; a file not archived yet is taken by the next run\n`);
    }
    // Stopped while failing: the stop is clean, but what it was there to do was not being done.
    if (status.lastError !== null) {
      if (this.jsonEnabled()) process.stdout.write(JSON.stringify(stopped, null, 2) + '\n');
      this.suppressJsonError = this.jsonEnabled();
      throw new AppError('PITR_ARCHIVE_FAILING', `stopped (${stopped.stopped}) while archiving was failing; the last scan said: ${status.lastError}`, ExitCode.failure, {
        hint: 'fix what that names (each failed scan is logged above), then run pitr archive again: the binlogs not archived meanwhile are taken then, if the server still has them',
      });
    }
    return stopped;
  }
}

/** What a continuous run reports when it is stopped. */
interface ArchiverStopped {
  /** The signal that stopped it. */
  stopped: string;
  site: string | null;
  /** The files it archived, oldest first. */
  archived: string[];
}

function stopReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof AbortedError ? reason.message.replace(/^interrupted: /, '') : 'stopped';
}
