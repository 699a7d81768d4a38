/** Formatting of the benchmark's results: tables, ratios, targets. */

/** The targets of the issue; reported beside the figures, never asserted. */
export const targets = {
  /** bloodraven's best dump time over mariadb-dump | zstd's. */
  timeRatioVsMariadbDump: 0.8,
  /** bloodraven's peak RSS at every size, in bytes (decimal MB, as bloodraven prints sizes). */
  peakRssBytes: 300e6,
  /** bloodraven restore bootstrap's best time over myloader -t 2's. */
  restoreTimeRatioVsMyloader: 0.7,
  /** bloodraven restore bootstrap's peak RSS, in bytes. */
  restorePeakRssBytes: 300e6,
  /** bloodraven's best encrypted dump time over its best plain one. */
  encryptedTimeRatio: 1.1,
  /** Many objects: bloodraven's best time over mydumper's (backup) and myloader's (restore). */
  objectsTimeRatio: 2.0,
  /** Many objects: bloodraven restore bootstrap's peak RSS, in bytes. */
  objectsRestorePeakRssBytes: 300e6,
};

/** @param {number} bytes */
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

const ratio = (a, b) => (a !== undefined && b ? a / b : undefined);
const verdict = (value, limit) => (value === undefined ? 'n/a' : value <= limit ? 'PASS' : 'MISS');

/** A plain-text table; the first `leftColumns` columns are left-aligned, the rest right-aligned. */
function table(header, rows, leftColumns = 1) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * The table of one pass.
 * @param {Array<{ label: string, bestMs: number, timesMs: number[], outputBytes?: number, files?: number, peakRssBytes?: number }>} cases
 *   what runPass returns
 */
export function renderCases(cases) {
  const rows = cases.map((c) => [
    c.label,
    formatMs(c.bestMs),
    c.timesMs.map((t) => (t / 1000).toFixed(2)).join(' / '),
    formatBytes(c.outputBytes),
    String(c.files ?? '-'),
    c.peakRssBytes === undefined ? '-' : formatBytes(c.peakRssBytes),
  ]);
  return table(['tool', 'best', 'all runs (s)', 'output', 'files', 'peak RSS'], rows);
}

/**
 * Ratios and targets over all passes.
 * @param {{ id: string, label: string, cases: Array<{ id: string, bestMs: number, peakRssBytes?: number }> }[]} passes
 * @returns {{ text: string, comparisons: object[] }}
 */
export function renderComparisons(passes) {
  const comparisons = [];
  const lines = [];
  for (const pass of passes) {
    const get = (id) => pass.cases.find((c) => c.id === id);
    const br = get('bloodraven');
    if (!br) continue;
    const md = get('mariadb-dump');
    const my = get('mydumper');
    if (md) {
      const r = ratio(br.bestMs, md.bestMs);
      const v = verdict(r, targets.timeRatioVsMariadbDump);
      comparisons.push({ pass: pass.id, what: 'time bloodraven / mariadb-dump|zstd', value: r, target: `<= ${targets.timeRatioVsMariadbDump}`, verdict: v });
      lines.push([`${pass.id}`, 'time  bloodraven / mariadb-dump | zstd -3', r.toFixed(2), `<= ${targets.timeRatioVsMariadbDump.toFixed(2)}`, v]);
    }
    if (my) {
      const r = ratio(br.bestMs, my.bestMs);
      comparisons.push({ pass: pass.id, what: 'time bloodraven / mydumper', value: r, target: null, verdict: null });
      lines.push([`${pass.id}`, 'time  bloodraven / mydumper -t 2 -c', r.toFixed(2), '(none)', '']);
    }
    const enc = get('bloodraven-encrypted');
    if (enc) {
      const r = ratio(enc.bestMs, br.bestMs);
      const ve = verdict(r, targets.encryptedTimeRatio);
      comparisons.push({ pass: pass.id, what: 'time bloodraven encrypted / plain', value: r, target: `<= ${targets.encryptedTimeRatio}`, verdict: ve });
      lines.push([`${pass.id}`, 'time  bloodraven encrypted / plain', r.toFixed(2), `<= ${targets.encryptedTimeRatio.toFixed(2)}`, ve]);
    }
    const v = verdict(br.peakRssBytes, targets.peakRssBytes);
    comparisons.push({ pass: pass.id, what: 'bloodraven peak RSS', value: br.peakRssBytes ?? null, target: `<= ${targets.peakRssBytes}`, verdict: v });
    lines.push([`${pass.id}`, 'bloodraven peak RSS', formatBytes(br.peakRssBytes), `<= ${formatBytes(targets.peakRssBytes)}`, v]);
  }
  const rss = passes.map((p) => p.cases.find((c) => c.id === 'bloodraven')?.peakRssBytes);
  const time = passes.map((p) => p.cases.find((c) => c.id === 'bloodraven')?.bestMs);
  if (passes.length > 1 && rss[0] && rss[1]) {
    const r = rss[1] / rss[0];
    comparisons.push({ pass: `${passes[1].id}/${passes[0].id}`, what: 'bloodraven peak RSS growth', value: r, target: null, verdict: null });
    lines.push([`${passes[1].id} vs ${passes[0].id}`, 'bloodraven peak RSS growth', `x${r.toFixed(2)}`, '(flat ~ x1.0)', '']);
  }
  if (passes.length > 1 && time[0] && time[1]) {
    const r = time[1] / time[0];
    comparisons.push({ pass: `${passes[1].id}/${passes[0].id}`, what: 'bloodraven time growth', value: r, target: null, verdict: null });
    lines.push([`${passes[1].id} vs ${passes[0].id}`, 'bloodraven time growth', `x${r.toFixed(2)}`, '(linear ~ x2.0)', '']);
  }
  if (!lines.length) return { text: '(bloodraven was not run: nothing to compare)', comparisons };
  return { text: table(['pass', 'measure', 'value', 'target', ''], lines, 2), comparisons };
}

/**
 * The table of one restore pass.
 * @param {Array<{ label: string, bestMs: number, timesMs: number[], inputBytes?: number, binlogBytes?: number, peakRssBytes?: number }>} cases
 */
export function renderRestoreCases(cases) {
  const rows = cases.map((c) => [
    c.label,
    formatMs(c.bestMs),
    c.timesMs.map((t) => (t / 1000).toFixed(2)).join(' / '),
    formatBytes(c.inputBytes),
    c.peakRssBytes === undefined ? '-' : formatBytes(c.peakRssBytes),
    c.binlogBytes === undefined ? '-' : formatBytes(c.binlogBytes),
  ]);
  return table(['restore', 'best', 'all runs (s)', 'input', 'peak RSS', 'binlog written'], rows);
}

/**
 * Ratios and targets of the restore passes.
 * @param {{ id: string, cases: Array<{ id: string, bestMs: number, peakRssBytes?: number }> }[]} passes
 * @returns {{ lines: string[][], comparisons: object[] }}
 */
function restoreComparisons(passes) {
  const comparisons = [];
  const lines = [];
  for (const pass of passes) {
    const get = (id) => pass.cases.find((c) => c.id === id);
    const br = get('bloodraven-restore');
    if (!br) continue;
    const my = get('myloader');
    const md = get('mariadb');
    if (my) {
      const r = ratio(br.bestMs, my.bestMs);
      const v = verdict(r, targets.restoreTimeRatioVsMyloader);
      comparisons.push({ pass: pass.id, what: 'restore time bloodraven / myloader -t 2', value: r, target: `<= ${targets.restoreTimeRatioVsMyloader}`, verdict: v });
      lines.push([pass.id, 'restore time  bloodraven / myloader -t 2', r.toFixed(2), `<= ${targets.restoreTimeRatioVsMyloader.toFixed(2)}`, v]);
    }
    if (md) {
      const r = ratio(br.bestMs, md.bestMs);
      comparisons.push({ pass: pass.id, what: 'restore time bloodraven / mariadb < dump.sql', value: r, target: null, verdict: null });
      lines.push([pass.id, 'restore time  bloodraven / mariadb < dump.sql', r.toFixed(2), '(none)', '']);
    }
    const v = verdict(br.peakRssBytes, targets.restorePeakRssBytes);
    comparisons.push({ pass: pass.id, what: 'bloodraven restore peak RSS', value: br.peakRssBytes ?? null, target: `<= ${targets.restorePeakRssBytes}`, verdict: v });
    lines.push([pass.id, 'bloodraven restore peak RSS', formatBytes(br.peakRssBytes), `<= ${formatBytes(targets.restorePeakRssBytes)}`, v]);
  }
  const br = passes.map((p) => p.cases.find((c) => c.id === 'bloodraven-restore')).filter(Boolean);
  if (passes.length > 1 && br.length > 1 && br[0].peakRssBytes && br[1].peakRssBytes) {
    const r = br[1].peakRssBytes / br[0].peakRssBytes;
    comparisons.push({ pass: `${passes[1].id}/${passes[0].id}`, what: 'bloodraven restore peak RSS growth', value: r, target: null, verdict: null });
    lines.push([`${passes[1].id} vs ${passes[0].id}`, 'bloodraven restore peak RSS growth', `x${r.toFixed(2)}`, '(flat ~ x1.0)', '']);
  }
  if (passes.length > 1 && br.length > 1) {
    const r = br[1].bestMs / br[0].bestMs;
    comparisons.push({ pass: `${passes[1].id}/${passes[0].id}`, what: 'bloodraven restore time growth', value: r, target: null, verdict: null });
    lines.push([`${passes[1].id} vs ${passes[0].id}`, 'bloodraven restore time growth', `x${r.toFixed(2)}`, '(linear ~ x2.0)', '']);
  }
  return { lines, comparisons };
}

/**
 * Ratios and targets of the restore passes, as a table.
 * @param {{ id: string, cases: Array<{ id: string, bestMs: number, peakRssBytes?: number }> }[]} passes
 * @returns {{ text: string, comparisons: object[] }}
 */
export function renderRestoreComparisons(passes) {
  const { lines, comparisons } = restoreComparisons(passes);
  if (!lines.length) return { text: '(bloodraven restore bootstrap was not run: nothing to compare)', comparisons };
  return { text: table(['pass', 'measure', 'value', 'target', ''], lines, 2), comparisons };
}

const seconds = (x) => (x === undefined || x === null ? '-' : `${x.toFixed(2)} s`);

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
