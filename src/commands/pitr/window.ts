import { BaseCommand } from '../../cli/base-command.js';
import { pitrContext } from '../../cli/pitr-context.js';
import { renderPitrWindow } from '../../cli/pitr-window-text.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { windowFromStorage } from '../../lib/pitr/point-in-time.js';
import type { PitrWindow } from '../../lib/pitr/window.js';

export default class PitrWindowCommand extends BaseCommand {
  static override summary = 'Show the times a point-in-time restore can reach, and the gaps.';

  static override description = `Computed from storage alone. Only proven times count: each complete backup's snapshot, and after it the span that the archived binlogs cover without a hole in its GTID position (per MariaDB domain or MySQL source UUID, across sites after a failover), up to their last event. A transaction the archive lacks (a binlog never archived, a failover whose new primary does not carry on from the old one, or one a later backup holds) ends that span at the last archived event before it. Two backups holding the same transactions prove the span between them empty, archive or not.

Times outside these ranges (the gaps, each shown with its reason) are refused by a restore (exit 3).

With --json: {from, to, ranges[{from, to, backups}], gaps[{from, to, reason}], reason, sites, files}, times in RFC 3339; a range whose from equals its to is a snapshot alone, a gap whose to is null has no range after it.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  static override enableJsonFlag = true;

  async run(): Promise<PitrWindow> {
    const { flags } = await this.parse(PitrWindowCommand);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const { store } = await pitrContext(loaded, flags.profile, this.logger, false);
    const window = await windowFromStorage(store, { signal: this.interrupt.signal });
    if (!this.jsonEnabled()) process.stdout.write(renderPitrWindow(window, ''));
    return window;
  }
}
