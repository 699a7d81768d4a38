import { Flags } from '@oclif/core';
import { confirm as askToConfirm } from '@inquirer/prompts';
import { BaseCommand } from '../cli/base-command.js';
import { sizeLabel } from '../cli/catalog-view.js';
import { renderTable } from '../cli/table.js';
import { loadConfig } from '../lib/config/load.js';
import { configSource } from '../cli/config-source.js';
import { createProfileStore } from '../lib/deps.js';
import { AppError, ExitCode } from '../lib/errors.js';
import { applyPrune, planPrune, type PrunePlan, type PruneResult } from '../lib/retention/prune.js';
import { formatBytes } from '../lib/sizes.js';

export interface PruneOutput extends Partial<PruneResult> {
  plan: PrunePlan;
  applied: boolean;
}

export default class Prune extends BaseCommand {
  static override summary = "Delete the backups the profile's retention policy no longer keeps.";

  static override description = `Prints the plan: every backup of the profile, kept or deleted, and why (retentionPolicy: count, maxAgeDays, minKeep, maxFailedKeep; or retention: N). Deletes only with --yes, or after a yes on a terminal; otherwise nothing changes. --dry-run prints the plan and never asks or deletes, on a terminal too.

Archived binlogs (point-in-time recovery) older than what the oldest kept backup needs are deleted with them; binlogs a kept backup needs never are.

On S3, incomplete multipart uploads under the profile's prefix (left by a write whose process died or whose abort failed: their parts are billed but never listed) are aborted: those in the folder of a backup that is no longer running, and any other older than 24 hours. Those of a running backup are left alone. A server that cannot list uploads is named ("Incomplete uploads: not checked"), and pruning goes on.

A backup that is running, or that a verify is reading (its lease), is left alone and named ("Left alone: …"); the next prune takes it up again.

A backup is deleted so that a crash midway never leaves a listed backup whose data is half gone: its record is marked Deleting first, then its data goes, then the record. A later prune finishes what an interrupted one began.

Exit codes: 0 done (or only planned), 1 some backups could not be deleted (named), or the profile's storage could not be read (a bucket that does not exist, a storage path that is missing or is a file), 2 bad usage or configuration, 130 interrupted (Ctrl-C or SIGTERM; a backup half deleted stays marked Deleting, and the next prune finishes it).`;

  static override examples = ['<%= config.bin %> <%= command.id %> --dry-run', '<%= config.bin %> <%= command.id %> --profile offsite --yes --json'];

  static override enableJsonFlag = true;

  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'Delete without asking.', exclusive: ['dry-run'] }),
    'dry-run': Flags.boolean({ description: 'Print the plan only: never ask, never delete.', exclusive: ['yes'] }),
  };

  async run(): Promise<PruneOutput> {
    const { flags } = await this.parse(Prune);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const store = await createProfileStore(loaded, loaded.profile, this.logger);
    const plan = await planPrune(store, loaded.profile.retentionPolicy, new Date(), this.interrupt.signal);
    const json = this.jsonEnabled();
    const doomed = plan.decisions.filter((d) => d.action === 'delete');
    if (!json) process.stdout.write(describePlan(loaded.profile.name, plan));
    const uploads = plan.uploads.filter((u) => u.action === 'abort');
    if (doomed.length === 0 && plan.binlogs.length === 0 && uploads.length === 0) return { plan, applied: false };
    if (flags['dry-run']) {
      if (!json) process.stdout.write('Nothing deleted (--dry-run).\n');
      return { plan, applied: false };
    }

    let go = flags.yes;
    if (!go && !json && process.stdin.isTTY && process.stderr.isTTY) {
      go = await askToConfirm(
        { message: `Delete ${doomed.length} backup(s) and ${plan.binlogs.length} archived binlog(s)${uploads.length > 0 ? `, and abort ${uploads.length} incomplete upload(s)` : ''}?`, default: false },
        { output: process.stderr },
      );
    }
    if (!go) {
      if (!json) process.stdout.write('Nothing deleted: pass --yes to delete.\n');
      return { plan, applied: false };
    }
    const result = await applyPrune(store, plan, { signal: this.interrupt.signal, logger: this.logger });
    if (!json) process.stdout.write(`Deleted ${result.deleted.length} backup(s) and ${result.deletedBinlogs.length} archived binlog(s).\n`);
    if (!json && result.abortedUploads.length > 0) process.stdout.write(`Aborted ${result.abortedUploads.length} incomplete upload(s).\n`);
    if (!json) for (const s of result.skipped) process.stdout.write(`Left alone: ${s.name}: ${s.reason}.\n`);
    if (result.failed.length > 0) {
      const out: PruneOutput = { ...result, applied: true };
      if (json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      this.suppressJsonError = true;
      throw new AppError('PRUNE_INCOMPLETE', `${result.failed.length} backup(s) could not be deleted:\n  ${result.failed.map((f) => `${f.name}: ${f.error}`).join('\n  ')}`, ExitCode.failure, {
        hint: 'run prune again; what an interrupted deletion began is finished then',
      });
    }
    return { ...result, applied: true };
  }
}

function describeBinlogs(plan: PrunePlan): string {
  if (plan.binlogs.length === 0) return '';
  return (
    `Archived binlogs no kept backup needs (${plan.binlogs.length}, ${formatBytes(plan.binlogs.reduce((n, b) => n + b.size, 0))}):\n` +
    renderTable(
      ['ACTION', 'SITE', 'FILE', 'WHY'],
      plan.binlogs.map((b) => ['delete', b.site, b.file, b.reason]),
    )
  );
}

function describeUploads(plan: PrunePlan): string {
  if (plan.uploadsError !== null) return `Incomplete uploads: not checked: ${plan.uploadsError}\n`;
  if (plan.uploads.length === 0) return '';
  return (
    `Incomplete uploads under the profile's prefix (${plan.uploads.length}):\n` +
    renderTable(
      ['ACTION', 'KEY', 'BEGUN', 'WHY'],
      plan.uploads.map((u) => [u.action, u.key, u.initiated, u.reason]),
    )
  );
}

function describePlan(profile: string, plan: PrunePlan): string {
  const header = `Retention of profile ${profile} (${plan.location}): ${
    plan.policy
      ? `count ${plan.policy.count}, maxAgeDays ${plan.policy.maxAgeDays}, minKeep ${plan.policy.minKeep}, maxFailedKeep ${plan.policy.maxFailedKeep}`
      : 'no policy, everything is kept'
  }\n`;
  if (plan.decisions.length === 0) return `${header}No backups.\n${describeBinlogs(plan)}${describeUploads(plan)}`;
  return (
    header +
    renderTable(
      ['ACTION', 'NAME', 'PHASE', 'SIZE', 'WHY'],
      plan.decisions.map((d) => [d.action, d.name, d.phase, sizeLabel(d.phase, d.sizeBytes, d.heldBytes), d.reasons.join('; ')]),
    ) +
    describeBinlogs(plan) +
    describeUploads(plan)
  );
}
