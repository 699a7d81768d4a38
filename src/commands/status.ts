import { BaseCommand } from '../cli/base-command.js';
import { renderPitrWindow } from '../cli/pitr-window-text.js';
import { renderTable } from '../cli/table.js';
import { loadConfig } from '../lib/config/load.js';
import { createProfileStore } from '../lib/deps.js';
import { formatBytes, formatDuration } from '../lib/sizes.js';
import { describeStatus, type BackupStatus, type Status } from '../lib/status/describe-status.js';

export default class StatusCommand extends BaseCommand {
  static override summary = 'Show every profile\'s backups and every schedule\'s next run.';

  static override description = `Per profile: its backups (phase, name, size, duration, age, verified or not), the last success and the last failure. Every schedule with its next run, computed with its timeZone (default Etc/UTC) and shown in UTC.

With backup.pitr configured, also the point-in-time window (as bloodraven pitr window shows it): the ranges of restorable times, with the backups they start from, and the gaps between them with their reasons.

With --json: {group, generatedAt, profiles[], schedules[], pitr}, each schedule with name, schedule, timeZone and nextRun (RFC 3339, UTC).`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  static override enableJsonFlag = true;

  async run(): Promise<Status> {
    const { flags } = await this.parse(StatusCommand);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ file: flags.config, cwd: process.cwd(), profile: flags.profile });
    const now = new Date();
    const status = await describeStatus(loaded.config, (p) => createProfileStore(loaded, p, this.logger), now, this.interrupt.signal);
    if (!this.jsonEnabled()) process.stdout.write(render(status, now));
    return status;
  }
}

function ago(seconds: number): string {
  return `${formatDuration(seconds * 1000)} ago`;
}

function line(b: BackupStatus | null, what: string): string {
  if (!b) return `  last ${what}: none\n`;
  return `  last ${what}: ${b.name} (${ago(b.ageSeconds)})${b.failure ? `: ${b.failure}` : ''}\n`;
}

function render(status: Status, now: Date): string {
  let out = status.group ? `Group ${status.group}\n\n` : '';
  for (const p of status.profiles) {
    out += `Profile ${p.name} (${p.storageType} ${p.location ?? '?'})\n`;
    if (p.error) {
      out += `  cannot read its storage: ${p.error}\n\n`;
      continue;
    }
    if (p.backups.length === 0) out += '  no backups yet\n';
    else {
      out += renderTable(
        ['PHASE', 'NAME', 'SIZE', 'DURATION', 'AGE', 'VERIFIED'],
        p.backups.map((b) => [
          b.phase,
          b.name,
          b.sizeBytes > 0 ? formatBytes(b.sizeBytes) : '-',
          b.durationSeconds === null ? '-' : formatDuration(b.durationSeconds * 1000),
          ago(b.ageSeconds),
          b.verified ? 'yes' : 'no',
        ]),
        '  ',
      );
    }
    out += line(p.lastSuccess, 'success') + line(p.lastFailure, 'failure') + '\n';
  }
  if (status.schedules.length > 0) {
    out += 'Schedules\n';
    out += renderTable(
      ['NAME', 'PROFILE', 'SCHEDULE', 'TIME ZONE', 'NEXT RUN (UTC)', 'IN'],
      status.schedules.map((s) => [s.name, s.profileName, s.schedule, s.timeZone, s.nextRun, formatDuration(Date.parse(s.nextRun) - now.getTime())]),
      '  ',
    );
  } else out += 'No schedules.\n';
  if (status.pitr) {
    const w = status.pitr;
    out += `\nPoint-in-time recovery (archive in profile ${w.profile})\n`;
    out += w.error ? `  cannot read the archive: ${w.error}\n` : renderPitrWindow(w, '  ');
  }
  return out;
}
