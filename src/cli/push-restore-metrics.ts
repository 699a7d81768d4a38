/**
 * `--pushgateway` of the restore commands: a restore run from the command line counts itself in
 * the restore metrics and pushes them when it ends, successful or not (a daemon never sees it).
 * Failing to push is logged, never turned into a failed restore.
 */
import { Flags } from '@oclif/core';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { RestoreMetrics } from '../lib/metrics/restore-metrics.js';

export const pushgatewayFlag = {
  pushgateway: Flags.string({ description: 'Push the restore metrics (bloodraven_restore_runs_total, bloodraven_restore_duration_seconds) to this Prometheus Pushgateway URL when done, whether it succeeded or failed.' }),
};

export interface RestoreRun {
  group: string;
  profile: string;
  /** When the restore started. */
  startedAt: Date;
}

export async function pushRestoreMetrics(url: string | undefined, run: RestoreRun, succeeded: boolean, now: Date, logger: Logger): Promise<void> {
  if (url === undefined) return;
  const metrics = new RestoreMetrics();
  metrics.observe({ name: run.startedAt.toISOString(), group: run.group, profile: run.profile, succeeded, startedAt: run.startedAt.toISOString(), completedAt: now.toISOString() });
  try {
    await metrics.push(url, { group: run.group, profile: run.profile });
    logger.info('metrics pushed', { pushgateway: url });
  } catch (err) {
    logger.warn('could not push the metrics', { pushgateway: url, reason: errorMessage(err) });
  }
}
