/**
 * `--result-file PATH`: the one compact JSON object a run leaves for whoever started it, written
 * when the run ends, whatever the end. A Kubernetes Job passes its container's
 * terminationMessagePath (`/dev/termination-log`), so the daemon reads the result from the Pod's
 * status (`state.terminated.message`) without parsing logs. Kubernetes keeps at most 4096 bytes
 * of a termination message, so the object is made to fit: a long GTID set or message is cut.
 *
 * The object holds the run's summary only (names, locations, sizes, coordinates, an error's code
 * and message): never row data, never a credential.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import type { BackupRecord } from '../lib/catalog/record.js';
import type { VerificationResult } from '../lib/verify/verify-backup.js';
import { AbortedError, AppError, errorMessage } from '../lib/errors.js';
import { atLastResort } from '../lib/last-resort.js';
import { privateModes } from '../lib/file-modes.js';

/** Kubernetes' limit on a termination message, in bytes. */
export const resultMaxBytes = 4096;

export const resultFileFlag = {
  'result-file': Flags.string({
    description:
      'Write the outcome as one JSON object (at most 4096 bytes) to this file when the run ends, success or failure: {"phase":"Succeeded",…} or {"phase":"Failed","reason":<error code>,"message":…}. For Kubernetes Jobs: the container\'s terminationMessagePath.',
    helpGroup: 'OUTPUT',
  }),
};

/** What `backup now` leaves on success (the Kubernetes MysqlBackup status fields of the run). */
export interface BackupSucceededResult {
  phase: 'Succeeded';
  name: string;
  /** The backup's location as in its record and BLOODRAVEN_DUMP_COMPLETE: `/path/name` or `s3://bucket/prefix/name`. */
  location: string;
  /** Bytes stored. */
  sizeBytes: number;
  /** The source's gtid_executed at the snapshot; a prefix of it when gtidExecutedTruncated. */
  gtidExecuted: string | null;
  /** Present (true) when gtidExecuted was cut to fit 4096 bytes; the backup's record has the whole set. */
  gtidExecutedTruncated?: true;
  binlogFile: string | null;
  binlogPos: number | null;
  /** RFC 3339. */
  startTime: string;
  /** RFC 3339. */
  completionTime: string | null;
}

/** What a run leaves on failure, with what the command adds (a name, a `deleted` flag). */
export interface FailedResult {
  phase: 'Failed';
  /** The AppError code (CONFIG_INVALID, MYSQL_ACCESS_DENIED, ABORTED, …). */
  reason: string;
  /** The error's message on one line, cut to fit. */
  message: string;
  [field: string]: unknown;
}

const bytes = (doc: object): number => Buffer.byteLength(JSON.stringify(doc));

/**
 * The success result of a backup, from its record. A GTID set too long for 4096 bytes (servers
 * with many source UUIDs) is cut after the last whole `uuid:ranges` element that fits, so what
 * remains is a valid GTID set (a subset), and gtidExecutedTruncated says so.
 */
export function backupSucceededResult(record: BackupRecord): BackupSucceededResult {
  const doc: BackupSucceededResult = {
    phase: 'Succeeded',
    name: record.name,
    location: record.location,
    sizeBytes: record.sizeBytes,
    gtidExecuted: record.gtidExecuted,
    binlogFile: record.binlogFile,
    binlogPos: record.binlogPos,
    startTime: record.startedAt,
    completionTime: record.completedAt,
  };
  if (bytes(doc) <= resultMaxBytes || record.gtidExecuted === null) return doc;
  const truncated: BackupSucceededResult = { ...doc, gtidExecuted: '', gtidExecutedTruncated: true };
  const room = resultMaxBytes - bytes(truncated);
  // Elements (MySQL `uuid:ranges`, MariaDB `domain-server-seq`) are joined by ','.
  const elements = record.gtidExecuted.split(',');
  let kept = '';
  for (const element of elements) {
    const next = kept === '' ? element : `${kept},${element}`;
    if (Buffer.byteLength(JSON.stringify(next)) - 2 > room) break;
    kept = next;
  }
  return { ...truncated, gtidExecuted: kept };
}

// --- verification in the cluster (issue 11): `verify --result-file` ---

/** One difference verify found, as MysqlBackupVerification.status.mismatches[] holds it: names and checksums, never row data. */
export interface VerificationMismatchResult {
  /** `schema.table`, or the file's name. */
  object: string;
  /** `row count`, `content checksum`, `missing table`, `file checksum`. */
  check: string;
  expected?: string;
  actual?: string;
}

/** What `verify` leaves when it ran to the end (a pass, or a failure it can name). */
export interface VerificationEndedResult {
  phase: 'Passed' | 'Failed';
  /** The stored backup verified. */
  backup: string;
  /** Tables compared. */
  tables: number;
  /** Rows restored. */
  rows: number;
  /** Objects of the source's inventory found on the scratch server. */
  objects: number;
  /** Bytes restored. */
  bytes: number;
  /** Seconds the scratch restore took (the measured recovery time); 0 when it did not run. */
  restoreSeconds: number;
  /** The differences, the first ones when not all fit in 4096 bytes. */
  mismatches: VerificationMismatchResult[];
  /** How many differences were left out to fit (absent when none were). */
  mismatchesOmitted?: number;
  /** One line: what was proven, or what did not match. */
  message: string;
}

/** Every difference of a verification, files first (they stop the restore), then tables in the backup's order. */
export function verificationMismatches(result: VerificationResult): VerificationMismatchResult[] {
  const out: VerificationMismatchResult[] = result.files.failed.map((f) => ({ object: f.name, check: 'file checksum', ...(f.problem ? { actual: f.problem } : {}) }));
  for (const t of result.tables) {
    if (t.ok) continue;
    const object = `${t.schema}.${t.table}`;
    if (t.actualRows === null) out.push({ object, check: 'missing table', expected: `${t.expectedRows} rows` });
    else if (t.actualRows !== t.expectedRows) out.push({ object, check: 'row count', expected: String(t.expectedRows), actual: String(t.actualRows) });
    else out.push({ object, check: 'content checksum', expected: t.expectedChecksum, ...(t.actualChecksum === null ? {} : { actual: t.actualChecksum }) });
  }
  return out;
}

function verificationMessage(result: VerificationResult, mismatches: readonly VerificationMismatchResult[]): string {
  const tables = result.tables.length;
  if (result.ok) {
    const seconds = ((result.restore?.durationMs ?? 0) / 1000).toFixed(1);
    return `backup ${result.backup} verified: ${tables} tables match rows and content, ${result.restore?.rows ?? 0} rows restored in ${seconds} s`;
  }
  const first = mismatches[0];
  const what = first ? `${first.check} of ${first.object} differs${mismatches.length > 1 ? ` (and ${mismatches.length - 1} more)` : ''}` : 'it could not be proven';
  return oneLine(`backup ${result.backup} did not verify: ${what}${result.error ? `; restore: ${result.error}` : ''}`);
}

/**
 * The result of a verification that ran to the end, made to fit 4096 bytes: as many mismatches
 * as fit (the first ones), `mismatchesOmitted` counting the rest, and the message cut with "…"
 * if even that is too long. Holds counts, names and checksums only: never row data.
 */
export function verificationEndedResult(result: VerificationResult): VerificationEndedResult {
  const mismatches = verificationMismatches(result);
  const doc: VerificationEndedResult = {
    phase: result.ok ? 'Passed' : 'Failed',
    backup: result.backup,
    tables: result.tables.length,
    rows: result.restore?.rows ?? 0,
    objects: result.restore?.objects ?? 0,
    bytes: result.restore?.bytes ?? 0,
    restoreSeconds: Math.round(result.restore?.durationMs ?? 0) / 1000,
    mismatches,
    message: verificationMessage(result, mismatches),
  };
  if (bytes(doc) <= resultMaxBytes) return doc;
  // The message first gets at most a quarter of the room, so that mismatches are what fills it.
  const message = cutToFit(doc.message, (m) => bytes({ phase: doc.phase, message: m }) <= resultMaxBytes / 4);
  const kept: VerificationMismatchResult[] = [];
  const base = { ...doc, message, mismatches: kept, mismatchesOmitted: mismatches.length };
  for (const m of mismatches) {
    const mismatch = { ...m, ...(m.actual === undefined ? {} : { actual: cutToFit(m.actual, (a) => Buffer.byteLength(a) <= 512) }) };
    if (bytes({ ...base, mismatches: [...kept, mismatch], mismatchesOmitted: mismatches.length - kept.length - 1 }) > resultMaxBytes) break;
    kept.push(mismatch);
  }
  const fitted: VerificationEndedResult = { ...base, mismatches: kept, mismatchesOmitted: mismatches.length - kept.length };
  if (fitted.mismatchesOmitted === 0) delete fitted.mismatchesOmitted;
  // Still too long only when the cut message and a long backup name alone crowd it: cut the message more.
  return bytes(fitted) <= resultMaxBytes ? fitted : { ...fitted, message: cutToFit(fitted.message, (m) => bytes({ ...fitted, message: m }) <= resultMaxBytes) };
}

/** The longest prefix of `text` (whole code points, "…" appended when cut) that `fits`. */
function cutToFit(text: string, fits: (candidate: string) => boolean): string {
  if (fits(text)) return text;
  const chars = Array.from(text);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(chars.slice(0, mid).join('') + '…')) low = mid;
    else high = mid - 1;
  }
  return chars.slice(0, low).join('') + '…';
}

// --- end of verification in the cluster ---

/** A message as one line: its lines trimmed and joined ("; " between lines, " " after a colon). */
export function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.reduce((out, line) => (out === '' ? line : `${out}${out.endsWith(':') ? ' ' : '; '}${line}`), '');
}

/**
 * The failure result for `err` (as the CLI shows it: code and message), with `extra` fields
 * (`name`, …) before the reason. The message is one line, cut with "…" so the whole fits.
 */
export function failedResult(err: AppError, extra: Record<string, unknown> = {}): FailedResult {
  const doc: FailedResult = { phase: 'Failed', ...extra, reason: err.code, message: oneLine(err.message) };
  if (bytes(doc) <= resultMaxBytes) return doc;
  // Cut by code points, so a character is never split; JSON escapes make the bound loose, so check.
  const chars = Array.from(doc.message);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (bytes({ ...doc, message: chars.slice(0, mid).join('') + '…' }) <= resultMaxBytes) low = mid;
    else high = mid - 1;
  }
  return { ...doc, message: chars.slice(0, low).join('') + '…' };
}

/** The text written: compact JSON, no newline (Kubernetes shows the message as it is). */
function serialize(doc: object): Buffer {
  const text = Buffer.from(JSON.stringify(doc));
  if (text.length > resultMaxBytes) throw new AppError('INTERNAL', `a result of ${text.length} bytes does not fit in ${resultMaxBytes}`);
  return text;
}

/**
 * Writes `doc` to `path` in one write call, replacing what was there. One write of at most 4 KiB
 * to a regular file is seen whole or not at all by a reader after the process ends; a rename
 * would not do, as `/dev/termination-log` is a file the kubelet mounts (it cannot be replaced,
 * and /dev is not writable). A new file is made 0600 whatever the config's `umask`: the result
 * may be written before the config is read (a bad flag); an existing one keeps its mode. Throws
 * RESULT_FILE_UNWRITABLE naming the path.
 */
export async function writeResultFile(path: string, doc: object): Promise<void> {
  const text = serialize(doc);
  try {
    const handle = await open(path, 'w', privateModes.file);
    try {
      const { bytesWritten } = await handle.write(text, 0, text.length, 0);
      if (bytesWritten !== text.length) throw new Error(`only ${bytesWritten} of ${text.length} bytes were written`);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw unwritable(path, err);
  }
}

/** writeResultFile, blocking: for the last moment of a process ended at once (a second Ctrl-C). */
export function writeResultFileSync(path: string, doc: object): void {
  const text = serialize(doc);
  const fd = openSync(path, 'w', privateModes.file);
  try {
    writeSync(fd, text, 0, text.length, 0);
  } finally {
    closeSync(fd);
  }
}

function unwritable(path: string, err: unknown): AppError {
  return new AppError('RESULT_FILE_UNWRITABLE', `cannot write the result file ${path}: ${errorMessage(err)}`, 1, {
    cause: err,
    hint: 'check --result-file: its folder must exist and be writable',
  });
}

/**
 * `--result-file`'s value read from the raw arguments, for a run that failed before its flags were
 * parsed (an unknown flag, a bad value): the failure must still reach the file.
 */
export function resultFileFromArgv(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (arg === '--result-file') return argv[i + 1];
    if (arg.startsWith('--result-file=')) return arg.slice('--result-file='.length);
  }
  return undefined;
}

/**
 * The result file of one command run: knows the path once the flags are parsed (or from the raw
 * arguments when they could not be), writes the success or the failure once, and, while the run
 * is under way, leaves a Failed/ABORTED result should the process be ended at once (a second
 * Ctrl-C or SIGTERM, see base-command.ts).
 */
export class ResultFile {
  private path: string | undefined;
  /** The outcome being written (or written): set once, so the first outcome stands. */
  private outcome: object | undefined;
  /** The outcome's write has completed. */
  private written = false;
  private dropLastResort: (() => void) | undefined;

  /**
   * @param argv the command's raw arguments, for a failure before the flags are parsed
   * @param failedFields what a failure result holds beside reason and message, read when it is written
   */
  constructor(
    private readonly argv: readonly string[],
    private readonly failedFields: () => Record<string, unknown> = () => ({}),
  ) {}

  /** Called with `--result-file`'s value once parsed (nothing happens without one). */
  start(path: string | undefined): void {
    this.path = path;
    if (path === undefined) return;
    // A write under way when the process is ended would leave the file empty: it is done again, whole.
    this.dropLastResort = atLastResort(() => {
      if (!this.written) writeResultFileSync(path, this.outcome ?? failedResult(new AbortedError('the process was ended at once (a second signal)'), this.failedFields()));
    });
  }

  /** Writes the result of a run that succeeded; throws RESULT_FILE_UNWRITABLE. */
  async succeeded(doc: object): Promise<void> {
    if (this.path === undefined || this.outcome !== undefined) return;
    this.outcome = doc;
    await this.write(this.path, doc);
  }

  /**
   * Writes the failure result for `err` (shown as the CLI shows it), unless an outcome was written
   * already (a failure to write the success result leaves that one). A file that cannot be
   * written is reported on stderr; the run's own error is what the process exits with.
   */
  async failed(err: AppError): Promise<void> {
    const path = this.path ?? resultFileFromArgv(this.argv);
    if (path === undefined || this.outcome !== undefined) return;
    const doc = failedResult(err, this.failedFields());
    this.outcome = doc;
    try {
      await this.write(path, doc);
    } catch (writeErr) {
      process.stderr.write(`warning: ${errorMessage(writeErr)}\n`);
    }
  }

  private async write(path: string, doc: object): Promise<void> {
    try {
      await writeResultFile(path, doc);
    } finally {
      this.written = true;
      this.dropLastResort?.();
    }
  }
}
