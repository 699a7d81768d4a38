/**
 * Before a Job of a profile is created: the Secrets the profile names (S3 credentials, the
 * encryption passphrase) must exist, or the pod would wait forever in CreateContainerConfigError.
 */
import type { KubernetesProfile } from '../../lib/kube/resources.js';
import type { KubeOps } from './kube-ops.js';
import type { ValidGroup } from './parse-group.js';

/** The first Secret the profile names and the namespace lacks, as `<field>: Secret "x" not found …`; null when all are there. */
export async function missingStorageSecret(ops: Pick<KubeOps, 'readSecret'>, namespace: string, parsed: ValidGroup, profile: KubernetesProfile): Promise<string | null> {
  const at = `spec.backup.profiles[${parsed.spec.backup?.profiles.indexOf(profile) ?? 0}]`;
  const wanted: Array<{ field: string; name: string }> = [];
  if (profile.storage.type === 'S3' && profile.storage.s3.credentialsSecret) wanted.push({ field: `${at}.storage.s3.credentialsSecret`, name: profile.storage.s3.credentialsSecret });
  if (profile.encryption) wanted.push({ field: `${at}.encryption.passphraseSecret`, name: profile.encryption.passphraseSecret });
  for (const w of wanted) {
    if (!(await ops.readSecret({ namespace, name: w.name }))) return `${w.field}: Secret "${w.name}" not found in namespace ${namespace}`;
  }
  return null;
}
