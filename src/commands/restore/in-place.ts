import { pushgatewayFlag, pushRestoreMetrics } from '../../cli/push-restore-metrics.js';
import { Errors, Flags } from '@oclif/core';
import { confirm as askToConfirm } from '@inquirer/prompts';
import { BaseCommand, toAppError } from '../../cli/base-command.js';
import { connectionFlags, connectionOverrides } from '../../cli/connection-flags.js';
import { createProgressView, loadProgressSpec } from '../../cli/progress.js';
import { pointInTimeFlags, pointInTimeRequest } from '../../cli/point-in-time.js';
import { restoreSummary } from '../../cli/restore-summary.js';
import { parseConfirm } from '../../lib/catalog/confirm-token.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { createDeps, createProfileStore } from '../../lib/deps.js';
import { PreconditionError } from '../../lib/errors.js';
import { checkConfirm, planRestoreInPlace, restoreInPlace, type InPlaceResult } from '../../lib/restore/restore-in-place.js';
import { describePlan, releasePlan, summarizePlan, type PlanSummary, type RestorePlan } from '../../lib/restore/plan.js';
import { sourceFromCatalog } from '../../lib/restore/source.js';
import { faultHelp } from '../../cli/fault-help.js';
import { ResultFile, resultFileFlag } from '../../cli/result-file.js';
import { describePlanReport, inPlacePlanReport, inPlaceSucceededResult, plannedResult, type InPlacePlanReport } from '../../lib/restore/in-place-report.js';

export default class RestoreInPlace extends BaseCommand {
  static override summary = 'Roll the live server back to a backup (destructive).';

  static override description = `Replaces the data of the configured (writable) server with a backup of the profile.

Without --include-schema: every user schema on the server is dropped and the backup loaded in its place. Writes from other clients are fenced off meanwhile (global read_only = 1; accounts with SUPER or READ_ONLY ADMIN are not held back) and the previous setting is put back even if the restore fails. The load does not go to the binary log: re-clone replicas afterwards.

With --include-schema S: only schema S is dropped and reloaded; other schemas keep taking writes, and the binary log carries the change to replicas.

With --stop-datetime T the backup loaded is the newest one whose proven coverage holds T (see pitr window; a time none covers is refused, exit 3) and the archived binlogs are replayed up to T afterwards, still fenced. The binlogs are read before anything is dropped: a statement bigger than the server's max_allowed_packet is refused (exit 3), naming the binlog, its position and the size to set.

Nothing is dropped before everything is checked: every file of the backup is read and compared with the size and SHA-256 its record gives, and the target is checked (local_infile, read_only, the account's privileges for every step, max_allowed_packet against the backup's largest value, the point-in-time window). Any failed check refuses with exit 3 and leaves the server, and the confirm token, as they were. After the load, every table's row count is compared with the backup's, any warning that a value changed fails the restore, and the server must hold every object the backup's inventory lists.

--load-users creates the backup's accounts (with their grants) that the server lacks; accounts it has are left as they are. Objects whose DEFINER account is missing are named at the end.

--confirm is the safety catch: "now", or an RFC 3339 time newer than the last one used for this profile (the catalog keeps it in the profile's storage, restore-in-place.json), so an old command run again cannot restore twice. A time more than 5 minutes ahead of this machine's clock is refused (exit 2): every later restore would have to confirm with a time after it. Without --confirm, a terminal asks, showing the plan; without a terminal the command refuses (exit 3). --dry-run shows the plan, every check made, and changes nothing.

With --result-file PATH the outcome is also written to PATH as one compact JSON object of at most 4096 bytes (the Kubernetes termination message limit), however the run ends: {"phase":"Succeeded","backup","mode","dropped","rows","bytes","fencedSeconds","pointReached":{"gtidExecuted","time","binlogFile","binlogPos"}}, with --dry-run {"phase":"Planned","plan":{"backup","mode","drop","load","binlogs":[{"site","file"}],"gtidRanges","expectedBytes","fencing"}} (lists cut to fit, "omitted" counting what was left out), or {"phase":"Failed","reason" (the error code),"message"}. The config can come from BLOODRAVEN_CONFIG_YAML (see --config), as in a Kubernetes Job.

One restore at a time per server: from its checks until it ends, the restore holds a named lock on the target (GET_LOCK 'bloodraven.restore'); another restore into it meanwhile is refused (exit 3), naming the holder.

Exit codes: 0 restored and checked, 1 the restore failed, 2 bad usage or configuration, 3 refused with nothing changed (a damaged backup, read-only target, missing privilege or setting, stale or missing confirmation, incomplete backup, another restore running into the server), 130 interrupted (Ctrl-C or SIGTERM; the fence is lowered, unless --keep-fence-on-failure, and the server holds part of the backup: run the restore again with a newer --confirm).

${faultHelp('the server')}`;

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
    threads: Flags.integer({ description: 'Load threads (1 to 64), each with its own session to the target; the restore opens 3 more sessions (DDL, the restore claim, the server watch). Default: the profile dump.threads.', min: 1, max: 64 }),
    'load-users': Flags.boolean({ description: "Create the backup's accounts (and their grants) that the server lacks." }),
    'dry-run': Flags.boolean({ description: 'Check everything and show the plan; change nothing.' }),
    'keep-fence-on-failure': Flags.boolean({
      description: 'Whole instance: if the restore fails or is stopped after it began dropping, leave writes fenced off (read_only = 1) instead of putting the previous setting back; the next restore takes the fence over. Kubernetes mode uses it.',
      exclusive: ['include-schema'],
    }),
    ...pointInTimeFlags,
    ...connectionFlags,
    ...resultFileFlag,
    ...pushgatewayFlag,
  };

  private readonly resultFile = new ResultFile(this.argv);

  async run(): Promise<InPlaceResult | (PlanSummary & { plan: InPlacePlanReport })> {
    const { flags } = await this.parse(RestoreInPlace);
    this.resultFile.start(flags['result-file']);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile, overrides: { mysql: connectionOverrides(flags) } });
    const json = this.jsonEnabled();
    const prompt = this.passwordPrompt();
    const deps = await createDeps(loaded, { logger: this.logger, ...(prompt ? { promptPassword: prompt } : {}) });
    const interactive = flags.confirm === undefined && !flags['dry-run'];
    if (interactive && (!process.stdin.isTTY || !process.stderr.isTTY)) {
      throw new PreconditionError('CONFIRM_REQUIRED', 'restore in-place drops data, and without a terminal it needs --confirm', {
        hint: 'pass --confirm now (or an RFC 3339 time newer than the last one used)',
      });
    }
    // A bad or stale --confirm is found before the backup is read.
    const confirmAt = flags.confirm === undefined ? undefined : parseConfirm(flags.confirm, deps.clock.now());
    // The PITR archive's storage keeps the history too: its window must end at a whole-instance restore.
    const pitrProfile = loaded.config.backup.profiles.find((p) => p.name === loaded.config.backup.pitr?.profileName);
    const historyIn = pitrProfile && pitrProfile !== loaded.profile ? [await createProfileStore(loaded, pitrProfile, this.logger)] : [];
    const inPlaceDeps = { connector: deps.connector, catalog: deps.store, historyIn, logger: this.logger, clock: deps.clock };
    if (confirmAt && !flags['dry-run']) await checkConfirm(inPlaceDeps, confirmAt);
    // The passphrase and a point-in-time target are checked before anything is asked or touched.
    const kek = await deps.keys.forReading();
    const pointInTime = await pointInTimeRequest(flags, { store: deps.store, kek }, flags.backup, this.jsonEnabled(), this.interrupt.signal);
    const source = await sourceFromCatalog(deps.store, pointInTime?.plan.dump.entry.name ?? flags.backup, kek, this.interrupt.signal);
    const request = { includeSchema: flags['include-schema'], threads: flags.threads ?? loaded.profile.dump.threads, loadUsers: flags['load-users'] };
    this.logger.info('checking the backup and the target before anything is changed (every file is read)');
    const plan: RestorePlan = await planRestoreInPlace(inPlaceDeps, source, request, this.interrupt.signal);
    // The plan holds the target's restore claim; restoreInPlace releases it, and so does this when it is never called.
    try {
      if (flags['dry-run']) {
        const report = inPlacePlanReport(plan, pointInTime?.plan);
        if (!json) process.stdout.write(`${[...describePlan(plan), ...describePlanReport(report)].join('\n')}\nDry run: nothing was changed.\n`);
        await this.resultFile.succeeded(plannedResult(report));
        return { ...summarizePlan(plan), plan: report };
      }
      let confirm = confirmAt;
      if (confirm === undefined) {
        process.stderr.write(`${describePlan(plan).join('\n')}\n`);
        const yes = await askToConfirm({ message: `This DROPS ${plan.drop.join(', ') || 'nothing'}. Go ahead?`, default: false }, { output: process.stderr });
        if (!yes) throw new PreconditionError('CONFIRM_DECLINED', 'restore in-place cancelled: nothing was changed');
        confirm = deps.clock.now();
      }

      const view = createProgressView(loadProgressSpec, json);
      this.logSink = (entry) => view.log(entry);
      let result: InPlaceResult;
      const run = { group: loaded.config.name ?? source.record?.group ?? '', profile: source.record?.profile ?? loaded.profile.name, startedAt: new Date() };
      try {
        result = await restoreInPlace(
          inPlaceDeps,
          source,
          plan,
          { confirm, ...(pointInTime ? { pointInTime } : {}), keepFenceOnFailure: flags['keep-fence-on-failure'] },
          { signal: this.interrupt.signal, onProgress: (p) => view.update(p) },
        );
      } catch (err) {
        await view.finish(err);
        await pushRestoreMetrics(flags.pushgateway, run, false, new Date(), this.logger);
        throw err;
      }
      await view.finish();
      await pushRestoreMetrics(flags.pushgateway, run, true, new Date(), this.logger);
      if (!json) {
        process.stdout.write(restoreSummary('Restored in place', result));
        process.stdout.write(`  dropped     ${result.dropped.join(', ') || '(nothing)'}\n  fenced      ${result.mode === 'instance' ? `${(result.fencedMs / 1000).toFixed(1)}s` : 'no (one schema)'}\n`);
      }
      await this.resultFile.succeeded(inPlaceSucceededResult(result, source.record));
      return result;
    } finally {
      await releasePlan(plan);
    }
  }

  /** Every failure, from a bad flag to an interrupt, reaches --result-file before it is shown. */
  protected override async catch(err: Parameters<BaseCommand['catch']>[0]): Promise<never> {
    if (!(err instanceof Errors.ExitError)) await this.resultFile.failed(toAppError(err));
    return super.catch(err);
  }
}

