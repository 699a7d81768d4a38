import { BaseCommand } from '../../cli/base-command.js';
import { pitrContext } from '../../cli/pitr-context.js';
import { listBackups } from '../../lib/catalog/catalog.js';
import { loadConfig } from '../../lib/config/load.js';
import { readAllManifests } from '../../lib/pitr/manifest.js';
import { computeWindow, type PitrWindow } from '../../lib/pitr/window.js';

export default class PitrWindowCommand extends BaseCommand {
  static override summary = 'Show the range of times a point-in-time restore can reach.';

  static override description = `Computed from storage alone: from the oldest complete backup's snapshot to the last archived binlog event, with every gap (transactions missing from the archive: a binlog never archived, a failover whose new primary does not carry on from the old one). A restore to a time in a gap, or across one, is refused.

With --json: {from, to, gaps[{from, to, reason}], reason, sites, files}, times in RFC 3339.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  static override enableJsonFlag = true;

  async run(): Promise<PitrWindow> {
    const { flags } = await this.parse(PitrWindowCommand);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ file: flags.config, cwd: process.cwd(), profile: flags.profile });
    const { store } = await pitrContext(loaded, flags.profile, this.logger, false);
    const window = computeWindow(await listBackups(store, { signal: this.interrupt.signal }), await readAllManifests(store, this.interrupt.signal));
    if (!this.jsonEnabled()) {
      if (!window.from) process.stdout.write(`Nothing is restorable: ${window.reason ?? 'unknown'}\n`);
      else {
        process.stdout.write(`Restorable from ${window.from} to ${window.to ?? window.from} (${window.files} archived binlogs from ${window.sites.length} site(s): ${window.sites.join(', ') || 'none'})\n`);
        for (const g of window.gaps) process.stdout.write(`  gap from ${g.from ?? '?'} to ${g.to ?? '?'}: ${g.reason}\n`);
      }
    }
    return window;
  }
}
