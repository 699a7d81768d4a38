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
    `  checked     ${filesChecked(r.verified, r.resumedSteps > 0)}; ${r.verified.tablesCounted} table(s) against the backup's row count; ${r.verified.objectsFound} object(s) of its inventory present${
      r.resumedSteps > 0 ? '; what an earlier run loaded was checked by that run' : ''
    }`,
    ...(r.warnings > 0 ? [`  notes       ${r.warnings} note(s) from the server (see the log above)`] : []),
    ...(r.users ? [`  accounts    ${r.users.created.length} created${r.users.kept.length > 0 ? `, ${r.users.kept.length} kept as the server had them (${r.users.kept.join(', ')})` : ''}`] : []),
    ...(r.missingDefiners && r.missingDefiners.length > 0
      ? [
          `  WARNING     ${r.missingDefiners.length} object(s) name a DEFINER account the server lacks and fail when used:`,
          ...r.missingDefiners.map((m) => `                ${m.object} (definer ${m.definer})`),
          '              create those accounts, or restore with --load-users',
        ]
      : []),
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

/** The data files this run loaded and how each was checked (after a resume, only this run's). */
function filesChecked(v: RestoreResult['verified'], resumed: boolean): string {
  const bySize = v.filesLoaded - v.filesBySha256;
  const sha = `${v.filesBySha256} data file(s) loaded${resumed ? ' by this run' : ''}, each checked against its SHA-256`;
  return bySize === 0 ? sha : `${sha}, ${bySize} by size only (the dump records no SHA-256 for them)`;
}
