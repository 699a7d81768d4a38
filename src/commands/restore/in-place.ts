import { Flags } from '@oclif/core';
import { confirm as askToConfirm } from '@inquirer/prompts';
import { BaseCommand } from '../../cli/base-command.js';
import { connectionFlags, connectionOverrides } from '../../cli/connection-flags.js';
import { createProgressView, loadProgressSpec } from '../../cli/progress.js';
import { pointInTimeFlags, pointInTimeRequest } from '../../cli/point-in-time.js';
import { restoreSummary } from '../../cli/restore-summary.js';
import { parseConfirm } from '../../lib/catalog/confirm-token.js';
import { loadConfig } from '../../lib/config/load.js';
import { createDeps } from '../../lib/deps.js';
import { PreconditionError } from '../../lib/errors.js';
import { planRestoreInPlace, restoreInPlace, type InPlaceResult } from '../../lib/restore/restore-in-place.js';
import { sourceFromCatalog } from '../../lib/restore/source.js';

export default class RestoreInPlace extends BaseCommand {
  static override summary = 'Roll the live server back to a backup (destructive).';

  static override description = `Replaces the data of the configured (writable) server with a backup of the profile.

Without --include-schema: every user schema on the server is dropped and the backup loaded in its place. Writes from other clients are fenced off meanwhile (global read_only = 1; accounts with SUPER or READ_ONLY ADMIN are not held back) and the previous setting is put back even if the restore fails. The load does not go to the binary log: re-clone replicas afterwards.

With --include-schema S: only schema S is dropped and reloaded; other schemas keep taking writes, and the binary log carries the change to replicas.

With --stop-datetime T the backup loaded is the newest one taken before T (--backup latest) and the archived binlogs are replayed up to T afterwards, still fenced.

--confirm is the safety catch: "now", or an RFC 3339 time newer than the last one used for this profile (the catalog keeps it in the profile's storage, restore-in-place.json), so an old command run again cannot restore twice. A time more than 5 minutes ahead of this machine's clock is refused (exit 2): every later restore would have to confirm with a time after it. Without --confirm, a terminal asks, showing what will be dropped; without a terminal the command refuses (exit 3).

Exit codes: 0 restored, 1 the restore failed, 2 bad usage or configuration, 3 refused (read-only target, stale or missing confirmation, incomplete backup).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --backup latest --confirm now',
    '<%= config.bin %> <%= command.id %> --backup orders-nightly-20260416-020000 --confirm 2026-04-17T14:32:00Z',
    '<%= config.bin %> <%= command.id %> --backup latest --include-schema tenant_42 --confirm now',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    backup: Flags.string({ description: 'Backup of the profile to restore: a name, or latest.', required: true }),
    confirm: Flags.string({ description: 'now, or an RFC 3339 time newer than the last one used (and not in the future).' }),
    'include-schema': Flags.string({ description: 'Restore only this schema, leaving the others alone.' }),
    threads: Flags.integer({ description: 'Parallel load sessions. Default: the profile dump.threads.', min: 1, max: 64 }),
    ...pointInTimeFlags,
    ...connectionFlags,
  };

  async run(): Promise<InPlaceResult> {
    const { flags } = await this.parse(RestoreInPlace);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ file: flags.config, cwd: process.cwd(), profile: flags.profile, overrides: { mysql: connectionOverrides(flags) } });
    const json = this.jsonEnabled();
    const prompt = this.passwordPrompt();
    const deps = await createDeps(loaded, { logger: this.logger, ...(prompt ? { promptPassword: prompt } : {}) });
    // The passphrase and a point-in-time target are checked before anything is asked or touched.
    const kek = await deps.keys.forReading();
    const pointInTime = await pointInTimeRequest(flags, { store: deps.store, kek }, flags.backup, this.jsonEnabled(), this.interrupt.signal);
    const source = await sourceFromCatalog(deps.store, pointInTime?.plan.dump.entry.name ?? flags.backup, kek, this.interrupt.signal);
    const request = { includeSchema: flags['include-schema'], threads: flags.threads ?? loaded.profile.dump.threads };

    let confirmValue = flags.confirm;
    if (confirmValue === undefined) {
      if (!process.stdin.isTTY || !process.stderr.isTTY) {
        throw new PreconditionError('CONFIRM_REQUIRED', 'restore in-place drops data, and without a terminal it needs --confirm', {
          hint: 'pass --confirm now (or an RFC 3339 time newer than the last one used)',
        });
      }
      const plan = await planRestoreInPlace(deps, source, request);
      process.stderr.write(
        [
          `This restores ${plan.backup} into ${plan.target}.`,
          `It DROPS ${plan.drop.length === 0 ? 'nothing (the schema does not exist yet)' : `these schemas: ${plan.drop.join(', ')}`}`,
          `and loads: ${plan.load.join(', ') || '(nothing)'}.`,
          '',
        ].join('\n'),
      );
      const yes = await askToConfirm({ message: 'Go ahead?', default: false }, { output: process.stderr });
      if (!yes) throw new PreconditionError('CONFIRM_DECLINED', 'restore in-place cancelled: nothing was changed');
      confirmValue = 'now';
    }
    const confirmAt = parseConfirm(confirmValue, deps.clock.now());

    const view = createProgressView(loadProgressSpec, json);
    this.logSink = (entry) => view.log(entry);
    let result: InPlaceResult;
    try {
      result = await restoreInPlace(
        { connector: deps.connector, catalog: deps.store, logger: this.logger, clock: deps.clock },
        source,
        { ...request, confirm: confirmAt, ...(pointInTime ? { pointInTime } : {}) },
        { signal: this.interrupt.signal, onProgress: (p) => view.update(p) },
      );
    } catch (err) {
      await view.finish(err);
      throw err;
    }
    await view.finish();
    if (!json) {
      process.stdout.write(restoreSummary('Restored in place', result));
      process.stdout.write(`  dropped     ${result.dropped.join(', ') || '(nothing)'}\n  fenced      ${result.mode === 'instance' ? `${(result.fencedMs / 1000).toFixed(1)}s` : 'no (one schema)'}\n`);
    }
    return result;
  }
}
