/**
 * Requesting a verification in Kubernetes mode: one MysqlBackupVerification created through the
 * API server, which the daemon then runs in a Job. What a profile's verification CronJob runs
 * (`verify request`, triggeredBy: schedule); it needs exactly the `create` verb on
 * `mysqlbackupverifications` in the namespace, which the group's requester Role grants once a
 * profile has a verification schedule.
 */
import { createRequested, type BackupRequestInput, type CustomObjectCreator } from './request-backup.js';
import { apiVersion, verificationKind, verificationPlural, type MysqlBackupVerification, type MysqlBackupVerificationSpecInput } from './resources.js';

export interface VerificationRequestInput {
  namespace: string;
  /** The MysqlFailoverGroup's name. */
  group: string;
  /** The profile whose newest Succeeded backup is verified. */
  profile: string;
  /** The MysqlBackup to verify; default: the profile's newest Succeeded one when the run starts. */
  backup?: string | undefined;
  /** Who asks: the profile's verification schedule, or a person. */
  triggeredBy: 'schedule' | 'manual';
}

/** The MysqlBackupVerification as sent: no name yet (the server generates it), no status. */
export interface VerificationManifest extends Omit<MysqlBackupVerification, 'metadata' | 'status'> {
  metadata: { generateName: string; namespace: string; labels: Record<string, string> };
  spec: MysqlBackupVerificationSpecInput & { triggeredBy: 'manual' | 'schedule' };
}

export type CreatedVerification = MysqlBackupVerification & { metadata: { name: string } };

/**
 * The MysqlBackupVerification to create: generateName `<group>-<profile>-verify-` (cut so the
 * server's 5 characters still fit 63), the labels bloodraven's objects carry (managed-by, group,
 * profile), and the spec the daemon reads.
 */
export function verificationManifest(input: VerificationRequestInput): VerificationManifest {
  const prefix = `${input.group}-${input.profile}-verify`.slice(0, 63 - 6).replace(/-+$/, '');
  return {
    apiVersion,
    kind: verificationKind,
    metadata: {
      generateName: `${prefix}-`,
      namespace: input.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'bloodraven', 'shipstream.io/group': input.group, 'shipstream.io/profile': input.profile },
    },
    spec: {
      failoverGroupRef: { name: input.group },
      profileName: input.profile,
      ...(input.backup === undefined ? {} : { mysqlBackupRef: { name: input.backup } }),
      triggeredBy: input.triggeredBy,
    },
  };
}

/**
 * Creates the MysqlBackupVerification for `input` and returns it as created; failures are the
 * AppErrors requestBackup documents (KUBE_FORBIDDEN names `create` on mysqlbackupverifications).
 */
export async function requestVerification(api: CustomObjectCreator, input: VerificationRequestInput, options: { server: string; timeoutMs?: number }): Promise<CreatedVerification> {
  const asRequest: BackupRequestInput = { namespace: input.namespace, group: input.group, profile: input.profile };
  return (await createRequested(api, { kind: verificationKind, plural: verificationPlural }, asRequest, verificationManifest(input), options)) as CreatedVerification;
}
