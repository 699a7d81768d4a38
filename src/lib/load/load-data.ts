/**
 * The LOAD DATA statement for one data file, as MySQL Shell's loader builds it (FORMAT.md §5):
 * REPLACE (so a chunk loaded twice after a resume leaves no duplicates), the dump's character
 * set and dialect, the column list, and base64/hex columns read into variables and decoded.
 *
 * A system-versioned table is loaded without REPLACE: MariaDB 10.11 refuses its invisible
 * ROW_START/ROW_END columns in a LOAD DATA … REPLACE (error 1054), and a resumed load empties
 * such a table and loads it whole instead (data-steps.ts).
 */
import { quoteId, quoteString } from '../mysql/connection.js';
import type { TableManifest } from './dump-manifest.js';

export function loadDataStatement(table: TableManifest, partition: string | null): string {
  const d = table.dialect;
  const targets = table.columns.map((c, i) => (table.decodeColumns[c] ? `@bloodraven_${i}` : quoteId(c)));
  const sets = table.columns.flatMap((c, i) => {
    const fn = table.decodeColumns[c];
    return fn ? [`${quoteId(c)} = ${fn}(@bloodraven_${i})`] : [];
  });
  const enclosed = d.fieldsEnclosedBy ? `${d.fieldsOptionallyEnclosed ? ' OPTIONALLY' : ''} ENCLOSED BY ${quoteString(d.fieldsEnclosedBy)}` : " ENCLOSED BY ''";
  return [
    `LOAD DATA LOCAL INFILE 'bloodraven-stream'${table.systemVersioning ? '' : ' REPLACE'} INTO TABLE ${quoteId(table.schema)}.${quoteId(table.name)}`,
    partition ? ` PARTITION (${quoteId(partition)})` : '',
    ` CHARACTER SET ${table.characterSet.replace(/[^A-Za-z0-9_]/g, '')}`,
    ` FIELDS TERMINATED BY ${quoteString(d.fieldsTerminatedBy)}${enclosed} ESCAPED BY ${quoteString(d.fieldsEscapedBy)}`,
    ` LINES STARTING BY '' TERMINATED BY ${quoteString(d.linesTerminatedBy)}`,
    table.columns.length > 0 ? ` (${targets.join(', ')})` : '',
    sets.length > 0 ? ` SET ${sets.join(', ')}` : '',
  ].join('');
}
