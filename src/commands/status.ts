import { BaseCommand } from '../cli/base-command.js';
import { renderPitrWindow } from '../cli/pitr-window-text.js';
import { renderTable } from '../cli/table.js';
import { sizeLabel, verificationLabel } from '../cli/catalog-view.js';
import { loadConfig } from '../lib/config/load.js';
import { configSource } from '../cli/config-source.js';
import { createProfileStore } from '../lib/deps.js';
import { StorageError } from '../lib/errors.js';
import { formatDuration } from '../lib/sizes.js';
import { describeStatus, type BackupStatus, type ProfileVerificationStatus, type Status } from '../lib/status/describe-status.js';

export default class StatusCommand extends BaseCommand {
  static override summary = 'Show every profile\'s backups and every schedule\'s next run.';

  static override description = `Per profile: its backups (phase, name, size, duration, age, verified or not), the last success and the last failure, the newest verified backup, the last verification (its time and result, and which backup), and with a verification schedule the next verification time. Every schedule with its next run, computed with its timeZone (default Etc/UTC) and shown in UTC.

With backup.pitr configured, also the point-in-time window (as bloodraven pitr window shows it): the ranges of restorable times, with the backups they start from, and the gaps between them with their reasons.

With --json: {group, generatedAt, profiles[], schedules[], pitr}, each profile with verification: {newestVerified: {name, verifiedAt} | null, last: {backup, verifiedAt, result} | null, schedule: {schedule, timeZone, nextRun} | null}, each schedule with name, schedule, timeZone and nextRun (RFC 3339, UTC).

A profile whose storage cannot be read (a bucket that does not exist, a storage path that is missing or is a file) is shown with the reason, the rest as usual, and the command then exits 1 (with --json, after printing the whole document).

Exit codes: 0 every profile was read, 1 some storage could not be read, 2 bad usage or configuration.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  static override enableJsonFlag = true;

  async run(): Promise<Status> {
    const { flags } = await this.parse(StatusCommand);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const now = new Date();
    const status = await describeStatus(loaded.config, (p) => createProfileStore(loaded, p, this.logger), now, this.interrupt.signal);
    const json = this.jsonEnabled();
    if (!json) process.stdout.write(render(status, now));
    const failed = status.profiles.filter((p) => p.error !== null);
    const unreadable = failed.map((p) => `profile ${p.name}: ${p.error ?? ''}`);
    // The archive lives in a profile's storage: said once when that profile is unreadable anyway.
    if (status.pitr?.error && !failed.some((p) => p.name === status.pitr?.profile)) {
      unreadable.push(`the binlog archive in profile ${status.pitr.profile}: ${status.pitr.error}`);
    }
    if (unreadable.length > 0) {
      // Everything readable has been shown (with --json, the whole document); the exit code says it is not all.
      if (json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
      this.suppressJsonError = true;
      const hints = [...new Set(failed.flatMap((p) => (p.errorHint ? [p.errorHint] : [])))];
      throw new StorageError('STATUS_INCOMPLETE', `status is incomplete: some storage could not be read:\n  ${unreadable.join('\n  ')}`, {
        hint: hints.length === 1 && unreadable.length === 1 ? hints[0]! : 'fix the storage settings of the profiles named above',
      });
    }
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

/** The newest verified backup, the last verification run, and with a schedule the next one. */
function verificationLines(v: ProfileVerificationStatus, now: Date): string {
  const when = (at: string | null): string => (at ? ` (verified ${ago(Math.round((now.getTime() - Date.parse(at)) / 1000))})` : '');
  let out = `  newest verified: ${v.newestVerified ? `${v.newestVerified.name}${when(v.newestVerified.verifiedAt)}` : 'none'}\n`;
  out += `  last verification: ${v.last ? `${v.last.result === 'passed' ? 'passed' : 'FAILED'}, ${v.last.backup}, ${v.last.verifiedAt} (${ago(Math.round((now.getTime() - Date.parse(v.last.verifiedAt)) / 1000))})` : 'none yet'}\n`;
  if (v.schedule) {
    out += `  next verification: ${v.schedule.nextRun} (in ${formatDuration(Date.parse(v.schedule.nextRun) - now.getTime())}; "${v.schedule.schedule}" ${v.schedule.timeZone})\n`;
  }
  return out;
}

function render(status: Status, now: Date): string {
  let out = status.group ? `Group ${status.group}\n\n` : '';
  for (const p of status.profiles) {
    out += `Profile ${p.name} (${p.storageType} ${p.location ?? '?'})\n`;
    if (p.error) {
      out += `  cannot read its storage: ${p.error}\n${p.errorHint ? `  hint: ${p.errorHint}\n` : ''}\n`;
      continue;
    }
    if (p.backups.length === 0) out += '  no backups yet\n';
    else {
      out += renderTable(
        ['PHASE', 'NAME', 'SIZE', 'DURATION', 'AGE', 'VERIFIED'],
        p.backups.map((b) => [
          b.phase,
          b.name,
          sizeLabel(b.phase, b.sizeBytes, b.heldBytes),
          b.durationSeconds === null ? '-' : formatDuration(b.durationSeconds * 1000),
          ago(b.ageSeconds),
          verificationLabel(b.verification),
        ]),
        '  ',
      );
    }
    out += line(p.lastSuccess, 'success') + line(p.lastFailure, 'failure') + verificationLines(p.verification, now) + '\n';
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
