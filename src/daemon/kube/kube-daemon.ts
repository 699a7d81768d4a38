/**
 * `daemon --kubernetes`: informers on groups, backups, verifications and the Jobs, Pods and CronJobs
 * bloodraven made; reconcilers (groups, backups, verifications) fed by work queues; a Lease so that of several replicas
 * only one acts; and the HTTP endpoints (/metrics, /healthz, /readyz, /pitr-cutoff). DESIGN §6.
 */
import { CoordinationV1Api, EventsV1Api, type KubeConfig, type V1CronJob, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { BackupMetrics } from '../../lib/metrics/backup-metrics.js';
import { labelKeys } from '../../lib/kube/objects.js';
import { apiGroup, apiVersionName } from '../../lib/kube/resources.js';
import type { StoredBackup, StoredGroup, StoredVerification } from './kube-ops.js';
import { VerificationMetrics } from '../../lib/metrics/verification-metrics.js';
import { RestoreMetrics } from '../../lib/metrics/restore-metrics.js';
import { kubeStatusPages } from './status-pages.js';
import { archiveWindowReader } from './archive-window.js';
import { RetentionMetrics } from '../../lib/metrics/retention-metrics.js';
import { VerificationReconciler } from './verification-reconciler.js';
import type { SiteState } from '../../lib/kube/source-selection.js';
import { startHttpServer, type PitrCutoffLookup } from '../http.js';
import { BackupReconciler } from './backup-reconciler.js';
import { Controller, watch } from './controller.js';
import { EventRecorder } from './events.js';
import { GroupReconciler } from './group-reconciler.js';
import { InitRestoreReconciler } from './init-restore-reconciler.js';
import { InPlaceRestoreReconciler } from './in-place-restore-reconciler.js';
import { Informer, cronJobSource, customResourceSource, jobSource, keyOf, podSource, splitKey } from './informer.js';
import { createKubeOps } from './kube-ops-client.js';
import { parseGroup } from './parse-group.js';

export interface KubeDaemonDeps {
  kubeConfig: KubeConfig;
  clock: Clock;
  logger: Logger;
  metrics: BackupMetrics;
  probe(address: { host: string; port: number }, account: { user: string; password: string }): Promise<SiteState>;
  /** This replica's name (its pod name): the Lease holder identity and the events' reportingInstance. */
  identity: string;
}

export interface KubeDaemonOptions {
  /** `HOST:PORT` for the HTTP endpoints. */
  listen: string;
  /** Watch one namespace only; all namespaces when undefined. */
  namespace?: string | undefined;
  /** The Lease; null runs without leader election (a single replica). */
  leaderElection: { namespace: string; name: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number } | null;
  /** Called once the HTTP server listens, with its address (tests use port 0). */
  onListening?: (address: string) => void;
}

const managedSelector = `${labelKeys.managedBy}=bloodraven`;

/** The oldest completionTime among a profile's retained Succeeded backups (the binlog pruning cutoff). */
function pitrCutoffFrom(groups: Informer<StoredGroup>, backups: Informer<StoredBackup>): PitrCutoffLookup {
  return ({ namespace, group, profile }) => {
    const g = groups.get(namespace, group);
    if (!g) return Promise.resolve({ known: false, message: `no MysqlFailoverGroup "${group}" in namespace "${namespace}"` });
    const parsed = parseGroup(g);
    const names = parsed.ok ? (parsed.spec.backup?.profiles ?? []).map((p) => p.name) : [];
    if (!names.includes(profile)) return Promise.resolve({ known: false, message: `MysqlFailoverGroup "${namespace}/${group}" has no profile "${profile}" (it has ${names.join(', ') || 'none'})` });
    const times = backups
      .list(namespace)
      .filter((b) => b.spec.failoverGroupRef.name === group && b.spec.profileName === profile && b.status?.phase === 'Succeeded' && !b.metadata.deletionTimestamp && b.status.completionTime)
      .map((b) => Date.parse(b.status?.completionTime ?? ''))
      .filter((t) => Number.isFinite(t));
    return Promise.resolve({ known: true, cutoff: times.length === 0 ? null : new Date(Math.min(...times)) });
  };
}

/** Runs until `signal` fires; then stops leading (releasing the Lease), stops the informers and the HTTP server. */
export async function runKubeDaemon(deps: KubeDaemonDeps, options: KubeDaemonOptions, signal: AbortSignal): Promise<void> {
  const { kubeConfig, logger } = deps;
  const scope = { namespace: options.namespace };
  const groups = new Informer<StoredGroup>(kubeConfig, customResourceSource(kubeConfig, { group: apiGroup, version: apiVersionName, plural: 'mysqlfailovergroups' }, scope), { logger });
  const backups = new Informer<StoredBackup>(kubeConfig, customResourceSource(kubeConfig, { group: apiGroup, version: apiVersionName, plural: 'mysqlbackups' }, scope), { logger });
  const jobs = new Informer<V1Job>(kubeConfig, jobSource(kubeConfig, { ...scope, labelSelector: managedSelector }), { logger });
  const pods = new Informer<V1Pod>(kubeConfig, podSource(kubeConfig, { ...scope, labelSelector: managedSelector }), { logger });
  const cronJobs = new Informer<V1CronJob>(kubeConfig, cronJobSource(kubeConfig, { ...scope, labelSelector: managedSelector }), { logger });
  // Verification in the cluster (issue 11): one MysqlBackupVerification per run.
  const verifications = new Informer<StoredVerification>(kubeConfig, customResourceSource(kubeConfig, { group: apiGroup, version: apiVersionName, plural: 'mysqlbackupverifications' }, scope), { logger });

  const events = new EventRecorder({ api: kubeConfig.makeApiClient(EventsV1Api), reportingInstance: deps.identity, logger, now: () => deps.clock.now() });
  const ops = createKubeOps(kubeConfig, { groups, backups, jobs, pods, cronJobs, verifications }, events, logger);
  // Every kind of work's metrics share the backup metrics' registry, labelled {namespace, group, profile}.
  const restoreMetrics = new RestoreMetrics(deps.metrics.registry, { namespaced: true });
  const retentionMetrics = new RetentionMetrics(deps.metrics.registry, { namespaced: true });
  const backupReconciler = new BackupReconciler({ ops, clock: deps.clock, logger, metrics: deps.metrics, retentionMetrics, probe: (address, account) => deps.probe(address, account) });
  const groupReconciler = new GroupReconciler({ ops, clock: deps.clock, logger });
  // --- initFromBackup (the init-restore reconciler) ---
  const initRestoreReconciler = new InitRestoreReconciler({ ops, clock: deps.clock, logger, restoreMetrics, probe: (address, account) => deps.probe(address, account) });
  /** The group an init-restore Job or pod belongs to (labels shipstream.io/restore=init and the group's). */
  const initRestoreGroupOf = (obj: V1Job | V1Pod): string[] => {
    const labels = obj.metadata?.labels ?? {};
    return labels[labelKeys.restore] === 'init' && labels[labelKeys.group] && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${labels[labelKeys.group]}`] : [];
  };
  // --- end initFromBackup ---

  // Verification in the cluster (issue 11): its metrics on the daemon's registry, seeded like the
  // backups' from terminal CRs (every replica), counted only by the replica that finishes a run.
  const verificationReconciler = new VerificationReconciler({ ops, clock: deps.clock, logger, metrics: new VerificationMetrics(deps.metrics.registry, { namespaced: true }) });
  verifications.on((type, obj) => {
    if (type !== 'delete') verificationReconciler.seedMetrics(obj);
  });
  const verificationKeyOfChild = (obj: V1Job | V1Pod): string[] => {
    const name = obj.metadata?.labels?.[labelKeys.verification];
    return name && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${name}`] : [];
  };
  // --- In-place restore (spec.restoreInPlace) ---
  const inPlaceReconciler = new InPlaceRestoreReconciler({ ops, clock: deps.clock, logger, restoreMetrics, probe: (address, account) => deps.probe(address, account) });
  /** The group of an in-place restore's Job or pod (labelled shipstream.io/restore=in-place). */
  const inPlaceGroupOf = (obj: V1Job | V1Pod): string[] => {
    const labels = obj.metadata?.labels ?? {};
    const group = labels[labelKeys.group];
    return labels[labelKeys.restore] === 'in-place' && group && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${group}`] : [];
  };
  // --- end in-place restore ---

  // Every replica, leading or not, takes terminal backups into the gauges without counting them:
  // only the replica that finishes a backup counts its run.
  backups.on((type, obj) => {
    if (type !== 'delete') backupReconciler.seedMetrics(obj);
  });

  const backupKeyOfChild = (obj: V1Job | V1Pod): string[] => {
    const name = obj.metadata?.labels?.[labelKeys.mysqlBackup];
    return name && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${name}`] : [];
  };
  const controller = new Controller({
    informers: [groups, backups, jobs, pods, cronJobs, verifications] as never,
    logger,
    reconcilers: [
      {
        name: 'mysqlbackup',
        workers: 4,
        reconcile: (key) => backupReconciler.reconcile(splitKey(key)),
        watches: [
          watch(backups, (b) => [keyOf(b)]),
          watch(jobs, backupKeyOfChild),
          watch(pods, backupKeyOfChild),
          // A group's change (its spec, its active site) concerns its unfinished backups.
          watch(groups, (g) =>
            backups
              .list(g.metadata.namespace)
              .filter((b) => b.spec.failoverGroupRef.name === g.metadata.name && (b.status?.phase !== 'Succeeded' || b.metadata.deletionTimestamp))
              .map((b) => keyOf(b)),
          ),
        ],
      },
      // Verification in the cluster (issue 11).
      {
        name: 'mysqlbackupverification',
        workers: 2,
        reconcile: (key) => verificationReconciler.reconcile(splitKey(key)),
        watches: [
          watch(verifications, (v) => [keyOf(v)]),
          watch(jobs, verificationKeyOfChild),
          watch(pods, verificationKeyOfChild),
        ],
      },
      {
        name: 'mysqlfailovergroup',
        workers: 2,
        reconcile: (key) => groupReconciler.reconcile(splitKey(key)),
        watches: [
          watch(groups, (g) => [keyOf(g)]),
          watch(backups, (b) => [`${b.metadata.namespace}/${b.spec.failoverGroupRef.name}`]),
          watch(cronJobs, (c) => {
            const group = c.metadata?.labels?.[labelKeys.group];
            return group && c.metadata?.namespace ? [`${c.metadata.namespace}/${group}`] : [];
          }),
        ],
      },
      // --- initFromBackup (the init-restore reconciler): keyed by group; the Deployment gate is polled (requeueAfter) ---
      {
        name: 'initfrombackup',
        workers: 2,
        reconcile: (key) => initRestoreReconciler.reconcile(splitKey(key)),
        watches: [
          watch(groups, (g) => (g.spec?.initFromBackup || g.status?.initFromBackup ? [keyOf(g)] : [])),
          watch(jobs, initRestoreGroupOf),
          watch(pods, initRestoreGroupOf),
          // A MysqlBackup becoming Succeeded (or appearing) concerns the groups whose initFromBackup names it.
          watch(backups, (b) =>
            groups
              .list(b.metadata.namespace)
              .filter((g) => g.spec?.initFromBackup?.source?.mysqlBackupRef?.name === b.metadata.name && g.status?.initFromBackup?.phase !== 'Succeeded')
              .map((g) => keyOf(g)),
          ),
        ],
      },
      // --- end initFromBackup ---
      // --- In-place restore (spec.restoreInPlace) ---
      {
        name: 'restore-in-place',
        workers: 2,
        reconcile: (key) => inPlaceReconciler.reconcile(splitKey(key)),
        watches: [watch(groups, (g) => [keyOf(g)]), watch(jobs, inPlaceGroupOf), watch(pods, inPlaceGroupOf)],
      },
      // --- end in-place restore ---
    ],
    ...(options.leaderElection
      ? {
          leaderElection: {
            api: kubeConfig.makeApiClient(CoordinationV1Api),
            identity: deps.identity,
            now: () => deps.clock.now(),
            ...options.leaderElection,
          },
        }
      : {}),
  });

  const http = await startHttpServer(options.listen, {
    metrics: async () => ({ contentType: deps.metrics.registry.contentType, body: await deps.metrics.metrics() }),
    health: () => ({ status: 'ok', mode: 'kubernetes', leading: controller.leading }),
    readiness: () => ({ ready: controller.ready, leading: controller.leading }),
    pitrCutoff: pitrCutoffFrom(groups, backups),
    statusPage: kubeStatusPages({ groups, backups, readWindow: archiveWindowReader(ops, deps.clock), clock: deps.clock }),
  });
  options.onListening?.(http.address);
  logger.info(`daemon (Kubernetes mode) serving the status page at /, /metrics, /healthz, /readyz and /pitr-cutoff on ${http.address}`);
  try {
    await controller.run(signal);
  } finally {
    await http.close();
  }
}
