/**
 * Progress of a dump on the terminal: listr2 tasks with live figures on a TTY, plain lines
 * (one per phase and one every few seconds during data) otherwise, always on stderr so stdout
 * keeps only results.
 */
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import type { DumpPhase, DumpProgress } from '../lib/dump/dump-instance.js';
import { formatLogLine, type LogEntry } from '../lib/log.js';
import { formatBytes, formatDuration } from '../lib/sizes.js';

export interface ProgressView {
  update(progress: DumpProgress): void;
  log(entry: LogEntry): void;
  /** Ends the display; with an error, the current step is shown as failed. */
  finish(error?: unknown): Promise<void>;
}

const phaseTitles: Record<DumpPhase, string> = {
  connecting: 'Connect to the server',
  snapshot: 'Take a consistent snapshot',
  ddl: 'Dump schema definitions',
  data: 'Dump table data',
  finishing: 'Finish the dump',
};
const phases = Object.keys(phaseTitles) as DumpPhase[];

/** One line of figures: tables, rows, bytes, rate, ETA. */
export function describeProgress(p: DumpProgress, dataStartedAt: number | undefined, now: number): string {
  const parts = [`${p.tablesDone}/${p.tablesTotal} tables`];
  // Row counts come from server statistics: an estimate, never shown as done before it is.
  const finished = p.tablesTotal > 0 && p.tablesDone === p.tablesTotal;
  const rowsPct = p.rowsEstimate > 0 && !finished ? ` (~${Math.min(99, Math.floor((p.rows / p.rowsEstimate) * 100))}%)` : '';
  parts.push(`${p.rows.toLocaleString('en-US')} rows${rowsPct}`);
  parts.push(`${formatBytes(p.bytes)} read, ${formatBytes(p.storedBytes)} stored`);
  if (dataStartedAt !== undefined && now > dataStartedAt) {
    const seconds = (now - dataStartedAt) / 1000;
    const rate = p.bytes / seconds;
    parts.push(`${formatBytes(rate)}/s`);
    const rowRate = p.rows / seconds;
    if (rowRate > 0 && p.rowsEstimate > p.rows) parts.push(`ETA ${formatDuration(((p.rowsEstimate - p.rows) / rowRate) * 1000)}`);
  }
  return parts.join(' · ');
}

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

export function createTtyProgress(now: () => number = Date.now): ProgressView {
  const gates = phases.map(() => gate());
  // Only the output line of a running task is touched.
  const tasks: Array<{ output: string } | undefined> = [];
  let current = -1;
  let dataStartedAt: number | undefined;
  let lastDraw = 0;
  const held: LogEntry[] = [];
  const list = new Listr<unknown, 'default', 'simple'>(
    phases.map((phase, i) => ({
      title: phaseTitles[phase],
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
      const index = phases.indexOf(p.phase);
      while (current < index) {
        if (current >= 0) gates[current]!.resolve();
        current++;
      }
      if (p.phase === 'data') {
        dataStartedAt ??= now();
        const t = now();
        if (t - lastDraw >= 200) {
          lastDraw = t;
          const task = tasks[index];
          if (task) task.output = describeProgress(p, dataStartedAt, t);
        }
      }
    },
    log(entry) {
      held.push(entry);
      const task = tasks[Math.max(0, current)];
      if (task && entry.level !== 'debug') task.output = formatLogLine(entry);
    },
    async finish(error) {
      if (error === undefined) {
        for (const g of gates) g.resolve();
      } else {
        gates[Math.max(0, current)]!.reject(error);
      }
      await running;
      // Warnings drawn under a task vanish with the display; repeat them once it is gone.
      for (const e of held) if (e.level === 'warn' || e.level === 'error') process.stderr.write(formatLogLine(e) + '\n');
    },
  };
}

export function createPlainProgress(now: () => number = Date.now, intervalMs = 5000): ProgressView {
  let phase: DumpPhase | undefined;
  let dataStartedAt: number | undefined;
  let lastLine = 0;
  let last: DumpProgress | undefined;
  return {
    update(p) {
      last = p;
      if (p.phase !== phase) {
        phase = p.phase;
        if (phase === 'data') dataStartedAt = now();
        process.stderr.write(`progress: ${phaseTitles[phase].toLowerCase()}\n`);
        return;
      }
      const t = now();
      if (p.phase === 'data' && t - lastLine >= intervalMs) {
        lastLine = t;
        process.stderr.write(`progress: ${describeProgress(p, dataStartedAt, t)}\n`);
      }
    },
    log(entry) {
      process.stderr.write(formatLogLine(entry) + '\n');
    },
    finish(error) {
      if (error === undefined && last && dataStartedAt !== undefined) {
        process.stderr.write(`progress: ${describeProgress(last, dataStartedAt, now())}\n`);
      }
      return Promise.resolve();
    },
  };
}
