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
import { AbortedError, AppError, ExitCode } from '../../lib/errors.js';

export default class PitrArchive extends BaseCommand {
  static override summary = "Archive the server's sealed binlogs for point-in-time recovery.";

  static override description = `Uploads every sealed binlog of the configured server (never the one it is writing) once, to <profile root>/binlogs/<site>/ of backup.pitr.profileName's storage, with an entry in manifest-<site>.json: size, SHA-256, server, first and last event time and the GTIDs it holds, read from its events. Only a writable primary (@@read_only = 0) uploads.

backup.pitr.source says how binlogs are read: local (the server's binlog folder on this machine, watched for new files, with a scan every archivePollInterval as a safety net) or remote (over the replication protocol, with mariadb-binlog / mysqlbinlog). Runs until stopped (SIGTERM, Ctrl-C), or once with --once.

Exit codes: 0 done (a continuous run stopped by Ctrl-C or SIGTERM, saying what it archived; a file being fetched then is archived by the next run), 1 failure (a continuous run stopped while its last scan had failed too: its error is named), 2 bad usage or configuration, 3 binary logging is off, 130 --once interrupted. bloodraven daemon runs it too when backup.pitr.enabled is true.`;

  static override examples = ['<%= config.bin %> <%= command.id %> --once', '<%= config.bin %> <%= command.id %> --config /etc/bloodraven.yaml'];

  static override enableJsonFlag = true;

  static override flags = {
    once: Flags.boolean({ description: 'Scan once and exit.' }),
  };

  async run(): Promise<ArchiveScan | ArchiverStopped> {
    const { flags } = await this.parse(PitrArchive);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const { config, store, keys } = await pitrContext(loaded, flags.profile, this.logger, true);
    const deps = { connector: await createConnector(loaded), store, keys, runner: nodeProcessRunner, logger: this.logger, clock: systemClock };
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
    await runArchiver({ ...deps, onArchived: (entry) => archived.push(entry.file) }, config, status, this.interrupt.signal, (path, onChange) => {
      const watcher = watch(path, () => onChange());
      watcher.on('error', () => undefined);
      return () => watcher.close();
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
