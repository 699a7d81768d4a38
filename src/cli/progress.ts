/**
 * Progress of long work on the terminal: listr2 tasks with live figures on a TTY, plain lines
 * (one per phase and one every few seconds during the main phase) otherwise, always on stderr so
 * stdout keeps only results. The same view serves dumps and loads; each describes its phases
 * and how to print a report.
 */
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import type { DumpPhase, DumpProgress } from '../lib/dump/dump-instance.js';
import type { LoadPhase, LoadProgressReport } from '../lib/load/loader.js';
import { formatLogLine, type LogEntry } from '../lib/log.js';
import { formatBytes, formatDuration } from '../lib/sizes.js';

export interface ProgressView<P> {
  update(progress: P): void;
  log(entry: LogEntry): void;
  /** Ends the display; with an error, the current step is shown as failed. */
  finish(error?: unknown): Promise<void>;
}

export interface ProgressSpec<P> {
  /** Phases in order, with their titles. */
  phases: ReadonlyArray<readonly [string, string]>;
  phaseOf(p: P): string;
  /** The phase whose figures are worth showing live. */
  busyPhase: string;
  /** One line of figures; `startedAt` is when the busy phase began. */
  describe(p: P, startedAt: number | undefined, now: number): string;
}

function rateAndEta(done: number, total: number, startedAt: number | undefined, now: number): string[] {
  if (startedAt === undefined || now <= startedAt) return [];
  const seconds = (now - startedAt) / 1000;
  const rate = done / seconds;
  const parts = [`${formatBytes(rate)}/s`];
  if (rate > 0 && total > done) parts.push(`ETA ${formatDuration(((total - done) / rate) * 1000)}`);
  return parts;
}

/** Figures of a dump: tables, rows, bytes, rate, ETA (rows are the server's estimate). */
export const dumpProgressSpec: ProgressSpec<DumpProgress> = {
  phases: [
    ['connecting', 'Connect to the server'],
    ['snapshot', 'Take a consistent snapshot'],
    ['ddl', 'Dump schema definitions'],
    ['data', 'Dump table data'],
    ['finishing', 'Finish the dump'],
  ] satisfies ReadonlyArray<readonly [DumpPhase, string]>,
  phaseOf: (p) => p.phase,
  busyPhase: 'data',
  describe(p, startedAt, now) {
    const finished = p.tablesTotal > 0 && p.tablesDone === p.tablesTotal;
    // Row counts come from server statistics: an estimate, never shown as done before it is.
    const pct = p.rowsEstimate > 0 && !finished ? ` (~${Math.min(99, Math.floor((p.rows / p.rowsEstimate) * 100))}%)` : '';
    const parts = [`${p.tablesDone}/${p.tablesTotal} tables`, `${p.rows.toLocaleString('en-US')} rows${pct}`, `${formatBytes(p.bytes)} read, ${formatBytes(p.storedBytes)} stored`];
    if (startedAt !== undefined && now > startedAt) {
      const seconds = (now - startedAt) / 1000;
      parts.push(`${formatBytes(p.bytes / seconds)}/s`);
      const rowRate = p.rows / seconds;
      if (rowRate > 0 && p.rowsEstimate > p.rows) parts.push(`ETA ${formatDuration(((p.rowsEstimate - p.rows) / rowRate) * 1000)}`);
    }
    return parts.join(' · ');
  },
};

/** Figures of a load: tables, files, rows, bytes of the dump's total, rate, ETA. */
export const loadProgressSpec: ProgressSpec<LoadProgressReport> = {
  phases: [
    ['checking', 'Read the dump and check the target'],
    ['ddl', 'Create schemas, tables, views and routines'],
    ['data', 'Load table data and build indexes'],
    ['finishing', 'Create triggers and events'],
  ] satisfies ReadonlyArray<readonly [LoadPhase, string]>,
  phaseOf: (p) => p.phase,
  busyPhase: 'data',
  describe(p, startedAt, now) {
    const pct = p.bytesTotal > 0 ? ` of ${formatBytes(p.bytesTotal)} (${Math.min(100, Math.floor((p.bytes / p.bytesTotal) * 100))}%)` : '';
    return [
      `${p.tablesDone}/${p.tablesTotal} tables`,
      `${p.filesDone}/${p.filesTotal} files`,
      `${p.rows.toLocaleString('en-US')} rows`,
      `${formatBytes(p.bytes)}${pct}`,
      ...rateAndEta(p.bytes, p.bytesTotal, startedAt, now),
    ].join(' · ');
  },
};

interface Gate {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function gate(): Gate {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export function createTtyProgress<P>(spec: ProgressSpec<P>, now: () => number = Date.now): ProgressView<P> {
  const ids = spec.phases.map(([id]) => id);
  const gates = ids.map(() => gate());
  // Only the output line of a running task is touched.
  const tasks: Array<{ output: string } | undefined> = [];
  let current = -1;
  let busySince: number | undefined;
  let lastDraw = 0;
  const held: LogEntry[] = [];
  const list = new Listr<unknown, 'default', 'simple'>(
    spec.phases.map(([, title], i) => ({
      title,
      task: async (_ctx: unknown, task: { output: string }) => {
        tasks[i] = task;
        await gates[i]!.promise;
      },
    })),
    {
      concurrent: false,
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: {
        collapseErrors: false,
        showErrorMessage: true,
        logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }),
      },
    },
  );
  const running = list.run().catch(() => undefined);
  return {
    update(p) {
      const phase = spec.phaseOf(p);
      const index = ids.indexOf(phase);
      while (current < index) {
        if (current >= 0) gates[current]!.resolve();
        current++;
      }
      if (phase !== spec.busyPhase) return;
      busySince ??= now();
      const t = now();
      if (t - lastDraw < 200) return;
      lastDraw = t;
      const task = tasks[index];
      if (task) task.output = spec.describe(p, busySince, t);
    },
    log(entry) {
      held.push(entry);
      const task = tasks[Math.max(0, current)];
      if (task && entry.level !== 'debug') task.output = formatLogLine(entry);
    },
    async finish(error) {
      if (error === undefined) for (const g of gates) g.resolve();
      else gates[Math.max(0, current)]!.reject(error);
      await running;
      // Warnings drawn under a task vanish with the display; repeat them once it is gone.
      for (const e of held) if (e.level === 'warn' || e.level === 'error') process.stderr.write(formatLogLine(e) + '\n');
    },
  };
}

export function createPlainProgress<P>(spec: ProgressSpec<P>, now: () => number = Date.now, intervalMs = 5000): ProgressView<P> {
  const titles = new Map(spec.phases);
  let phase: string | undefined;
  let busySince: number | undefined;
  let lastLine = 0;
  let last: P | undefined;
  return {
    update(p) {
      last = p;
      const current = spec.phaseOf(p);
      if (current !== phase) {
        phase = current;
        if (phase === spec.busyPhase) busySince = now();
        process.stderr.write(`progress: ${(titles.get(phase) ?? phase).toLowerCase()}\n`);
        return;
      }
      const t = now();
      if (current === spec.busyPhase && t - lastLine >= intervalMs) {
        lastLine = t;
        process.stderr.write(`progress: ${spec.describe(p, busySince, t)}\n`);
      }
    },
    log(entry) {
      process.stderr.write(formatLogLine(entry) + '\n');
    },
    finish(error) {
      if (error === undefined && last !== undefined && busySince !== undefined) process.stderr.write(`progress: ${spec.describe(last, busySince, now())}\n`);
      return Promise.resolve();
    },
  };
}

/** listr2 on a terminal (unless the output is JSON), plain lines otherwise. */
export function createProgressView<P>(spec: ProgressSpec<P>, json: boolean): ProgressView<P> {
  return process.stderr.isTTY && !json ? createTtyProgress(spec) : createPlainProgress(spec);
}
