import { Errors, Flags } from '@oclif/core';
import { BaseCommand, toAppError } from '../cli/base-command.js';
import { ResultFile, resultFileFlag, verificationEndedResult } from '../cli/result-file.js';
import { createProgressView, loadProgressSpec } from '../cli/progress.js';
import { resolveBackup } from '../lib/catalog/catalog.js';
import { loadConfig } from '../lib/config/load.js';
import { configSource } from '../cli/config-source.js';
import { createProfileKeys, createProfileStore } from '../lib/deps.js';
import { systemClock } from '../lib/clock.js';
import { AppError, ExitCode } from '../lib/errors.js';
import { nodeProcessRunner } from '../lib/process.js';
import { formatBytes, formatDuration } from '../lib/sizes.js';
import { sandboxScratch, urlScratch } from '../lib/verify/scratch.js';
import { verificationFileName } from '../lib/catalog/names.js';
import { verifyBackup, type VerificationResult } from '../lib/verify/verify-backup.js';
import { faultHelp } from '../cli/fault-help.js';
import { verificationProblems } from '../lib/verify/scheduled.js';

export default class Verify extends BaseCommand {
  static override summary = 'Prove a backup restorable: checksums, a real restore, and a content comparison.';

  static override description = `Proves the backup holds what the source held. Checks every data file against the SHA-256 in its record and every metadata and DDL file against the SHA-256 in its @.inventory.json, restores the backup into a scratch server (a throwaway sandbox from the local mariadbd/mysqld, sized for the backup's largest row; or an existing server you name, which must not hold the backup's objects already, and keeps what was restored), checks that the scratch server then holds every object of the source's inventory, and compares every table's row count and content checksum (system-versioned tables with their history) with the ones taken at dump time. Reports the restore time and throughput (the measured recovery time) and saves the result beside the backup as ${verificationFileName}; backup list and status show it (VERIFIED yes, or FAILED).

A backup taken before bloodraven kept an inventory cannot be proven complete and fails, saying so.

While it runs, verify holds a lease on the backup (under .leases/ at the profile's root): prune leaves the backup alone until it ends. A scratch sandbox left by a verify that was killed (SIGKILL) is stopped and removed by the next bloodraven command.

With --result-file PATH the outcome is also written to PATH as one compact JSON object of at most 4096 bytes (a Kubernetes Job's termination message): {"phase":"Passed" or "Failed","backup","tables","rows","objects","bytes","restoreSeconds","mismatches":[{"object","check","expected","actual"}] (the first ones when not all fit, with "mismatchesOmitted" counting the rest),"message"} when the verification ran to the end, or {"phase":"Failed","backup" (once resolved),"reason" (the error code),"message"} when it could not. It holds names, counts and checksums, never row data.

Exit codes: 0 verified, 1 a file, object or table does not match (they are named), the restore failed, or the backup was removed while it was read (BACKUP_GONE; nothing is saved), 2 bad usage or configuration, 3 the backup is not a complete, successful one, or the --scratch server cannot take it (its settings, privileges, or objects already there; nothing is saved then), 130 interrupted (Ctrl-C or SIGTERM: the scratch sandbox is stopped and removed; nothing is saved, so the last finished verification stays what backup list shows).

${faultHelp('the scratch server')}`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --backup orders-nightly-20260416-020000 --json',
    '<%= config.bin %> <%= command.id %> --scratch mysql://verify@10.0.0.5:3306 --scratch-password-file ./verify.pw',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    backup: Flags.string({ description: 'The backup to verify: a name, or latest.', default: 'latest' }),
    scratch: Flags.string({ description: 'Where to restore: sandbox (default), or mysql://user@host:port (it must not hold the backup\'s objects; what is restored stays).', default: 'sandbox' }),
    'scratch-password-file': Flags.string({ description: 'Password of the --scratch server user.' }),
    threads: Flags.integer({ description: 'Load threads (1 to 64), each with its own session to the target. Default: the profile dump.threads.', min: 1, max: 64 }),
    ...resultFileFlag,
  };

  private backupName: string | undefined;
  private readonly resultFile = new ResultFile(this.argv, () => (this.backupName === undefined ? {} : { backup: this.backupName }));

  async run(): Promise<void> {
    const { flags } = await this.parse(Verify);
    this.resultFile.start(flags['result-file']);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const json = this.jsonEnabled();
    const view = createProgressView(loadProgressSpec, json);
    this.logSink = (entry) => view.log(entry);
    const store = await createProfileStore(loaded, loaded.profile, this.logger);
    const watch = { unresponsiveTimeoutMs: loaded.config.mysql.unresponsiveTimeout * 1000, settingName: loaded.fieldName('mysql.unresponsiveTimeout') };
    const scratch = flags.scratch === 'sandbox' ? sandboxScratch(nodeProcessRunner, [], watch) : urlScratch(flags.scratch, flags['scratch-password-file'], watch);

    let result: VerificationResult;
    try {
      const kek = await createProfileKeys(loaded, loaded.profile, store).forReading();
      const entry = await resolveBackup(store, flags.backup, { signal: this.interrupt.signal });
      this.backupName = entry.name;
      this.logger.info('verifying', { backup: entry.name, scratch: flags.scratch });
      result = await verifyBackup(
        { store, kek, logger: this.logger, clock: systemClock, scratch },
        entry,
        { threads: flags.threads ?? loaded.profile.dump.threads },
        { signal: this.interrupt.signal, onProgress: (p) => view.update(p) },
      );
    } catch (err) {
      await view.finish(err);
      throw err;
    }
    await view.finish();
    // A verification that ran to the end leaves its own result, a pass or the mismatches it found.
    await this.resultFile.succeeded(verificationEndedResult(result));
    // The result is printed here, not returned: on a mismatch it is the JSON document too.
    if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else process.stdout.write(summary(result));
    if (!result.ok) {
      const what = verificationProblems(result);
      // The JSON document has been printed; only the failure's exit code and message remain.
      this.suppressJsonError = true;
      throw new AppError('VERIFY_FAILED', `backup ${result.backup} did not verify:\n  ${what.join('\n  ')}`, ExitCode.failure);
    }
  }

  /** Every failure, from a bad flag to an interrupt, reaches --result-file before it is shown. */
  protected override async catch(err: Parameters<BaseCommand['catch']>[0]): Promise<never> {
    if (!(err instanceof Errors.ExitError)) await this.resultFile.failed(toAppError(err));
    return super.catch(err);
  }
}

function summary(r: VerificationResult): string {
  const rows = r.tables.reduce((n, t) => n + (t.actualRows ?? 0), 0);
  return [
    `Backup ${r.backup} ${r.ok ? 'verified' : 'FAILED verification'}`,
    `  files       ${r.files.checked - r.files.failed.length}/${r.files.checked} match their SHA-256`,
    r.tables.length === 0
      ? `  tables      not compared${r.files.failed.length > 0 ? ' (a file does not match its record)' : r.error ? ` (${r.error})` : ''}`
      : `  tables      ${r.tables.length - r.mismatches.length}/${r.tables.length} match rows and content (${rows.toLocaleString('en-US')} rows)`,
    ...(r.restore
      ? [`  restore     ${formatDuration(r.restore.durationMs)} for ${formatBytes(r.restore.bytes)} (${formatBytes(r.restore.bytesPerSecond)}/s) into ${r.scratch ?? '?'}`]
      : ['  restore     not done']),
    '',
  ].join('\n');
}
