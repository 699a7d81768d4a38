/**
 * What `restore bootstrap --result-file` leaves on success: the fields a Kubernetes restore Job's
 * reconciler writes into `status.initFromBackup` (see result-file.ts for the file itself).
 */
import type { PointReached, RestoreResult } from '../lib/restore/restore-bootstrap.js';
import { resultMaxBytes } from './result-file.js';

export interface BootstrapSucceededResult {
  phase: 'Succeeded';
  /** The stored backup's name, or the location restored from (a --from dump without a record). */
  backup: string;
  rows: number;
  /** Uncompressed bytes loaded. */
  bytes: number;
  /** Tables loaded. */
  tables: number;
  pointReached: PointReached;
  /** Present (true) when pointReached.gtidExecuted was cut to fit 4096 bytes. */
  gtidExecutedTruncated?: true;
}

const bytesOf = (doc: object): number => Buffer.byteLength(JSON.stringify(doc));

/**
 * The success result of a restore. A GTID set too long for 4096 bytes is cut after the last whole
 * element (`uuid:ranges` or `domain-server-seq`) that fits, so what remains is a valid subset.
 */
export function bootstrapSucceededResult(result: RestoreResult): BootstrapSucceededResult {
  const doc: BootstrapSucceededResult = {
    phase: 'Succeeded',
    backup: result.backup ?? result.source,
    rows: result.rows,
    bytes: result.bytes,
    tables: result.tables.length,
    pointReached: result.pointReached,
  };
  const gtids = result.pointReached.gtidExecuted;
  if (bytesOf(doc) <= resultMaxBytes || gtids === null) return doc;
  const emptied: BootstrapSucceededResult = { ...doc, pointReached: { ...doc.pointReached, gtidExecuted: '' }, gtidExecutedTruncated: true };
  const room = resultMaxBytes - bytesOf(emptied);
  let kept = '';
  for (const element of gtids.split(',')) {
    const next = kept === '' ? element : `${kept},${element}`;
    if (Buffer.byteLength(JSON.stringify(next)) - 2 > room) break;
    kept = next;
  }
  return { ...emptied, pointReached: { ...emptied.pointReached, gtidExecuted: kept } };
}
