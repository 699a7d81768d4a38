/**
 * The summary of the sysbench passes: how each tool's cost grows from 1x to 4x the data, the
 * targets of issue 12 (Deliver 3) with the measured value and PASS or MISS, and the other ratios
 * (peers without a target, encryption's cost). Pure: takes what run.js collected, returns text and
 * the comparisons for latest.json. Other summaries (start-up, many objects) add their own
 * comparisons beside these in run.js.
 *
 * A pass here is { id: '1x' | '4x', rowBytes, cases } (backups) or the same with restore cases;
 * rowBytes is the size of the data set's uncompressed mariadb-dump output (server.js).
 */
import { formatBytes, formatMs, rates, ratio, table, targets, verdict } from './report.js';

/**
 * @typedef {object} Comparison
 * @property {string} pass          '1x', '4x', '4x/1x', …
 * @property {string} what
 * @property {number | null} value
 * @property {string | null} target  e.g. '<= 0.6'; null for a figure without a target
 * @property {'PASS' | 'MISS' | 'n/a' | null} verdict
 * @property {number} [issue]       the issue whose Deliver 3 sets the target
 * @property {string} [detail]      the figures the value comes from
 */

const find = (pass, id) => pass?.cases.find((c) => c.id === id);
const perGb = (x) => (x === undefined ? '-' : `${x.toFixed(2)} s/GB`);
const fixed2 = (x) => (x === undefined ? '-' : x.toFixed(2));

/**
 * How each tool's cost grows from the first size to the second (1x to 4x): wall time growth, and
 * client CPU, server CPU and peak RSS at both sizes. Linear cost: the same CPU per GB at both;
 * flat memory: the same peak RSS.
 * @param {object[]} passes     backup passes
 * @param {object[]} restored   restore passes
 * @returns {{ text: string, comparisons: Comparison[] }}
 */
export function renderScaling(passes, restored) {
  const comparisons = [];
  const rows = [];
  for (const [kind, list] of [
    ['backup', passes],
    ['restore', restored],
  ]) {
    const [small, big] = list;
    if (!small || !big) continue;
    const growth = `${big.id}/${small.id}`;
    for (const a of small.cases) {
      const b = find(big, a.id);
      if (!b) continue;
      const ra = rates(a, small.rowBytes);
      const rb = rates(b, big.rowBytes);
      const time = ratio(b.bestMs, a.bestMs);
      const cpuGrowth = ratio(rb.cpuSecondsPerGB, ra.cpuSecondsPerGB);
      const rssGrowth = ratio(b.peakRssBytes, a.peakRssBytes);
      rows.push([
        kind,
        a.label,
        `${formatMs(a.bestMs)} -> ${formatMs(b.bestMs)}`,
        time === undefined ? '-' : `x${time.toFixed(2)}`,
        `${perGb(ra.cpuSecondsPerGB)} -> ${perGb(rb.cpuSecondsPerGB)}`,
        `${perGb(ra.serverCpuSecondsPerGB)} -> ${perGb(rb.serverCpuSecondsPerGB)}`,
        `${formatBytes(a.peakRssBytes)} -> ${formatBytes(b.peakRssBytes)}`,
      ]);
      comparisons.push(
        { pass: growth, what: `${kind} ${a.label}: wall time growth`, value: time ?? null, target: null, verdict: null, detail: `rows x${fixed2(ratio(big.rowBytes, small.rowBytes))}` },
        { pass: growth, what: `${kind} ${a.label}: client CPU per GB growth`, value: cpuGrowth ?? null, target: null, verdict: null, detail: `${perGb(ra.cpuSecondsPerGB)} -> ${perGb(rb.cpuSecondsPerGB)} (linear: x1.00)` },
        { pass: growth, what: `${kind} ${a.label}: peak RSS growth`, value: rssGrowth ?? null, target: null, verdict: null, detail: `${formatBytes(a.peakRssBytes)} -> ${formatBytes(b.peakRssBytes)} (flat: x1.00)` },
      );
    }
  }
  if (!rows.length) return { text: '', comparisons };
  const [small, big] = passes.length > 1 ? passes : restored;
  const head = `scaling ${small.id} -> ${big.id} (rows ${formatBytes(small.rowBytes)} -> ${formatBytes(big.rowBytes)}, x${fixed2(ratio(big.rowBytes, small.rowBytes))}; linear cost keeps CPU per GB, flat memory keeps peak RSS):`;
  return { text: `${head}\n${table(['', 'tool', 'best wall', 'growth', 'client CPU per GB of rows', 'server CPU per GB', 'peak RSS'], rows, 2)}`, comparisons };
}

/**
 * The targets of issue 12 Deliver 3, each with the measured value and PASS, MISS or n/a (a case
 * it needs did not run):
 * - dump <= 0.6 x mariadb-dump | zstd -3 wall (bloodraven -t 2, zstd), at each size;
 * - threads 2 <= 0.75 x threads 1 wall (zstd, so the client is the bottleneck);
 * - client CPU per GB of rows <= 1.5 x mariadb-dump's, both without compression
 *   (bloodraven -t 2 --compression none against mariadb-dump > /dev/null);
 * - restore <= 0.7 x myloader -t 2 wall, binary log off on both sides and on on both sides;
 * - peak RSS <= 300 MB at 1x and 4x: the largest of bloodraven's backup cases, and of its restores.
 * @param {object[]} passes     backup passes
 * @param {object[]} restored   restore passes
 * @returns {{ text: string, comparisons: Comparison[] }}
 */
export function renderIssueTargets(passes, restored) {
  /** @type {Comparison[]} */
  const comparisons = [];
  // Limits of 1,000 and more are bytes (peak RSS), the others ratios.
  const show = (x, limit) => (limit >= 1000 ? formatBytes(x) : fixed2(x));
  const add = (pass, what, value, limit, detail) => {
    const v = verdict(value, limit);
    comparisons.push({ issue: 12, pass, what, value: value ?? null, target: `<= ${limit}`, verdict: v, detail });
    return [pass, what, show(value, limit), detail, `<= ${show(limit, limit)}`, v];
  };
  const rows = [];
  for (const p of passes) {
    const br = find(p, 'bloodraven');
    const md = find(p, 'mariadb-dump');
    if (br && md) {
      const r = ratio(br.bestMs, md.bestMs);
      rows.push(add(p.id, 'dump wall: bloodraven -t 2 / mariadb-dump | zstd -3', r, targets.timeRatioVsMariadbDump, `${formatMs(br.bestMs)} / ${formatMs(md.bestMs)}`));
    }
    const t1 = find(p, 'bloodraven-t1');
    if (br && t1) {
      const r = ratio(br.bestMs, t1.bestMs);
      rows.push(add(p.id, 'dump wall: threads 2 / threads 1 (zstd)', r, targets.threads2VsThreads1, `${formatMs(br.bestMs)} / ${formatMs(t1.bestMs)}`));
    }
    const none = find(p, 'bloodraven-none');
    const floor = find(p, 'mariadb-dump-null');
    if (none && floor) {
      const a = rates(none, p.rowBytes).cpuSecondsPerGB;
      const b = rates(floor, p.rowBytes).cpuSecondsPerGB;
      const r = ratio(a, b);
      rows.push(add(p.id, 'client CPU per GB of rows, no compression: bloodraven / mariadb-dump > /dev/null', r, targets.cpuPerGbVsMariadbDump, `${perGb(a)} / ${perGb(b)}`));
    }
  }
  for (const p of restored) {
    for (const [binlog, ours, peer] of [
      ['off', 'bloodraven-restore', 'myloader'],
      ['on', 'bloodraven-restore-binlog', 'myloader-binlog'],
    ]) {
      const br = find(p, ours);
      const my = find(p, peer);
      if (!br || !my) continue;
      const r = ratio(br.bestMs, my.bestMs);
      rows.push(add(p.id, `restore wall, binary log ${binlog} on both sides: bloodraven -t 2 / ${my.label}`, r, targets.restoreTimeRatioVsMyloader, `${formatMs(br.bestMs)} / ${formatMs(my.bestMs)}`));
    }
  }
  for (const [kind, list] of [
    ['backup', passes],
    ['restore', restored],
  ]) {
    for (const p of list) {
      const ours = p.cases.filter((c) => c.tool === 'bloodraven' && c.peakRssBytes !== undefined);
      if (!ours.length) continue;
      const top = ours.reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a));
      rows.push(add(p.id, `peak RSS, bloodraven ${kind} (largest of its ${ours.length} case${ours.length > 1 ? 's' : ''})`, top.peakRssBytes, targets.peakRssBytes, top.label));
    }
  }
  if (!rows.length) return { text: '', comparisons };
  return { text: `issue 12 targets (reported, not asserted):\n${table(['size', 'target', 'measured', 'from', 'limit', ''], rows, 2)}`, comparisons };
}

/**
 * Ratios beside the targets that are not issue 12's: encryption's cost (target <= 1.1), and the
 * peers without a target (mydumper, the mariadb client, threads 4).
 * @param {object[]} passes     backup passes
 * @param {object[]} restored   restore passes
 * @returns {{ text: string, comparisons: Comparison[] }}
 */
export function renderOtherRatios(passes, restored) {
  const comparisons = [];
  const rows = [];
  const add = (pass, what, a, b, limit) => {
    if (!a || !b) return;
    const r = ratio(a.bestMs, b.bestMs);
    const v = limit === undefined ? null : verdict(r, limit);
    comparisons.push({ pass, what, value: r ?? null, target: limit === undefined ? null : `<= ${limit}`, verdict: v, detail: `${formatMs(a.bestMs)} / ${formatMs(b.bestMs)}` });
    rows.push([pass, what, fixed2(r), `${formatMs(a.bestMs)} / ${formatMs(b.bestMs)}`, limit === undefined ? '(none)' : `<= ${limit.toFixed(2)}`, v ?? '']);
  };
  for (const p of passes) {
    add(p.id, 'dump wall: bloodraven -t 2 / mydumper -t 2 -c', find(p, 'bloodraven'), find(p, 'mydumper'));
    add(p.id, 'dump wall: threads 4 / threads 1 (zstd)', find(p, 'bloodraven-t4'), find(p, 'bloodraven-t1'));
    add(p.id, 'dump wall: bloodraven -t 2 encrypted / plain', find(p, 'bloodraven-encrypted'), find(p, 'bloodraven'), targets.encryptedTimeRatio);
  }
  for (const p of restored) {
    add(p.id, 'restore wall: threads 2 / threads 1 (binary log off)', find(p, 'bloodraven-restore'), find(p, 'bloodraven-restore-t1'));
    add(p.id, 'restore wall: threads 4 / threads 1 (binary log off)', find(p, 'bloodraven-restore-t4'), find(p, 'bloodraven-restore-t1'));
    add(p.id, 'restore wall, binary log off: bloodraven -t 2 / mariadb < dump.sql', find(p, 'bloodraven-restore'), find(p, 'mariadb'));
    add(p.id, 'restore wall, binary log on: bloodraven -t 2 / mariadb < dump.sql', find(p, 'bloodraven-restore-binlog'), find(p, 'mariadb-binlog'));
    add(p.id, 'restore wall: bloodraven -t 2, binary log on / off', find(p, 'bloodraven-restore-binlog'), find(p, 'bloodraven-restore'));
    add(p.id, 'restore wall: myloader -t 2, binary log on / off', find(p, 'myloader-binlog'), find(p, 'myloader'));
  }
  if (!rows.length) return { text: '', comparisons };
  return { text: `other ratios:\n${table(['size', 'ratio', 'value', 'from', 'target', ''], rows, 2)}`, comparisons };
}

/**
 * One line per data set: its rows, their bytes as counted here, and bloodraven's own count.
 * @param {Array<{ id: string, label: string, rowBytes?: number, data: { rows: number }, cases?: Array<{ runs: object[] }> }>} sizes
 */
export function renderDataSets(sizes) {
  return sizes
    .map((s) => {
      const dataBytes = (s.cases ?? []).flatMap((c) => c.runs).find((r) => r.record?.dataBytes !== undefined)?.record?.dataBytes;
      const theirs = dataBytes === undefined ? '' : `; bloodraven's record counts ${formatBytes(dataBytes)} (dataBytes)`;
      return `  ${s.id}: ${s.label}, ${s.data.rows.toLocaleString('en-US')} rows, ${formatBytes(s.rowBytes)} of rows (mariadb-dump's uncompressed output)${theirs}`;
    })
    .join('\n');
}
