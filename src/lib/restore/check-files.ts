/**
 * Reads a backup's files and checks each against its record: data files by the size and SHA-256
 * of their stored bytes (an encrypted file is also authenticated on the way), scripts by the
 * SHA-256 of their content. Used before an in-place restore drops anything, and by verify.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorMessage } from '../errors.js';
import { forEachBounded } from '../parallel.js';
import type { BackupView } from '../storage/encrypted-store.js';
import { describeMismatch, ObjectMismatchError, type ExpectedObject } from '../storage/object-check.js';

/** How many scripts are read at a time. */
const scriptReads = 8;

export interface FileProblem {
  name: string;
  problem: string;
}

/** Every file that differs from its record, with what is wrong; an empty list when all match. */
export async function checkFiles(
  store: BackupView,
  prefix: string,
  dataFiles: ReadonlyMap<string, ExpectedObject>,
  scripts: ReadonlyMap<string, ExpectedObject>,
  { signal, onScript }: {
    signal?: AbortSignal | undefined;
    /** Receives each script that matched its record, so a caller need not read it again. */
    onScript?: (name: string, content: Buffer) => void;
  } = {},
): Promise<FileProblem[]> {
  const options = signal ? { signal } : {};
  const problems: FileProblem[] = [];
  for (const [name, expected] of dataFiles) {
    try {
      await pipeline(await store.readChecked(prefix + name, expected, options), drain());
    } catch (err) {
      if (signal?.aborted) throw err;
      problems.push({ name, problem: err instanceof ObjectMismatchError ? errorMessage(err).replace(`${name} does not match the backup record: `, '') : errorMessage(err) });
    }
  }
  // Thousands of small scripts (one or two per table): several are read at a time; the problems
  // are listed in the scripts' order all the same.
  const scriptProblems: Array<FileProblem | undefined> = [];
  await forEachBounded([...scripts], scriptReads, async ([name, expected], i) => {
    try {
      const content = await store.get(prefix + name, options);
      const problem = describeMismatch(expected, { bytes: content.length, sha256: createHash('sha256').update(content).digest('hex') });
      if (problem) scriptProblems[i] = { name, problem };
      else onScript?.(name, content);
    } catch (err) {
      if (signal?.aborted) throw err;
      scriptProblems[i] = { name, problem: errorMessage(err) };
    }
  });
  for (const p of scriptProblems) if (p) problems.push(p);
  return problems;
}

function drain(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}
