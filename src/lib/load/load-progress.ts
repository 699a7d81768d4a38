/**
 * The load's resume log, kept beside the dump as `load-progress.<target>.json` in JSON Lines, as
 * MySQL Shell keeps its own: one line per step finished. A load started again skips what is
 * marked done and redoes the rest; redoing is safe because data is loaded with REPLACE, and a
 * table without a key that was not finished is emptied and loaded again whole.
 *
 * The log is named after the target's address, which a rebuilt server shares, so it proves
 * nothing by itself: before resuming, the restore plan checks that the target holds what the
 * log's done steps made (restore/target-checks.ts). The last line of a finished load is
 * LOAD-COMPLETE (one per schema loaded): a finished load run again is refused instead of quietly
 * doing nothing, while another schema of the same dump can still be loaded.
 *
 * Only `done` lines matter, so they are written in batches (a lost batch means some work is
 * redone, never skipped). Storage has no append (S3), so each batch rewrites the whole file: the
 * text is kept ready, growing by the new lines only, and batches are spaced so that writing takes
 * at most about 1/20 of the load's time (at least a second apart, more as a long log makes each
 * write slower) instead of one multi-megabyte write a second for tens of thousands of steps. The first line may name the run that holds the target's restore claim
 * (restore/target-claim.ts), so that a restore refused for it can say which process that is.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';

export type StepKind =
  | 'SCHEMA-DDL'
  | 'TABLE-DDL'
  | 'VIEW-DDL'
  | 'ROUTINES-DDL'
  | 'USERS'
  | 'TABLE-DATA'
  | 'TABLE-INDEX'
  | 'TRIGGERS-DDL'
  | 'EVENTS-DDL'
  | 'POST-SQL'
  | 'LOAD-COMPLETE';

export interface Step {
  op: StepKind;
  schema?: string;
  table?: string;
  /** Data file name, for TABLE-DATA. */
  chunk?: string;
}

/** A finished step as the log holds it; `rows` for TABLE-DATA is the rows the file added. */
export interface DoneStep extends Step {
  done: true;
  timestamp: number;
  rows?: number;
  bytes?: number;
}

/** The run that holds (or last held) the target's restore claim. */
export interface ProgressHolder {
  pid: number;
  host: string;
  /** The server's id of the connection holding the claim. */
  connectionId: number;
  since: string;
}

/**
 * The point-in-time replay that follows a completed load: when it began and, from the target's
 * GTID state just before it, what lets a rerun find what it applied (pitr/point-in-time.ts).
 */
export interface ReplayMark {
  /** The target time (RFC 3339) and the backup it starts from. */
  target: string;
  backup: string;
  since: string;
  /** The target's @@gtid_binlog_state before the first transaction; null when the replay cannot be traced (binary log off or skipped). */
  baseline: string | null;
  /** Set once the replay finished. */
  completedAt?: string;
}

/** Batches are written at least this far apart… */
const minFlushIntervalMs = 1000;
/** …and this many times as far apart as the last write took. */
const writeTimeShare = 20;

function stepKey(s: Step): string {
  return JSON.stringify([s.op, s.schema ?? null, s.table ?? null, s.chunk ?? null]);
}

export class LoadProgress {
  private readonly done = new Map<string, DoneStep>();
  private readonly lines: string[] = [];
  /** `lines`, joined and each ended with a newline: what the next write stores after the holder. */
  private body = '';
  /** How long the last write took, which spaces out the next. */
  private lastWriteMs = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private broken = false;
  /** Why the last write failed, once one has (writes stop then). */
  private writeFailure: string | null = null;
  /** Whether the file holds steps: an earlier run's, read at open, or a write of this run's. */
  private stored = false;
  private holderLine: string | null = null;
  private replayLine: string | null = null;
  private recordedReplay: ReplayMark | null = null;
  private recordedHolder: ProgressHolder | null = null;

  private constructor(
    private readonly store: ObjectStore | null,
    private readonly key: string,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** A log that remembers nothing and writes nothing (verify's scratch loads). */
  static disabled(logger: Logger): LoadProgress {
    return new LoadProgress(null, '', logger, Date.now);
  }

  /** Opens the log at `key`, reading what an earlier run finished (unless `reset`). */
  static async open(store: ObjectStore, key: string, options: { reset: boolean; logger: Logger; now: () => number }): Promise<LoadProgress> {
    const progress = new LoadProgress(store, key, options.logger, options.now);
    if (!options.reset && (await store.exists(key))) {
      const text = (await store.get(key)).toString('utf8');
      for (const raw of text.split('\n')) {
        if (!raw.trim()) continue;
        try {
          const line = JSON.parse(raw) as DoneStep & { holder?: ProgressHolder; replay?: ReplayMark };
          if (line.holder) progress.recordedHolder = line.holder;
          if (line.replay) {
            progress.recordedReplay = line.replay;
            progress.replayLine = raw;
          }
          if (line.done) {
            progress.stored = true;
            progress.done.set(stepKey(line), line);
            progress.lines.push(raw);
            progress.body += raw + '\n';
          }
        } catch {
          // A torn last line: that step is simply redone.
        }
      }
    }
    return progress;
  }

  /** Whether an earlier run left anything done (the load is resuming). */
  get resuming(): boolean {
    return this.done.size > 0;
  }

  /** Where the log is kept (for messages). */
  get file(): string {
    return this.key;
  }

  /** The run the file names as holding the target's restore claim (the last that did), or null. */
  get holder(): ProgressHolder | null {
    return this.recordedHolder;
  }

  /** Names this run as holding the claim; written with the next flush. */
  recordHolder(holder: ProgressHolder): void {
    this.recordedHolder = holder;
    if (!this.store) return;
    this.holderLine = JSON.stringify({ holder });
    this.dirty = true;
  }

  /** The point-in-time replay an earlier run (or this one) began after the load, or null. */
  get replay(): ReplayMark | null {
    return this.recordedReplay;
  }

  /** Records the replay's start or end; written with the next flush. */
  recordReplay(mark: ReplayMark): void {
    this.recordedReplay = mark;
    if (!this.store) return;
    this.replayLine = JSON.stringify({ replay: mark });
    this.dirty = true;
  }

  /** The steps an earlier run finished, in the order it finished them. */
  doneSteps(): DoneStep[] {
    return [...this.done.values()];
  }

  /** When earlier runs finished loading every one of `schemas` (LOAD-COMPLETE per schema), or null. */
  completedAt(schemas: readonly string[]): Date | null {
    const lines = schemas.map((schema) => this.done.get(stepKey({ op: 'LOAD-COMPLETE', schema })));
    if (lines.length === 0 || lines.some((l) => l === undefined)) return null;
    return new Date(Math.max(...lines.map((l) => l!.timestamp)));
  }

  /** Whether an earlier run finished any step of `schema`. */
  touched(schema: string): boolean {
    for (const line of this.done.values()) if (line.schema === schema) return true;
    return false;
  }

  isDone(step: Step): boolean {
    return this.done.has(stepKey(step));
  }

  /** The rows a finished TABLE-DATA step added, or undefined when it is not done. */
  rowsOf(step: Step): number | undefined {
    return this.done.get(stepKey(step))?.rows;
  }

  markDone(step: Step, extra: { rows?: number; bytes?: number } = {}): void {
    const key = stepKey(step);
    if (this.done.has(key)) return;
    const line: DoneStep = { ...step, done: true, timestamp: this.now(), ...extra };
    this.done.set(key, line);
    if (!this.store) return;
    const raw = JSON.stringify(line);
    this.lines.push(raw);
    this.body += raw + '\n';
    this.dirty = true;
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        void this.flush();
      },
      Math.max(minFlushIntervalMs, writeTimeShare * this.lastWriteMs),
    );
  }

  /** Takes steps back (their work was undone, a table emptied to be loaded again); written with the next flush. */
  forget(steps: readonly Step[]): void {
    const keys = new Set(steps.map(stepKey));
    let changed = false;
    for (const key of keys) changed = this.done.delete(key) || changed;
    if (!changed) return;
    const kept = this.lines.filter((raw) => {
      try {
        return !keys.has(stepKey(JSON.parse(raw) as Step));
      } catch {
        return false;
      }
    });
    this.lines.splice(0, this.lines.length, ...kept);
    this.body = kept.map((raw) => raw + '\n').join('');
    this.dirty = true;
  }

  /**
   * What a run started again can resume from, once the last flush has settled:
   * - `all`: every step finished so far is in the file;
   * - `partly`: writing failed after the file held some steps: a rerun resumes from those and redoes the rest;
   * - `none`: the file holds no step (it could never be written): a rerun cannot resume;
   * - `off`: no file is kept (a scratch load).
   */
  saved(): { state: 'all' | 'partly' | 'none' | 'off'; file: string; failure: string | null } {
    const state = !this.store ? 'off' : !this.broken ? 'all' : this.stored ? 'partly' : 'none';
    return { state, file: this.key, failure: this.writeFailure };
  }

  /** Writes what is not written yet. Never throws: without a log, a rerun just redoes more. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.writing.then(async () => {
      if (!this.store || !this.dirty || this.broken) return;
      this.dirty = false;
      const started = this.now();
      try {
        await this.store.put(this.key, (this.holderLine ? this.holderLine + '\n' : '') + (this.replayLine ? this.replayLine + '\n' : '') + this.body);
        this.lastWriteMs = Math.max(0, this.now() - started);
        if (this.lines.length > 0) this.stored = true;
      } catch (err) {
        this.broken = true;
        this.writeFailure = errorMessage(err);
        this.logger.warn(this.stored ? 'cannot write the load progress file; an interrupted load resumes from its last write and redoes the rest' : 'cannot write the load progress file; an interrupted load cannot be resumed', { file: this.key, reason: errorMessage(err) });
      }
    });
    await this.writing;
  }
}
