/**
 * The content checksum of a table as it is in a server now, computed exactly as the dump
 * computed it: the same columns, encoded to the same TSV by the same encoder, rows hashed and
 * summed (row-checksum.ts). Equal to the recorded checksum means the same rows, byte for byte.
 */
import type { TableManifest } from '../load/dump-manifest.js';
import { quoteId, type MysqlSession } from '../mysql/connection.js';
import { TsvEncoder, type ColumnKind } from '../dump/tsv-encoder.js';

export interface TableChecksum {
  rows: number;
  checksum: string;
}

/**
 * Streams the table through the encoder and returns its checksum. The session must use the dump
 * session settings (UTC, utf8mb4), as the dump did.
 */
export async function tableChecksum(session: MysqlSession, table: TableManifest): Promise<TableChecksum> {
  // Numbers are written raw and text escaped; the two differ only for values a number column
  // cannot hold once loaded (inf/nan become NULL at dump time), so text encodes both faithfully.
  const kinds: ColumnKind[] = table.columns.map((c) => (table.decodeColumns[c] ? 'base64' : 'text'));
  const encoder = new TsvEncoder(kinds);
  const columns = table.columns.map(quoteId).join(', ');
  const handle = session.raw(`SELECT ${columns} FROM ${quoteId(table.schema)}.${quoteId(table.name)}`, (buf, start, end) => {
    encoder.encodeRow(buf, start, end);
    // Only the checksum is kept; the encoded bytes are dropped as they accumulate.
    if (encoder.full) encoder.take();
  });
  await handle.done;
  return { rows: encoder.checksum.rows, checksum: encoder.checksum.digest() };
}
