import { Args, Errors, Flags } from '@oclif/core';
import { confirm as askToConfirm } from '@inquirer/prompts';
import { BaseCommand, toAppError } from '../../cli/base-command.js';
import { configSource } from '../../cli/config-source.js';
import { ResultFile, resultFileFlag } from '../../cli/result-file.js';
import { assertPlainBackupName, deleteStoredBackup, type DeleteBackupResult } from '../../lib/catalog/delete-backup.js';
import { loadConfig } from '../../lib/config/load.js';
import { createProfileStore } from '../../lib/deps.js';
import { AppError, ExitCode } from '../../lib/errors.js';
import { formatBytes } from '../../lib/sizes.js';

export interface BackupDeleteOutput extends DeleteBackupResult {
  /** False when a person declined at the prompt: nothing was done. */
  confirmed: boolean;
}

export default class BackupDelete extends BaseCommand {
  static override summary = "Delete one stored backup: all its files, record included, from the profile's storage.";

  static override description = `Removes the backup NAME (as \`backup list\` shows it) from the storage of the profile (--profile): every object in its folder, its record bloodraven.json last, in the order prune uses, so that a deletion cut short leaves a backup marked Deleting that no restore offers and that the next delete or prune finishes.

NAME must be a plain backup name: not empty, no "/" or "\\", no "..", not starting with "." . Anything else is refused (exit 2) before the storage is touched, so nothing outside the profile's root, and nothing that is not a backup (archived binlogs, readers' leases), can be deleted. A name the profile holds no backup of counts as done: exit 0, saying it is already gone (a Kubernetes cleanup Job run twice succeeds twice).

The rules of prune apply: a backup that is still running (its heartbeat is fresh) or that a verify or a restore is reading (a live lease) is not deleted (exit 3, naming which); there is no flag to override them. Archived binlogs are left to prune.

Asks before deleting on a terminal; without a terminal (scripts, Kubernetes Jobs) --yes is required.

With --result-file PATH the outcome is written to PATH as one JSON object of at most 4096 bytes: {"phase":"Succeeded","name","location","deleted","alreadyGone"} or {"phase":"Failed","name","deleted":false,"alreadyGone":false,"reason" (the error code),"message"}. The config can come from BLOODRAVEN_CONFIG_YAML (see --config).

Exit codes: 0 deleted, already gone, or declined at the prompt; 1 the storage could not be read or the deletion failed midway (run it again to finish); 2 bad usage or configuration, a NAME that is not a plain backup name, or no --yes without a terminal; 3 the backup is running or being read; 130 interrupted.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> shop-local-20261130-064500',
    '<%= config.bin %> <%= command.id %> shop-offsite-20261130-064500 --profile offsite --yes --result-file /dev/termination-log',
  ];

  static override enableJsonFlag = true;

  static override args = {
    name: Args.string({ description: 'The backup to delete, as `backup list` shows it.', required: true }),
  };

  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'Delete without asking (required without a terminal).' }),
    ...resultFileFlag,
  };

  private name: string | undefined;
  private readonly resultFile = new ResultFile(this.argv, () => ({ ...(this.name === undefined ? {} : { name: this.name }), deleted: false, alreadyGone: false }));

  async run(): Promise<BackupDeleteOutput> {
    const { args, flags } = await this.parse(BackupDelete);
    this.resultFile.start(flags['result-file']);
    this.name = args.name;
    this.setLogLevel(flags['log-level']);
    // Before anything is read: a name that could reach outside the profile's root is never used.
    assertPlainBackupName(args.name);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const store = await createProfileStore(loaded, loaded.profile, this.logger);
    const json = this.jsonEnabled();

    if (!flags.yes) {
      if (json || !process.stdin.isTTY || !process.stderr.isTTY) {
        throw new AppError('CONFIRMATION_REQUIRED', `backup delete ${args.name} needs --yes when it cannot ask (no terminal, or --json)`, ExitCode.usage, {
          hint: 'pass --yes to delete without asking; nothing was deleted',
        });
      }
      const go = await askToConfirm({ message: `Delete backup ${args.name} from ${store.location} (profile ${loaded.profile.name}), all its files?`, default: false }, { output: process.stderr });
      if (!go) {
        process.stdout.write('Nothing deleted.\n');
        const declined: BackupDeleteOutput = { name: args.name, location: `${store.location}/${args.name}`, deleted: false, alreadyGone: false, phase: null, freedBytes: 0, confirmed: false };
        await this.resultFile.succeeded({ phase: 'Succeeded', name: declined.name, location: declined.location, deleted: false, alreadyGone: false });
        return declined;
      }
    }

    const result = await deleteStoredBackup(store, args.name, { logger: this.logger, signal: this.interrupt.signal });
    if (!json) {
      process.stdout.write(
        result.alreadyGone
          ? `Backup ${result.name} is not in ${store.location}: already gone, nothing to delete.\n`
          : `Deleted backup ${result.name} (${result.location}), ${formatBytes(result.freedBytes)} freed.\n`,
      );
    }
    await this.resultFile.succeeded({ phase: 'Succeeded', name: result.name, location: result.location, deleted: result.deleted, alreadyGone: result.alreadyGone });
    return { ...result, confirmed: true };
  }

  /** Every failure, from a bad flag to an interrupt, reaches --result-file before it is shown. */
  protected override async catch(err: Parameters<BaseCommand['catch']>[0]): Promise<never> {
    if (!(err instanceof Errors.ExitError)) await this.resultFile.failed(toAppError(err));
    return super.catch(err);
  }
}
