import { watch } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { runDaemon } from '../daemon/daemon.js';
import { systemClock } from '../lib/clock.js';
import { loadConfig } from '../lib/config/load.js';
import { configSource } from '../cli/config-source.js';
import { createConnector, createProfileKeys, createProfileStore } from '../lib/deps.js';
import { BackupMetrics } from '../lib/metrics/backup-metrics.js';
import { nodeProcessRunner } from '../lib/process.js';

export default class Daemon extends BaseCommand {
  static override summary = 'Run the schedules of a config file: backups, retries, pruning, metrics.';

  static override description = `Runs every backup.schedules entry of the config file at its cron times (read in its timeZone, default Etc/UTC). A schedule never overlaps itself: times that pass while its previous run goes on are skipped. A failed scheduled backup is retried (backup.retry: maxAttempts, initialBackoffSeconds, maxBackoffSeconds; the Nth retry waits initial × 2^(N−1) seconds after the failure, capped), each retry a fresh attempt with its own record. After each success the profile is pruned by its retention policy.

Serves Prometheus metrics on /metrics (bloodraven_backup_runs_total{result}, bloodraven_backup_duration_seconds, bloodraven_backup_last_success_timestamp_seconds, bloodraven_backup_last_attempt_timestamp_seconds, bloodraven_backup_last_size_bytes; labelled group and profile) and /healthz. The metrics are seeded from the catalog at start, so a restart neither loses nor re-counts a backup.

With backup.pitr.enabled, it also archives the server's sealed binlogs (as pitr archive does) and reports on /archiver/status: {enabled, primary, lastScanAt, filesArchived, lastError, storageType, manifestPrefix, site}.

On SIGTERM (or Ctrl-C) it stops taking work, lets a running backup finish within --grace-seconds (after that it is interrupted and recorded as Failed), and exits 0.`;

  static override examples = ['<%= config.bin %> <%= command.id %> --config /etc/bloodraven.yaml', '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:9464 --grace-seconds 120'];

  static override flags = {
    listen: Flags.string({ description: 'HOST:PORT for /metrics and /healthz (":9464" for every interface).', default: '127.0.0.1:9464' }),
    'grace-seconds': Flags.integer({ description: 'How long a running backup may go on after SIGTERM.', default: 30, min: 0 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    // A daemon runs unattended: the account comes from files, never a prompt.
    const connector = await createConnector(loaded);
    const stores = new Map<string, ReturnType<typeof createProfileStore>>();
    const keyring = new Map<string, ReturnType<typeof createProfileKeys>>();
    await runDaemon(
      {
        config: loaded.config,
        connector,
        storeFor: (profile) => {
          let store = stores.get(profile.name);
          if (!store) stores.set(profile.name, (store = createProfileStore(loaded, profile, this.logger)));
          return store;
        },
        keysFor: async (profile) => {
          let store = stores.get(profile.name);
          if (!store) stores.set(profile.name, (store = createProfileStore(loaded, profile, this.logger)));
          let keys = keyring.get(profile.name);
          if (!keys) keyring.set(profile.name, (keys = createProfileKeys(loaded, profile, await store)));
          return keys;
        },
        clock: systemClock,
        logger: this.logger,
        metrics: new BackupMetrics(),
        toolVersion: this.config.version,
        runner: nodeProcessRunner,
        watch: (path, onChange) => {
          const watcher = watch(path, () => onChange());
          watcher.on('error', () => undefined);
          return () => watcher.close();
        },
      },
      { listen: flags.listen, graceMs: flags['grace-seconds'] * 1000 },
      this.interrupt.signal,
    );
  }
}
