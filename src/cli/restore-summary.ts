import type { RestoreResult } from '../lib/restore/restore-bootstrap.js';
import { formatBytes, formatDuration } from '../lib/sizes.js';

/** What a finished restore prints for a person. */
export function restoreSummary(verb: string, r: RestoreResult): string {
  return [
    `${verb} ${r.source} into ${r.target}`,
    `  schemas     ${r.schemas.join(', ') || '(none)'}`,
    `  tables      ${r.tables.length} (${r.rows.toLocaleString('en-US')} rows)`,
    `  data        ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)} (${formatBytes(r.bytesPerSecond)}/s)`,
    ...(r.resumedSteps > 0 ? [`  resumed     ${r.resumedSteps} step(s) already done by an earlier run`] : []),
    ...(r.warnings > 0 ? [`  warnings    ${r.warnings} (see the log above)`] : []),
    ...(r.pitr
      ? [
          `  replayed    ${r.pitr.applied} transaction(s) from the binlog archive${r.pitr.lastAppliedTime ? `, the last at ${r.pitr.lastAppliedTime}` : ''}${
            r.pitr.excluded.length > 0 ? `; left out ${r.pitr.excluded.join(', ')}` : ''
          }`,
        ]
      : []),
    '',
  ].join('\n');
}
