/**
 * A restore Job's run as the restore metrics count it: labelled by the group and the profile of
 * the backup it loaded (the MysqlBackup whose name or stored backupName it names; empty for a
 * direct s3:// or pvc:// source), named by its Job and start so a re-reconcile never counts it twice.
 */
import type { EndedRestore } from '../../lib/metrics/restore-metrics.js';
import type { KubeOps, StoredGroup } from './kube-ops.js';

export function endedRestore(
  ops: Pick<KubeOps, 'listBackups'>,
  group: StoredGroup,
  run: { jobName?: string | undefined; backup?: string | undefined; startTime?: string | undefined; completionTime?: string | undefined; phase?: string | undefined },
  fallbackEnd: Date,
): EndedRestore {
  const ns = group.metadata.namespace;
  const source = run.backup === undefined ? undefined : ops.listBackups(ns).find((b) => b.metadata.name === run.backup || b.status?.backupName === run.backup);
  return {
    // A deleted Job is rebuilt under the same name: its start tells the runs apart.
    name: `${run.jobName ?? group.metadata.name}@${run.startTime ?? run.completionTime ?? fallbackEnd.toISOString()}`,
    namespace: ns,
    group: group.metadata.name,
    profile: source?.spec.profileName ?? '',
    succeeded: run.phase === 'Succeeded',
    startedAt: run.startTime ?? null,
    completedAt: run.completionTime ?? fallbackEnd.toISOString(),
  };
}
