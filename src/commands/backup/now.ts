import { Errors, Flags } from '@oclif/core';
import { BaseCommand, toAppError } from '../../cli/base-command.js';
import { backupSucceededResult, ResultFile, resultFileFlag } from '../../cli/result-file.js';
import { connectionFlags, connectionOverrides } from '../../cli/connection-flags.js';
import { createProgressView, dumpProgressSpec } from '../../cli/progress.js';
import { runBackup, BackupFailedError } from '../../lib/backup/run-backup.js';
import type { BackupRecord } from '../../lib/catalog/record.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { createDeps } from '../../lib/deps.js';
import { dumpOptionsOf } from '../../lib/dump/options.js';
import { errorMessage, type AppError } from '../../lib/errors.js';
import { BackupMetrics } from '../../lib/metrics/backup-metrics.js';
import { formatBytes, formatDuration } from '../../lib/sizes.js';
import { faultHelp } from '../../cli/fault-help.js';

export default class BackupNow extends BaseCommand {
  static override summary = 'Take a full backup of the server now.';

  static override description = `Dumps every user schema of the configured MySQL or MariaDB server into the profile's storage (a folder or an S3 bucket) in MySQL Shell's instance-dump layout: a consistent snapshot (a brief global read lock while the worker sessions start), cut into chunks, dumped by parallel sessions, compressed, and streamed to storage without staging on local disk.

The lock never holds up the application's writes for more than about dump.lockWaitTimeout (--lock-wait-timeout, default 1s) at a time: it is not requested while a statement it would wait for has run longer than that, a request not granted within it is given up, and after 3 attempts the backup stops with exit 3, naming the statement that held it up (connection id, user, how long it has run, its text).

The backup is named <group>-<profile>-<UTC time>. Beside MySQL Shell's files it writes bloodraven.json, the backup record (source, coordinates, sizes, every data file's SHA-256). @.done.json is written last: a backup without it is incomplete, and its record says Failed with the reason. One failure leaves no record: the server cannot be reached and the config has no name (the group would be guessed from the address, perhaps the mistyped part).

Flags replace the profile's dump: and the mysql: settings of the config file; a bad flag value is reported under the flag. A schema given to both --include-schema and --exclude-schema (or to both lists in the file) is refused before any server is contacted.

On success the last line is BLOODRAVEN_DUMP_COMPLETE {"location","sizeBytes","gtidExecuted","binlogFile","binlogPos"} (on stdout; on stderr with --json, where stdout holds only the backup record).

With --result-file PATH the outcome is also written to PATH as one compact JSON object of at most 4096 bytes (the Kubernetes termination message limit), on every way the run ends: {"phase":"Succeeded","name","location","sizeBytes","gtidExecuted","binlogFile","binlogPos","startTime","completionTime"} (a GTID set too long to fit is cut to its first elements and "gtidExecutedTruncated":true added; the record keeps it whole), or {"phase":"Failed","name" (once the backup is named),"reason" (the error code, like CONFIG_INVALID or ABORTED),"message" (one line)}. The config can come from BLOODRAVEN_CONFIG_YAML (see --config), as in a Kubernetes Job.

Exit codes: 0 success, 1 the backup failed (the files it stored are removed; its record stays, Failed, with the reason and what could not be removed), 2 bad usage or configuration, 3 a precondition refused: the account may not take the snapshot lock (RELOAD), the lock was not taken within dump.lockWaitTimeout (a long-running statement or a session's lock holds it up; the message names it), the target folder is not empty or another run of the profile claimed the same name in the same second (the message names it; nothing is written), the accounts cannot be read (dump.users needs SELECT on mysql.*), or the server holds a partly finished in-place restore (its fence is still up). A schema selection that matches no table, or names a schema the server lacks, is bad usage (exit 2) and writes nothing. 130: interrupted (SIGINT, SIGTERM); the source's locks are released first and the record says Failed.

A full disk, a folder that is unwritable or gone, or a storage write that makes no progress for dump.storageStallTimeout (default 120s) fails the backup (exit 1) within seconds of the fault, after the source's backup lock and snapshot sessions are dropped.

${faultHelp('the source')}`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --config /etc/bloodraven.yaml --profile offsite',
    '<%= config.bin %> <%= command.id %> --socket /run/mysqld/mysqld.sock --user root --json',
  ];

  static override enableJsonFlag = true;

  static override flags = {
    ...connectionFlags,
    // Read as text and judged with the rest of the config, so every bad value is reported at once.
    threads: Flags.string({ description: 'Dump threads, 1 to 64, each with its own session to the source, reading, encoding, compressing and hashing chunks in parallel (replaces dump.threads; default 4).', helpGroup: 'DUMP' }),
    'bytes-per-chunk': Flags.string({ description: 'Uncompressed bytes per chunk, decimal units like 64M (replaces dump.bytesPerChunk).', helpGroup: 'DUMP' }),
    compression: Flags.string({ description: 'Data file compression: zstd, gzip or none (replaces dump.compression; default zstd).', helpGroup: 'DUMP' }),
    consistent: Flags.boolean({
      allowNo: true,
      description: 'Take a consistent snapshot with a brief global read lock (replaces dump.consistent; default on).',
      helpGroup: 'DUMP',
    }),
    'include-schema': Flags.string({ multiple: true, description: 'Dump only these schemas (repeatable).', helpGroup: 'DUMP' }),
    'exclude-schema': Flags.string({ multiple: true, description: 'Leave these schemas out (repeatable).', helpGroup: 'DUMP' }),
    'lock-wait-timeout': Flags.string({
      description:
        'How long the backup may hold up writes for its snapshot lock: seconds, or a duration like 500ms or 2s (replaces dump.lockWaitTimeout; default 1s). A statement running longer keeps the lock from being taken.',
      helpGroup: 'DUMP',
    }),
    pushgateway: Flags.string({ description: 'Push the backup metrics to this Prometheus Pushgateway URL when done (for CI runs).' }),
    ...resultFileFlag,
  };

  private record: BackupRecord | undefined;
  private readonly resultFile = new ResultFile(this.argv, () => (this.record ? { name: this.record.name } : {}));

  async run(): Promise<BackupRecord> {
    const { flags } = await this.parse(BackupNow);
    this.resultFile.start(flags['result-file']);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({
      ...configSource(flags.config),
      profile: flags.profile,
      overrides: {
        mysql: connectionOverrides(flags),
        dump: {
          threads: flags.threads === undefined ? undefined : /^\d+$/.test(flags.threads) ? Number(flags.threads) : flags.threads,
          bytesPerChunk: flags['bytes-per-chunk'],
          compression: flags.compression,
          consistent: flags.consistent,
          includeSchemas: flags['include-schema'],
          excludeSchemas: flags['exclude-schema'],
          lockWaitTimeout: flags['lock-wait-timeout'],
        },
      },
    });
    const json = this.jsonEnabled();
    const view = createProgressView(dumpProgressSpec, json);
    this.logSink = (entry) => view.log(entry);
    const logger = this.logger;
    if (loaded.source === null) logger.info('no bloodraven.yaml found: using local defaults (profile "local", backups in ./backups)');
    const prompt = this.passwordPrompt();
    const deps = await createDeps(loaded, { logger, ...(prompt ? { promptPassword: prompt } : {}) });
    const { profile } = loaded;

    let record: BackupRecord;
    try {
      record = await runBackup(
        deps,
        {
          group: loaded.config.name,
          profile: profile.name,
          dump: dumpOptionsOf(profile.dump),
          toolVersion: this.config.version,
          fieldName: (field) => loaded.fieldName(`backup.profiles[${loaded.config.backup.profiles.indexOf(profile)}].dump.${field}`),
          // A wrong passphrase is refused before the backup starts.
          encryption: await deps.keys.forWriting(),
        },
        {
          signal: this.interrupt.signal,
          onProgress: (p) => view.update(p),
          onStart: (r) => {
            this.record = r;
          },
        },
      );
    } catch (err) {
      if (err instanceof BackupFailedError) this.record = err.record;
      await view.finish(err);
      if (flags.pushgateway && this.record) await this.pushMetrics(flags.pushgateway, this.record);
      throw err;
    }
    await view.finish();
    if (flags.pushgateway) await this.pushMetrics(flags.pushgateway, record);

    const sentinel = {
      location: record.location,
      sizeBytes: record.sizeBytes,
      gtidExecuted: record.gtidExecuted,
      binlogFile: record.binlogFile,
      binlogPos: record.binlogPos,
    };
    const sentinelLine = `BLOODRAVEN_DUMP_COMPLETE ${JSON.stringify(sentinel)}\n`;
    if (json) {
      process.stderr.write(sentinelLine);
    } else {
      process.stdout.write(summary(record));
      process.stdout.write(sentinelLine);
    }
    await this.resultFile.succeeded(backupSucceededResult(record));
    return record;
  }

  /** Every failure, from a bad flag to an interrupt, reaches --result-file before it is shown. */
  protected override async catch(err: Parameters<BaseCommand['catch']>[0]): Promise<never> {
    if (!(err instanceof Errors.ExitError)) await this.resultFile.failed(toAppError(err));
    return super.catch(err);
  }

  /** Failing to push is reported, never turned into a failed backup. */
  private async pushMetrics(url: string, record: BackupRecord): Promise<void> {
    const metrics = new BackupMetrics();
    metrics.observe(record);
    try {
      await metrics.push(url, { group: record.group, profile: record.profile });
      this.logger.info('metrics pushed', { pushgateway: url });
    } catch (err) {
      this.logger.warn('could not push the metrics', { pushgateway: url, reason: errorMessage(err) });
    }
  }

  protected override errorDocument(err: AppError): Record<string, unknown> {
    return { ...super.errorDocument(err), record: this.record ?? null };
  }
}

function summary(r: BackupRecord): string {
  const ms = r.completedAt ? Date.parse(r.completedAt) - Date.parse(r.startedAt) : 0;
  const rows = r.tables.reduce((n, t) => n + t.rows, 0);
  const lines = [
    `Backup ${r.name} succeeded`,
    `  location    ${r.location}`,
    `  server      ${r.source.version ?? '?'} at ${r.source.target} (host ${r.source.hostname ?? '?'})`,
    `  tables      ${r.tables.length} (${rows.toLocaleString('en-US')} rows)`,
    `  size        ${formatBytes(r.dataBytes)} of data, ${formatBytes(r.sizeBytes)} stored (${r.compression})`,
    `  duration    ${formatDuration(ms)}${ms > 0 ? ` (${formatBytes(r.dataBytes / (ms / 1000))}/s)` : ''}`,
    `  snapshot    ${r.consistent ? 'consistent' : 'NOT consistent (dump.consistent: false)'}`,
    `  binlog      ${r.binlogFile ? `${r.binlogFile}:${r.binlogPos}` : 'none (binary logging off or not readable)'}`,
    `  gtid        ${r.gtidExecuted || 'none'}`,
  ];
  return lines.join('\n') + '\n';
}
