import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { ConfigError } from '../../lib/errors.js';
import type { CreatedVerification } from '../../lib/kube/request-verification.js';

/** Kubernetes object names used in labels and generateName: DNS labels (RFC 1123). */
const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A MysqlBackup's name: a DNS subdomain. */
const dnsSubdomain = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export default class VerifyRequest extends BaseCommand {
  static override summary = 'Ask the Kubernetes daemon for a verification: create one MysqlBackupVerification.';

  static override description = `Creates one MysqlBackupVerification (shipstream.io/v1alpha1) in --namespace for the MysqlFailoverGroup --group and its profile --profile, through the Kubernetes API, and prints the name the server gave it; the bloodraven daemon then restores the profile's newest Succeeded MysqlBackup (or --backup) into a scratch server in a Job and compares its contents. Nothing else is done, and no bloodraven config is read.

This is what a profile's verification CronJob (mysql-<group>-verify-<profile>) runs, under the ServiceAccount mysql-<group>-backup-requester; the MysqlBackupVerification then says triggeredBy: schedule. With --manual (a person's request) it says triggeredBy: manual.

The API server is the one of KUBECONFIG when it is set, else the cluster the pod runs in (its ServiceAccount token).

Exit codes: 0 created; 1 the API server could not be reached, refused the credentials, or refused the request (403 names the missing permission: create on mysqlbackupverifications in the namespace; 404 says whether the namespace or the CRDs are missing); 2 bad usage (a name that is not a Kubernetes name), or no KUBECONFIG outside a cluster.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --namespace shop --group orders --profile offsite',
    '<%= config.bin %> <%= command.id %> --namespace shop --group orders --profile offsite --backup orders-nightly-x7k2p --manual --json',
  ];

  static override enableJsonFlag = true;

  // It reads no bloodraven config: --config is not shown (and is ignored), and --profile is its own (required).
  static override baseFlags = { ...BaseCommand.baseFlags, config: { ...BaseCommand.baseFlags.config, hidden: true } };

  static override flags = {
    namespace: Flags.string({ description: 'Namespace of the MysqlFailoverGroup, where the MysqlBackupVerification is created.', required: true }),
    group: Flags.string({ description: 'The MysqlFailoverGroup.', required: true }),
    profile: Flags.string({ char: 'p', description: "The profile of the group's spec.backup.profiles whose backup is verified.", required: true }),
    backup: Flags.string({ description: "The MysqlBackup to verify (default: the profile's newest Succeeded one when the run starts)." }),
    manual: Flags.boolean({ description: 'A person asks: triggeredBy manual (default: schedule, as the CronJob asks).', default: false }),
  };

  async run(): Promise<CreatedVerification> {
    const { flags } = await this.parse(VerifyRequest);
    this.setLogLevel(flags['log-level']);
    const issues = Object.entries({ namespace: flags.namespace, group: flags.group, profile: flags.profile })
      .filter(([, value]) => !dnsLabel.test(value))
      .map(([flag, value]) => ({ path: `--${flag}`, message: `"${value}" is not a Kubernetes name: use lowercase letters, digits and "-" (at most 63, starting and ending alphanumeric)` }));
    if (flags.backup !== undefined && !dnsSubdomain.test(flags.backup)) issues.push({ path: '--backup', message: `"${flags.backup}" is not a MysqlBackup name` });
    if (issues.length > 0) throw new ConfigError(issues, { hint: 'fix the flags named above (see --help); nothing was created' });
    // Loaded here: the Kubernetes client needs a Node.js the version check must be free to refuse first.
    const { CustomObjectsApi } = await import('@kubernetes/client-node');
    const { loadKubeConfig } = await import('../../daemon/kube/kube-config.js');
    const { requestVerification } = await import('../../lib/kube/request-verification.js');
    const { kubeConfig } = loadKubeConfig(process.env);
    const server = kubeConfig.getCurrentCluster()?.server ?? 'unknown';
    const created = await requestVerification(
      kubeConfig.makeApiClient(CustomObjectsApi),
      { namespace: flags.namespace, group: flags.group, profile: flags.profile, backup: flags.backup, triggeredBy: flags.manual ? 'manual' : 'schedule' },
      { server },
    );
    if (!this.jsonEnabled()) process.stdout.write(`${created.metadata.name}\n`);
    this.logger.info('MysqlBackupVerification created', { namespace: created.metadata.namespace, name: created.metadata.name });
    return created;
  }
}
