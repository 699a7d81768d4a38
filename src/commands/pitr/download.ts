import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { pitrContext } from '../../cli/pitr-context.js';
import { loadConfig } from '../../lib/config/load.js';
import { configFileModes } from '../../lib/deps.js';
import { configSource } from '../../cli/config-source.js';
import { downloadBinlogs } from '../../lib/pitr/download.js';
import { planFromStorage } from '../../lib/pitr/point-in-time.js';
import { parseTargetTime } from '../../lib/pitr/target-time.js';

export default class PitrDownload extends BaseCommand {
  static override summary = 'Fetch exactly the binlogs a restore to a time needs.';

  static override description = `Picks the newest complete backup whose proven coverage holds --stop-datetime (as bloodraven pitr window shows it; --backup NAME picks that one, as a restore of it with --stop-datetime would) and downloads the archived binlogs holding transactions after it (by its GTID position) and not after the target (by event time), from every site, into --dest/<site>/<file>, each checked against its recorded SHA-256. Prints one JSON line per file: {site, file, path, size, sha256, firstEventTime, lastEventTime, gtids}.

--stop-datetime takes RFC 3339 (with or without a zone) or YYYY-MM-DD HH:MM:SS; a time without a zone is UTC. A target outside the restorable ranges (in a gap, or before or after them all) is refused (exit 3), naming the nearest restorable times.

Exit codes: 0 downloaded and checked, 1 failed (a file missing or not matching its SHA-256), 2 bad usage or configuration, 3 refused (a target outside the restorable ranges), 130 interrupted (Ctrl-C or SIGTERM; no partial file is left).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --stop-datetime 2026-04-15T09:30:00Z --dest ./binlogs',
    '<%= config.bin %> <%= command.id %> --backup orders-nightly-20260415-020000 --stop-datetime 2026-04-15T09:30:00Z --dest /pitr-binlogs',
  ];

  static override flags = {
    'stop-datetime': Flags.string({ description: 'The target time.', required: true }),
    dest: Flags.string({ description: 'Folder to download into.', required: true }),
    backup: Flags.string({
      description:
        "Download what a replay on top of this backup needs (the backup a restore loads), instead of the newest backup covering the time; refused (exit 3) when this backup's coverage does not hold the time.",
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(PitrDownload);
    this.setLogLevel(flags['log-level']);
    const target = parseTargetTime(flags['stop-datetime']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const { store, keys } = await pitrContext(loaded, flags.profile, this.logger, false);
    const kek = await keys.forReading();
    const plan = await planFromStorage(store, target, flags.backup === 'latest' ? undefined : flags.backup, this.interrupt.signal);
    this.logger.info('binlogs needed', { backup: plan.dump.entry.name, files: plan.files.length });
    await downloadBinlogs(store, plan.files, resolve(flags.dest), {
      kek,
      modes: configFileModes(loaded),
      signal: this.interrupt.signal,
      onFile: (e, path) =>
        process.stdout.write(
          JSON.stringify({ site: e.site, file: e.file, path, size: e.size, sha256: e.sha256, firstEventTime: e.firstEventTime, lastEventTime: e.lastEventTime, gtids: e.gtids }) + '\n',
        ),
    });
  }
}
