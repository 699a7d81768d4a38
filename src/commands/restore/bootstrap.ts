import { Errors, Flags } from '@oclif/core';
import { BaseCommand, toAppError } from '../../cli/base-command.js';
import { ResultFile, resultFileFlag } from '../../cli/result-file.js';
import { connectionFlags, connectionOverrides } from '../../cli/connection-flags.js';
import { createProgressView, loadProgressSpec } from '../../cli/progress.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { assertSchemaFlagsAgree } from '../../lib/config/schema.js';
import { createDeps, configFileModes } from '../../lib/deps.js';
import { restoreBootstrap, type RestoreResult } from '../../lib/restore/restore-bootstrap.js';
import { pushgatewayFlag, pushRestoreMetrics } from '../../cli/push-restore-metrics.js';
import { parseFrom, sourceFromCatalog, sourceFromStore, storageForFrom, type RestoreSource } from '../../lib/restore/source.js';
import { createStore } from '../../lib/storage/create-store.js';
import { pointInTimeFlags, pointInTimeRequest } from '../../cli/point-in-time.js';
import { restoreSummary } from '../../cli/restore-summary.js';
import type { PointInTimeRequest } from '../../lib/pitr/point-in-time.js';
import type { LoadOptions } from '../../lib/load/load-plan.js';
import { describePlan, planRestore, releasePlan, summarizePlan, type PlanSummary } from '../../lib/restore/plan.js';
import { faultHelp } from '../../cli/fault-help.js';
import { bootstrapSucceededResult } from '../../cli/restore-result.js';

export default class RestoreBootstrap extends BaseCommand {
  static override summary = 'Load a backup into the configured server.';

  static override description = `Restores a bloodraven backup of the profile (--backup NAME or latest), or any dump in MySQL Shell's layout (--from a folder or s3://bucket/prefix), into the configured server: schemas, tables, views, routines, then the data by parallel LOAD DATA LOCAL INFILE streamed from storage, secondary indexes built after the data, then triggers and events.

A dump without @.done.json (incomplete) is refused. If the server already holds objects the dump would create, the restore lists them and exits 3, unless --ignore-existing-objects; an existing schema without such objects is fine.

Before anything is created, the plan checks the dump (complete, every data file present with the size its record gives), the target (local_infile, the account's privileges for every step, max_allowed_packet against the dump's largest value, objects in the way) and any earlier progress; a failed check refuses with exit 3 and changes nothing (--dry-run shows the plan and the checks). While loading, every data file's SHA-256 is compared with the record as it streams, a warning that a value changed fails the restore, and afterwards every table's row count and the inventory of objects are compared with the dump's.

Progress is recorded beside the dump (load-progress.<server>.json): a restore that is interrupted and run again finishes without duplicated or missing rows. Resuming is refused when the server does not hold what the earlier run did (it was rebuilt), and running a finished restore again is refused; --reset-progress starts over.

--load-users creates the dump's accounts (with their grants) that the server lacks, as MySQL Shell's loadUsers; accounts it has are left as they are. Objects whose DEFINER account is missing are named at the end.

With --stop-datetime T: the newest complete backup whose proven coverage holds T is loaded (or --backup, if its coverage holds T; see pitr window), then the archived binlogs are replayed up to T (pitr archive), each transaction once, leaving out --exclude-gtids. A target no backup covers is refused before anything is touched (exit 3), naming the nearest restorable times; so is a binlog statement bigger than the target's max_allowed_packet (the binlogs are read before the load), naming the binlog, its position and the size to set. Lines BLOODRAVEN_PITR_START, then _COMPLETE, _NOOP or _FAILED report the replay.

One restore at a time per server: the restore holds a named lock on the target (GET_LOCK 'bloodraven.restore', on a connection of its own) from its checks until it ends, and names itself in the progress file. A restore started while another one holds it is refused with exit 3, naming the holder's connection (and its process and host, from the progress file); a killed restore's lock ends with its connection.

With --result-file PATH the outcome is also written to PATH as one compact JSON object of at most 4096 bytes (for a Kubernetes Job: /dev/termination-log), however the run ends: {"phase":"Succeeded","backup","rows","bytes","tables","pointReached":{"gtidExecuted","time","binlogFile","binlogPos"}} (the replay's end for --stop-datetime, else the backup's capture point; a GTID set too long to fit is cut and "gtidExecutedTruncated":true added), or {"phase":"Failed","reason" (the error code),"message"}. A dry run writes nothing there.

With --binlogs-dir DIR the replay reads the binlogs bloodraven pitr download --backup NAME put in DIR instead of fetching them, each checked against the archive's manifest first.

When the --from folder cannot be written (a read-only mount), no progress file is kept: a log line says so, and an interrupted restore cannot resume (the target must be emptied first).

The target needs local_infile=ON. Exit codes: 0 restored, 1 the restore failed, 2 bad usage or configuration (a schema both included and excluded, too), 3 a precondition refused (incomplete dump, a named backup that failed or never finished, existing objects, local_infile off, another restore running into the server), 130 interrupted (Ctrl-C or SIGTERM; running it again resumes the load, and a point-in-time replay that had begun resumes after the last transaction the target committed, as its GTID state shows: this needs the target's binary log on and no --skip-binlog, otherwise the rerun is refused and the target must be emptied).

${faultHelp('the target')}`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --backup latest',
    '<%= config.bin %> <%= command.id %> --backup orders-nightly-20260416-020000 --include-schema tenant_42',
    '<%= config.bin %> <%= command.id %> --from ./mysqlsh-dump --exclude-schema legacy',
    '<%= config.bin %> <%= command.id %> --from s3://my-backups/orders/orders-nightly-20260416-020000 --json',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    backup: Flags.string({ description: 'Backup of the profile to restore: a name, or latest (the default).', exclusive: ['from'], helpGroup: 'SOURCE' }),
    from: Flags.string({ description: 'A dump elsewhere: a folder, or s3://bucket/prefix.', exclusive: ['backup', 'stop-datetime'], helpGroup: 'SOURCE' }),
    'include-schema': Flags.string({ multiple: true, description: 'Load only these schemas (repeatable).', helpGroup: 'LOAD' }),
    'exclude-schema': Flags.string({ multiple: true, description: 'Leave these schemas out (repeatable).', helpGroup: 'LOAD' }),
    threads: Flags.integer({ description: 'Load threads (1 to 64), each with its own session to the target; the restore opens 3 more sessions (DDL, the restore claim, the server watch). Default: the profile dump.threads.', min: 1, max: 64, helpGroup: 'LOAD' }),
    'ignore-existing-objects': Flags.boolean({ description: 'Load into objects that already exist instead of refusing.', helpGroup: 'LOAD' }),
    'skip-binlog': Flags.boolean({ description: 'Do not write the load to the binary log (SET sql_log_bin = 0).', helpGroup: 'LOAD' }),
    'reset-progress': Flags.boolean({ description: "Start over: ignore an earlier restore's progress (needed to load a dump again that was loaded completely).", helpGroup: 'LOAD' }),
    'load-users': Flags.boolean({ description: "Create the dump's accounts (with their grants) that the server lacks.", helpGroup: 'LOAD' }),
    'dry-run': Flags.boolean({ description: 'Check everything and show the plan; change nothing.', helpGroup: 'LOAD' }),
    ...pointInTimeFlags,
    ...connectionFlags,
    ...resultFileFlag,
    ...pushgatewayFlag,
  };

  private readonly resultFile = new ResultFile(this.argv);

  async run(): Promise<RestoreResult | PlanSummary> {
    const { flags } = await this.parse(RestoreBootstrap);
    this.resultFile.start(flags['result-file']);
    this.setLogLevel(flags['log-level']);
    assertSchemaFlagsAgree(flags['include-schema'], flags['exclude-schema']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile, overrides: { mysql: connectionOverrides(flags) } });
    const json = this.jsonEnabled();
    const view = createProgressView(loadProgressSpec, json);
    this.logSink = (entry) => view.log(entry);
    const prompt = this.passwordPrompt();
    const deps = await createDeps(loaded, { logger: this.logger, ...(prompt ? { promptPassword: prompt } : {}) });

    let result: RestoreResult;
    const startedAt = new Date();
    // Labels known once the source is: the config's group, else the backup's own.
    let run: { group: string; profile: string } | undefined;
    try {
      // A wrong passphrase is refused here, before the target is touched.
      const kek = await deps.keys.forReading();
      let source: RestoreSource;
      let pointInTime: PointInTimeRequest | undefined;
      if (flags.from !== undefined) {
        const from = parseFrom(flags.from, process.cwd());
        // The load's progress file is written beside the dump: with the configured modes.
        const store = await createStore(storageForFrom(from, loaded.profile.storage), { configDir: process.cwd(), logger: this.logger, configPath: '--from', modes: configFileModes(loaded) });
        source = await sourceFromStore(store, flags.from, kek);
      } else {
        pointInTime = await pointInTimeRequest(flags, { store: deps.store, kek }, flags.backup, json, this.interrupt.signal);
        source = await sourceFromCatalog(deps.store, pointInTime?.plan.dump.entry.name ?? flags.backup ?? 'latest', kek, this.interrupt.signal);
      }
      const options: LoadOptions = {
        threads: flags.threads ?? loaded.profile.dump.threads,
        includeSchemas: flags['include-schema'] ?? [],
        excludeSchemas: flags['exclude-schema'] ?? [],
        ignoreExistingObjects: flags['ignore-existing-objects'],
        skipBinlog: flags['skip-binlog'],
        deferIndexes: 'all',
        resume: true,
        resetProgress: flags['reset-progress'],
        loadUsers: flags['load-users'],
      };
      if (flags['dry-run']) {
        const plan = await planRestore(deps, source, { mode: 'bootstrap', load: options, verifyFiles: false }, this.interrupt.signal);
        await releasePlan(plan);
        await view.finish();
        if (!json) process.stdout.write(`${describePlan(plan).join('\n')}\nDry run: nothing was changed.\n`);
        return summarizePlan(plan);
      }
      run = { group: loaded.config.name ?? source.record?.group ?? '', profile: source.record?.profile ?? loaded.profile.name };
      result = await restoreBootstrap(deps, source, options, { signal: this.interrupt.signal, onProgress: (p) => view.update(p) }, pointInTime);
    } catch (err) {
      await view.finish(err);
      if (run) await pushRestoreMetrics(flags.pushgateway, { ...run, startedAt }, false, new Date(), this.logger);
      throw err;
    }
    await view.finish();
    await pushRestoreMetrics(flags.pushgateway, { ...run, startedAt }, true, new Date(), this.logger);
    if (!json) process.stdout.write(restoreSummary('Restored', result));
    await this.resultFile.succeeded(bootstrapSucceededResult(result));
    return result;
  }

  /** Every failure, from a bad flag to an interrupt, reaches --result-file before it is shown. */
  protected override async catch(err: Parameters<BaseCommand['catch']>[0]): Promise<never> {
    if (!(err instanceof Errors.ExitError)) await this.resultFile.failed(toAppError(err));
    return super.catch(err);
  }
}
