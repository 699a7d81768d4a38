/** Formatting of the benchmark's results: the tables of the passes, and the many-objects summary. */

/** The targets; reported beside the figures, never asserted. */
export const targets = {
  /** Issue 12: bloodraven backup -t 2's best wall time over mariadb-dump | zstd -3's. */
  timeRatioVsMariadbDump: 0.6,
  /** Issue 12: bloodraven backup -t 2's best wall time over -t 1's (zstd: the client is the bottleneck). */
  threads2VsThreads1: 0.75,
  /** Issue 12: client CPU per GB of rows of bloodraven --compression none over mariadb-dump > /dev/null's. */
  cpuPerGbVsMariadbDump: 1.5,
  /** Issue 12: bloodraven restore -t 2's best time over myloader -t 2's, under the same binary-log setting. */
  restoreTimeRatioVsMyloader: 0.7,
  /** Issue 12: bloodraven's peak RSS at 1x and 4x, backups and restores, in bytes (decimal MB, as bloodraven prints sizes). */
  peakRssBytes: 300e6,
  /** bloodraven's best encrypted dump time over its best plain one (same threads). */
  encryptedTimeRatio: 1.1,
  /** Many objects: bloodraven's best time over mydumper's (backup) and myloader's (restore). */
  objectsTimeRatio: 2.0,
  /** Many objects: bloodraven restore bootstrap's peak RSS, in bytes. */
  objectsRestorePeakRssBytes: 300e6,
};

/** @param {number | undefined | null} bytes */
export function formatBytes(bytes) {
  if (bytes === undefined || bytes === null || Number.isNaN(bytes)) return '-';
  const steps = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < steps.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${steps[i]}`;
}

/** @param {number} ms */
export function formatMs(ms) {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** CPU or wall seconds with two decimals, or '-'. */
export const seconds = (x) => (x === undefined || x === null ? '-' : `${x.toFixed(2)} s`);

export const ratio = (a, b) => (a !== undefined && a !== null && b ? a / b : undefined);
export const verdict = (value, limit) => (value === undefined ? 'n/a' : value <= limit ? 'PASS' : 'MISS');

/**
 * Rates of one case over the rows of its data set (`rowBytes`, decimal MB): rows MB per second of
 * wall time, rows MB per client CPU second, and client and server CPU seconds per GB of rows.
 * @param {{ bestMs: number, cpuSeconds?: number, serverCpuSeconds?: number }} c
 * @param {number | undefined} rowBytes
 */
export function rates(c, rowBytes) {
  const mb = rowBytes === undefined ? undefined : rowBytes / 1e6;
  const gb = rowBytes === undefined ? undefined : rowBytes / 1e9;
  return {
    rowsMBps: mb === undefined ? undefined : mb / (c.bestMs / 1000),
    rowsMBperCpuSecond: ratio(mb, c.cpuSeconds),
    cpuSecondsPerGB: c.cpuSeconds === undefined || !gb ? undefined : c.cpuSeconds / gb,
    serverCpuSecondsPerGB: c.serverCpuSeconds === undefined || !gb ? undefined : c.serverCpuSeconds / gb,
  };
}

const fixed = (x, digits = 1) => (x === undefined || x === null ? '-' : x.toFixed(digits));

/** A plain-text table; the first `leftColumns` columns are left-aligned, the rest right-aligned. */
export function table(header, rows, leftColumns = 1) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * The backup table of one or more passes: per case the best wall time (and every run's), client
 * and server CPU seconds, rows MB/s of wall time and per client CPU second, output, peak RSS.
 * @param {Array<{ id: string, rowBytes?: number, cases: object[] }>} passes  cases: what runPass returns
 */
export function renderCases(passes) {
  const rows = passes.flatMap((p) =>
    p.cases.map((c) => {
      const r = rates(c, p.rowBytes);
      return [
        p.id,
        c.label,
        formatMs(c.bestMs),
        c.timesMs.map((t) => (t / 1000).toFixed(2)).join(' / '),
        seconds(c.cpuSeconds),
        seconds(c.serverCpuSeconds),
        fixed(r.rowsMBps),
        fixed(r.rowsMBperCpuSecond),
        formatBytes(c.outputBytes),
        String(c.files ?? '-'),
        formatBytes(c.peakRssBytes),
      ];
    }),
  );
  return table(['size', 'backup', 'best', 'all runs (s)', 'client CPU', 'server CPU', 'rows MB/s', 'rows MB/CPU s', 'output', 'files', 'peak RSS'], rows, 2);
}

/**
 * The restore table of one or more passes: as renderCases, with the binary-log setting and what
 * each run wrote to the binary log instead of the output.
 * @param {Array<{ id: string, rowBytes?: number, cases: object[] }>} passes
 */
export function renderRestoreCases(passes) {
  const rows = passes.flatMap((p) =>
    p.cases.map((c) => {
      const r = rates(c, p.rowBytes);
      return [
        p.id,
        c.binlog ?? '-',
        c.label,
        formatMs(c.bestMs),
        c.timesMs.map((t) => (t / 1000).toFixed(2)).join(' / '),
        seconds(c.cpuSeconds),
        seconds(c.serverCpuSeconds),
        fixed(r.rowsMBps),
        fixed(r.rowsMBperCpuSecond),
        formatBytes(c.inputBytes),
        formatBytes(c.peakRssBytes),
        formatBytes(c.binlogBytes),
      ];
    }),
  );
  return table(['size', 'binlog', 'restore', 'best', 'all runs (s)', 'client CPU', 'server CPU', 'rows MB/s', 'rows MB/CPU s', 'input', 'peak RSS', 'binlog written'], rows, 3);
}

/**
 * The many-objects pass: each tool's best wall time with the client's and the server's CPU
 * seconds of that run, then bloodraven over its peer (time and CPU) beside the targets, and
 * bloodraven's restore peak RSS.
 * @param {{ id: string, backups: object[], restores: object[] }} pass  what run.js runObjects returns
 * @returns {{ text: string, comparisons: object[] }}
 */
export function renderObjectsSummary(pass) {
  const comparisons = [];
  const rows = [];
  const pairs = [
    ['backup', pass.backups, 'bloodraven', 'mydumper'],
    ['restore', pass.restores, 'bloodraven-restore', 'myloader'],
  ];
  for (const [what, cases, ours, peer] of pairs) {
    const br = cases.find((c) => c.id === ours);
    const other = cases.find((c) => c.id === peer);
    for (const c of [br, other].filter(Boolean)) {
      rows.push([what, c.label, formatMs(c.bestMs), seconds(c.cpuSeconds), seconds(c.serverCpuSeconds), c.peakRssBytes === undefined ? '-' : formatBytes(c.peakRssBytes)]);
    }
    if (br && other) {
      const r = ratio(br.bestMs, other.bestMs);
      const v = verdict(r, targets.objectsTimeRatio);
      comparisons.push({ pass: pass.id, what: `${what} time bloodraven / ${peer}`, value: r, target: `<= ${targets.objectsTimeRatio}`, verdict: v });
      const cpu = ratio(br.cpuSeconds, other.cpuSeconds);
      const serverCpu = ratio(br.serverCpuSeconds, other.serverCpuSeconds);
      const both = ratio(
        br.cpuSeconds === undefined || br.serverCpuSeconds === undefined ? undefined : br.cpuSeconds + br.serverCpuSeconds,
        other.cpuSeconds === undefined || other.serverCpuSeconds === undefined ? undefined : other.cpuSeconds + other.serverCpuSeconds,
      );
      comparisons.push({ pass: pass.id, what: `${what} CPU (client + server) bloodraven / ${peer}`, value: both ?? null, target: null, verdict: null });
      rows.push([what, `ratio bloodraven / ${peer}`, `${r.toFixed(2)} ${v} (<= ${targets.objectsTimeRatio.toFixed(1)})`, cpu === undefined ? '-' : cpu.toFixed(2), serverCpu === undefined ? '-' : serverCpu.toFixed(2), '']);
    }
  }
  const br = pass.restores.find((c) => c.id === 'bloodraven-restore');
  if (br) {
    const v = verdict(br.peakRssBytes, targets.objectsRestorePeakRssBytes);
    comparisons.push({ pass: pass.id, what: 'many objects: bloodraven restore peak RSS', value: br.peakRssBytes ?? null, target: `<= ${targets.objectsRestorePeakRssBytes}`, verdict: v });
    rows.push(['restore', 'bloodraven restore peak RSS', formatBytes(br.peakRssBytes), '', '', `${v} (<= ${formatBytes(targets.objectsRestorePeakRssBytes)})`]);
  }
  const text = [`many objects (${pass.label}):`, table(['', 'tool', 'best wall', 'CPU (tool)', 'CPU (server)', 'peak RSS'], rows, 2)].join('\n');
  return { text, comparisons };
}
