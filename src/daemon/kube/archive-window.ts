/**
 * The status page's point-in-time window in Kubernetes mode: read from an S3 archive with the
 * credentials Secret its profile names (read-only: a listing and the manifests, as `pitr window`
 * does). A PVC archive is not mounted in the daemon's pod, so its window cannot be read here; the
 * error says where to look instead. Storage calls give up after 10 s, so a page never hangs on an
 * outage.
 */
import { windowFromStorage } from '../../lib/pitr/point-in-time.js';
import { createS3Store } from '../../lib/storage/s3-store.js';
import type { Clock } from '../../lib/clock.js';
import type { KubeOps } from './kube-ops.js';
import type { WindowReader } from './group-status.js';

/** 5 MiB, the smallest part S3 takes; nothing is written. */
const readOnlyPartSize = 5 * 1024 * 1024;

export function archiveWindowReader(ops: Pick<KubeOps, 'readSecret'>, clock: Clock): WindowReader {
  return async (namespace, profile) => {
    const s3 = profile.storage.type === 'S3' ? profile.storage.s3 : undefined;
    if (!s3) {
      throw new Error(
        `the archive's profile ${profile.name} is on a PersistentVolumeClaim, which the daemon does not mount: run bloodraven status or bloodraven pitr window where the claim is mounted, or read bloodraven_pitr_window_* on the PITR sidecars' /metrics`,
      );
    }
    let credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
    if (s3.credentialsSecret) {
      const data = await ops.readSecret({ namespace, name: s3.credentialsSecret });
      const accessKeyId = data?.AWS_ACCESS_KEY_ID;
      const secretAccessKey = data?.AWS_SECRET_ACCESS_KEY;
      if (!accessKeyId || !secretAccessKey) throw new Error(`Secret "${s3.credentialsSecret}" in namespace ${namespace} (storage.s3.credentialsSecret of profile ${profile.name}) is missing or lacks AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
      credentials = { accessKeyId, secretAccessKey };
    }
    const store = createS3Store({
      bucket: s3.bucket,
      prefix: s3.prefix,
      ...(s3.region ? { region: s3.region } : {}),
      ...(s3.endpointURL ? { endpointURL: s3.endpointURL } : {}),
      ...(credentials ? { credentials, credentialsSource: `Secret ${namespace}/${s3.credentialsSecret ?? ''}` } : {}),
      partSize: readOnlyPartSize,
      retry: { budgetMs: 10_000 },
    });
    return windowFromStorage(store, { now: clock.now() });
  };
}
