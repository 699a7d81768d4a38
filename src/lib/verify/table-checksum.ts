/**
 * The content checksum of a table as it is in a server now, computed exactly as the dump
 * computed it: the same columns, encoded to the same TSV by the same encoder, rows hashed and
 * summed (row-checksum.ts). Equal to the recorded checksum means the same rows, byte for byte.
 */
import { everyRowOf, type TableManifest } from '../load/dump-manifest.js';
import type { MysqlSession } from '../mysql/connection.js';
import { selectExpression } from '../dump/table-plan.js';
import { TsvEncoder, type ColumnKind } from '../dump/tsv-encoder.js';

export interface TableChecksum {
  rows: number;
  checksum: string;
}

/**
 * Streams the table through the encoder and returns its checksum. The session must use the dump
 * session settings (UTC, utf8mb4), as the dump did.
 */
export async function tableChecksum(session: MysqlSession, table: TableManifest, options: { exactFloats?: boolean } = {}): Promise<TableChecksum> {
  // Numbers are written raw and text escaped; the two differ only for values a number column
  // cannot hold once loaded (inf/nan become NULL at dump time), so text encodes both faithfully.
  const kinds: ColumnKind[] = table.columns.map((c) => (table.decodeColumns[c] ? 'base64' : 'text'));
  const encoder = new TsvEncoder(kinds);
  // bloodraven dumps FLOAT exactly (table-plan.ts); a dump written by MySQL Shell holds the server's text.
  const types = new Map<string, string>();
  if (options.exactFloats ?? true) {
    const rows = await session.query<{ n: string; t: string }>('SELECT COLUMN_NAME AS n, DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [
      table.schema,
      table.name,
    ]);
    for (const r of rows) types.set(r.n, r.t);
  }
  const columns = table.columns.map((c) => selectExpression(c, types.get(c) ?? '')).join(', ');
  // A system-versioned table's dump holds its history: every row version is compared.
  const handle = session.raw(`SELECT ${columns} FROM ${everyRowOf(table)}`, (buf, start, end) => {
    encoder.encodeRow(buf, start, end);
    // Only the checksum is kept; the encoded bytes are dropped as they accumulate.
    if (encoder.full) encoder.take();
  });
  await handle.done;
  return { rows: encoder.checksum.rows, checksum: encoder.checksum.digest() };
}
