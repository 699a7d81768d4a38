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
    '',
  ].join('\n');
}
