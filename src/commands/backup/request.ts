import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { ConfigError } from '../../lib/errors.js';
import type { CreatedMysqlBackup } from '../../lib/kube/request-backup.js';

/** Kubernetes object names used in labels and generateName: DNS labels (RFC 1123), as bloodraven names are. */
const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Refuses (exit 2, every bad flag at once) names that could not be a label value or part of generateName. */
function assertKubernetesNames(flags: Record<string, string | undefined>): void {
  const issues = Object.entries(flags)
    .filter(([, value]) => value !== undefined && !dnsLabel.test(value))
    .map(([flag, value]) => ({ path: `--${flag}`, message: `"${value}" is not a Kubernetes name: use lowercase letters, digits and "-" (at most 63, starting and ending alphanumeric)` }));
  if (issues.length > 0) throw new ConfigError(issues, { hint: 'fix the flags named above (see --help); nothing was created' });
}

export default class BackupRequest extends BaseCommand {
  static override summary = 'Ask the Kubernetes daemon for a backup: create one MysqlBackup.';

  static override description = `Creates one MysqlBackup (shipstream.io/v1alpha1) in --namespace for the MysqlFailoverGroup --group and its profile --profile, through the Kubernetes API, and prints the name the server gave it; the bloodraven daemon then runs the backup in a Job. Nothing else is done, and no bloodraven config is read.

This is what a schedule's CronJob runs (with --schedule, under the ServiceAccount mysql-<group>-backup-requester, which may only create mysqlbackups); a person can run it for an ad-hoc backup too (or kubectl create a MysqlBackup).

The MysqlBackup: generateName <group>-<schedule, or "manual">-; labels app.kubernetes.io/managed-by=bloodraven, shipstream.io/group, shipstream.io/profile and, with --schedule, shipstream.io/schedule; spec {failoverGroupRef: {name: <group>}, profileName: <profile>, triggeredBy: schedule with --schedule, else manual}.

The API server is the one of KUBECONFIG when it is set (its current context; a plain http:// server needs insecure-skip-tls-verify: true in the kubeconfig), else the cluster the pod runs in (its ServiceAccount token).

Exit codes: 0 created; 1 the API server could not be reached, refused the credentials, or refused the request: 403 names the missing permission (create on mysqlbackups in the namespace), 404 says whether the namespace or the CRDs are missing; 2 bad usage (a name that is not a Kubernetes name), or no KUBECONFIG outside a cluster.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --namespace shop --group orders --profile offsite',
    '<%= config.bin %> <%= command.id %> --namespace shop --group orders --profile offsite --schedule nightly --json',
  ];

  static override enableJsonFlag = true;

  // It reads no bloodraven config: --config is not shown (and is ignored), and --profile is its own (required).
  static override baseFlags = { ...BaseCommand.baseFlags, config: { ...BaseCommand.baseFlags.config, hidden: true } };

  static override flags = {
    namespace: Flags.string({ description: 'Namespace of the MysqlFailoverGroup, where the MysqlBackup is created.', required: true }),
    group: Flags.string({ description: 'The MysqlFailoverGroup to back up.', required: true }),
    profile: Flags.string({ char: 'p', description: "The profile of the group's spec.backup.profiles to back up to.", required: true }),
    schedule: Flags.string({
      description: 'The schedule that asks (what its CronJob passes): the MysqlBackup says triggeredBy: schedule. Default: a manual request.',
    }),
  };

  async run(): Promise<CreatedMysqlBackup> {
    const { flags } = await this.parse(BackupRequest);
    this.setLogLevel(flags['log-level']);
    assertKubernetesNames({ namespace: flags.namespace, group: flags.group, profile: flags.profile, schedule: flags.schedule });
    // Loaded here, not at the top: the Kubernetes client needs a Node.js that the version check
    // (which runs after the command's module loads) must be free to refuse first, with exit 2.
    const { CustomObjectsApi } = await import('@kubernetes/client-node');
    const { loadKubeConfig } = await import('../../daemon/kube/kube-config.js');
    const { requestBackup } = await import('../../lib/kube/request-backup.js');
    const { kubeConfig } = loadKubeConfig(process.env);
    const server = kubeConfig.getCurrentCluster()?.server ?? 'unknown';
    const created = await requestBackup(
      kubeConfig.makeApiClient(CustomObjectsApi),
      { namespace: flags.namespace, group: flags.group, profile: flags.profile, schedule: flags.schedule },
      { server },
    );
    if (!this.jsonEnabled()) process.stdout.write(`${created.metadata.name}\n`);
    this.logger.info('MysqlBackup created', { namespace: created.metadata.namespace, name: created.metadata.name });
    return created;
  }
}
