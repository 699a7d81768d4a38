import { watch } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { pitrContext } from '../../cli/pitr-context.js';
import { systemClock } from '../../lib/clock.js';
import { loadConfig } from '../../lib/config/load.js';
import { createConnector } from '../../lib/deps.js';
import { archiveOnce, initialArchiverStatus, runArchiver, type ArchiveScan } from '../../lib/pitr/archiver.js';
import { nodeProcessRunner } from '../../lib/process.js';
import { throwIfAborted } from '../../lib/errors.js';

export default class PitrArchive extends BaseCommand {
  static override summary = "Archive the server's sealed binlogs for point-in-time recovery.";

  static override description = `Uploads every sealed binlog of the configured server (never the one it is writing) once, to <profile root>/binlogs/<site>/ of backup.pitr.profileName's storage, with an entry in manifest-<site>.json: size, SHA-256, server, first and last event time and the GTIDs it holds, read from its events. Only a writable primary (@@read_only = 0) uploads.

backup.pitr.source says how binlogs are read: local (the server's binlog folder on this machine, watched for new files, with a scan every archivePollInterval as a safety net) or remote (over the replication protocol, with mariadb-binlog / mysqlbinlog). Runs until stopped (SIGTERM, Ctrl-C), or once with --once. bloodraven daemon runs it too when backup.pitr.enabled is true.`;

  static override examples = ['<%= config.bin %> <%= command.id %> --once', '<%= config.bin %> <%= command.id %> --config /etc/bloodraven.yaml'];

  static override enableJsonFlag = true;

  static override flags = {
    once: Flags.boolean({ description: 'Scan once and exit.' }),
  };

  async run(): Promise<ArchiveScan | undefined> {
    const { flags } = await this.parse(PitrArchive);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ file: flags.config, cwd: process.cwd(), profile: flags.profile });
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
    await runArchiver(deps, config, status, this.interrupt.signal, (path, onChange) => {
      const watcher = watch(path, () => onChange());
      watcher.on('error', () => undefined);
      return () => watcher.close();
    });
    // The archiver returns when stopped; a stop is an interrupt like any other (exit 130).
    throwIfAborted(this.interrupt.signal);
    return undefined;
  }
}
