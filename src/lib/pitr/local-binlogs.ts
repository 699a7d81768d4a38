/**
 * Binlogs already downloaded by `pitr download` (`<dir>/<site>/<file>`), as a restore Job's init
 * container leaves them in an emptyDir: each one the plan needs is checked against its manifest
 * entry before the replay reads it, so a missing, cut or altered file refuses the restore with
 * nothing touched instead of replaying something else.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { PreconditionError, throwIfAborted } from '../errors.js';
import { HashCounter } from '../storage/hash-counter.js';
import type { ArchivedBinlog } from './manifest.js';
import type { ReplayFile } from './replay.js';

const hint = 'download them again: bloodraven pitr download --backup <the backup loaded> --stop-datetime <the same time> --dest <this folder> (in a restore Job, delete the Job: it is rebuilt with a fresh download)';

/**
 * The local copies of `files` under `dir`, in order. An unencrypted entry is checked by size and
 * SHA-256 against what the manifest recorded of the stored bytes; an encrypted one is stored as
 * ciphertext, so its local (decrypted, authenticated on download) copy is checked by size against
 * the manifest's binlogBytes when the manifest has it.
 *
 * @throws PreconditionError (exit 3) PITR_BINLOG_MISSING or PITR_BINLOG_MISMATCH naming the file.
 */
export async function localBinlogs(dir: string, files: readonly ArchivedBinlog[], signal?: AbortSignal): Promise<ReplayFile[]> {
  const out: ReplayFile[] = [];
  for (const entry of files) {
    throwIfAborted(signal);
    const path = join(dir, entry.site, entry.file);
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new Error('not a file');
      size = info.size;
    } catch {
      throw new PreconditionError('PITR_BINLOG_MISSING', `the binlog ${entry.site}/${entry.file} the replay needs is not in ${dir} (expected ${path}); nothing was changed`, { hint });
    }
    const expectedSize = entry.encryption ? entry.binlogBytes : entry.size;
    if (expectedSize !== undefined && size !== expectedSize) {
      throw new PreconditionError('PITR_BINLOG_MISMATCH', `${path} is ${size} bytes, and the archive's manifest records ${expectedSize} for ${entry.site}/${entry.file}; nothing was changed`, { hint });
    }
    if (!entry.encryption) {
      const hashing = new HashCounter();
      const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
      await pipeline(createReadStream(path), hashing, sink, ...(signal ? [{ signal }] : []));
      const sha256 = hashing.digest();
      if (sha256 !== entry.sha256) {
        throw new PreconditionError('PITR_BINLOG_MISMATCH', `${path} has SHA-256 ${sha256}, and the archive's manifest records ${entry.sha256} for ${entry.site}/${entry.file}; nothing was changed`, { hint });
      }
    }
    out.push({ path, entry });
  }
  return out;
}
