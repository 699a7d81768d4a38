import { watch } from 'node:fs';
import { hostname } from 'node:os';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { runDaemon } from '../daemon/daemon.js';
import { probeSite } from '../lib/kube/source-selection.js';
import { createMysqlConnector } from '../lib/mysql/connection.js';
import { systemClock } from '../lib/clock.js';
import { loadConfig } from '../lib/config/load.js';
import { configSource } from '../cli/config-source.js';
import { createConnector, createProfileKeys, createProfileStore } from '../lib/deps.js';
import { BackupMetrics } from '../lib/metrics/backup-metrics.js';
import { nodeProcessRunner } from '../lib/process.js';

export default class Daemon extends BaseCommand {
  static override summary = 'Run the schedules of a config file (backups, retries, pruning, verification, metrics), or with --kubernetes the controller of Kubernetes mode.';

  static override description = `Runs every backup.schedules entry of the config file at its cron times (read in its timeZone, default Etc/UTC). A schedule never overlaps itself: times that pass while its previous run goes on are skipped. A failed scheduled backup is retried (backup.retry: maxAttempts, initialBackoffSeconds, maxBackoffSeconds; the Nth retry waits initial × 2^(N−1) seconds after the failure, capped), each retry a fresh attempt with its own record. After each success the profile is pruned by its retention policy.

Serves Prometheus metrics on /metrics, labelled group and profile: the backups' (bloodraven_backup_*), the verifications' (bloodraven_verification_*), retention's (bloodraven_retention_deleted_*), and with backup.pitr the archiver's (bloodraven_pitr_archiver_*, its lag among them) and the restorable window's (bloodraven_pitr_window_*); the README's Metrics section lists them all. Also /healthz, /archiver/status with backup.pitr, and the status page at / (as status --html writes it, read from storage at most every 10 s; read-only, no JavaScript). The backup counters and the gauges are seeded from storage at start, so a restart neither loses nor re-counts a backup.

Each profile with verification: {schedule, timeZone, threads} is verified on that schedule: the newest Succeeded backup is restored into a throwaway sandbox and proven as verify does, and the result saved beside it (backup list and status show it). A time is skipped, and logged, when there is no Succeeded backup or the newest one already passed a verification; the outcome (passed, or failed naming the tables and files) is logged and counted in bloodraven_verification_runs_total{result}, bloodraven_verification_last_success_timestamp_seconds and bloodraven_verification_restore_seconds; /healthz lists each profile's next verification time and last outcome under verifications.

With backup.pitr.enabled, it also archives the server's sealed binlogs (as pitr archive does) and reports on /archiver/status: {enabled, primary, lastScanAt, filesArchived, lastError, storageType, manifestPrefix, site}.

On SIGTERM (or Ctrl-C) it stops taking work, lets a running backup finish within --grace-seconds (after that it is interrupted and recorded as Failed), interrupts a running verification at once (its sandbox removed, nothing saved), and exits 0.

With --kubernetes it is instead the controller of Kubernetes mode (no config file): it reconciles MysqlFailoverGroup and MysqlBackup resources (crds/) in every namespace (or --namespace), with a CronJob per schedule and a Job per backup and per cleanup, and writes their results, conditions and events back. It reads the cluster from KUBECONFIG, else the in-cluster ServiceAccount. Of several replicas only the holder of the Lease --lease-name (in POD_NAMESPACE) acts; the others stand by with warm caches and take over within the lease duration. It serves /metrics (backups, restores, retention and verification, labelled namespace, group, profile), the status page at / (one per group: /?group=NAMESPACE/NAME), /healthz, /readyz and /pitr-cutoff?namespace=&group=&profile= (the oldest completion time among the profile's retained successful backups). SIGTERM releases the Lease and exits 0; running Jobs go on and are picked up by the next leader.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --config /etc/bloodraven.yaml',
    '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:9464 --grace-seconds 120',
    'KUBECONFIG=~/.kube/config <%= config.bin %> <%= command.id %> --kubernetes --listen :9464',
  ];

  static override flags = {
    listen: Flags.string({ description: 'HOST:PORT for /metrics, /healthz and the status page at /, and with --kubernetes /readyz and /pitr-cutoff (":9464" for every interface).', default: '127.0.0.1:9464' }),
    'grace-seconds': Flags.integer({ description: 'How long a running backup may go on after SIGTERM.', default: 30, min: 0 }),
    kubernetes: Flags.boolean({ description: 'Run as the Kubernetes controller (reconciles MysqlFailoverGroup and MysqlBackup resources) instead of a config file\'s schedules.', helpGroup: 'KUBERNETES' }),
    namespace: Flags.string({ description: 'With --kubernetes: watch only this namespace (default: all).', helpGroup: 'KUBERNETES', dependsOn: ['kubernetes'] }),
    'leader-elect': Flags.boolean({ description: 'With --kubernetes: act only while holding the Lease (for several replicas).', default: true, allowNo: true, helpGroup: 'KUBERNETES' }),
    'lease-name': Flags.string({ description: 'With --kubernetes: the Lease (in POD_NAMESPACE, else the kubeconfig\'s namespace, else default).', default: 'bloodraven-leader', helpGroup: 'KUBERNETES' }),
    'lease-duration-seconds': Flags.integer({ description: 'With --kubernetes: how long a Lease not renewed keeps standbys off (renewal gives up after 2/3 of it).', default: 15, min: 2, helpGroup: 'KUBERNETES' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    this.setLogLevel(flags['log-level']);
    if (flags.kubernetes) return this.runKubernetes(flags);
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

  private async runKubernetes(flags: { listen: string; namespace?: string | undefined; 'leader-elect': boolean; 'lease-name': string; 'lease-duration-seconds': number }): Promise<void> {
    // Loaded here, not at the top: the Kubernetes client needs a Node.js that the version check
    // (which runs after the command's module loads) must be free to refuse first, with exit 2.
    const { loadKubeConfig } = await import('../daemon/kube/kube-config.js');
    const { runKubeDaemon } = await import('../daemon/kube/kube-daemon.js');
    const loaded = loadKubeConfig(process.env);
    const identity = process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
    const leaseNamespace = process.env.POD_NAMESPACE ?? loaded.namespace ?? 'default';
    const leaseMs = flags['lease-duration-seconds'] * 1000;
    this.logger.info(`Kubernetes mode: cluster from ${loaded.source === 'kubeconfig' ? 'KUBECONFIG' : 'the in-cluster ServiceAccount'}, identity ${identity}`);
    await runKubeDaemon(
      {
        kubeConfig: loaded.kubeConfig,
        clock: systemClock,
        logger: this.logger,
        metrics: new BackupMetrics(undefined, { namespaced: true }),
        probe: (address, account) => probeSite(createMysqlConnector({ ...address, user: account.user, password: account.password, connectTimeoutMs: 5000 })),
        identity,
      },
      {
        listen: flags.listen,
        namespace: flags.namespace,
        leaderElection: flags['leader-elect']
          ? { namespace: leaseNamespace, name: flags['lease-name'], leaseDurationMs: leaseMs, renewDeadlineMs: Math.round((leaseMs * 2) / 3), retryPeriodMs: Math.max(500, Math.round(leaseMs / 7)) }
          : null,
      },
      this.interrupt.signal,
    );
  }
}
