import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { renderPitrWindow } from '../cli/pitr-window-text.js';
import { renderTable } from '../cli/table.js';
import { sizeLabel, verificationLabel } from '../cli/catalog-view.js';
import { loadConfig } from '../lib/config/load.js';
import { configSource } from '../cli/config-source.js';
import { configFileModes, createProfileStore } from '../lib/deps.js';
import { writeFileAtomically } from '../lib/atomic-file.js';
import type { FileModes } from '../lib/file-modes.js';
import { AppError, StorageError } from '../lib/errors.js';
import { formatDuration } from '../lib/sizes.js';
import { describeStatus, type BackupStatus, type ProfileVerificationStatus, type Status } from '../lib/status/describe-status.js';
import { renderStatusPage } from '../lib/status/status-page.js';

export default class StatusCommand extends BaseCommand {
  static override summary = 'Show every profile\'s backups and every schedule\'s next run.';

  static override description = `Per profile: its backups (phase, name, size, duration, age, verified or not), the last success and the last failure, the newest verified backup, the last verification (its time and result, and which backup), and with a verification schedule the next verification time. Every schedule with its next run, computed with its timeZone (default Etc/UTC) and shown in UTC.

With backup.pitr configured, also the point-in-time window (as bloodraven pitr window shows it): the ranges of restorable times, with the backups they start from, and the gaps between them with their reasons.

With --json: {group, generatedAt, profiles[], schedules[], pitr}, each profile with verification: {newestVerified: {name, verifiedAt} | null, last: {backup, verifiedAt, result} | null, schedule: {schedule, timeZone, nextRun} | null}, each schedule with name, schedule, timeZone and nextRun (RFC 3339, UTC).

With --html FILE: the same status also as a web page, written to FILE (replaced whole: written beside it, then renamed; a new file gets the config's umask, 0600 by default). One self-contained HTML file, with no JavaScript and nothing fetched: the restorable window drawn as a timeline (backups as points, archived binlog coverage as bars, gaps hatched in red with their reasons), each profile's backups and verification, and the next scheduled runs. It shows what status shows, never settings or credentials. The text (or with --json the JSON) is printed as usual. The daemon serves the same page at /.

A profile whose storage cannot be read (a bucket that does not exist, a storage path that is missing or is a file) is shown with the reason, the rest as usual, and the command then exits 1 (with --json, after printing the whole document; with --html, after writing the page, which shows the reasons).

Exit codes: 0 every profile was read, 1 some storage could not be read or the --html file could not be written, 2 bad usage or configuration.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json', '<%= config.bin %> <%= command.id %> --html /var/www/backups/status.html'];

  static override flags = {
    html: Flags.string({ description: 'Also write the status as a self-contained web page (no JavaScript) to this file, replacing it whole.', helpValue: 'FILE', helpGroup: 'OUTPUT' }),
  };

  static override enableJsonFlag = true;

  async run(): Promise<Status> {
    const { flags } = await this.parse(StatusCommand);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const now = new Date();
    const status = await describeStatus(loaded.config, (p) => createProfileStore(loaded, p, this.logger), now, this.interrupt.signal);
    const json = this.jsonEnabled();
    if (!json) process.stdout.write(render(status, now));
    // After the text: a page that cannot be written does not hide the status from the terminal.
    if (flags.html !== undefined) await writePage(flags.html, renderStatusPage(status, { now }), configFileModes(loaded));
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

/** The page written for --html; a failure names the flag. */
async function writePage(file: string, page: string, modes: FileModes): Promise<void> {
  try {
    await writeFileAtomically(file, page, modes);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    throw new AppError('STATUS_PAGE_UNWRITABLE', `--html: ${err.message}`, err.exitCode, { cause: err, hint: 'give --html a file in an existing folder you can write to' });
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
