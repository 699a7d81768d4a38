/**
 * The alerts in deploy/monitoring: promtool accepts the rules file and passes its unit tests
 * (rules.test.yaml), the PrometheusRule holds the same groups, and every alert's runbook points
 * at a heading of the README. promtool comes with Debian's `prometheus` package
 * (scripts/install-system-deps.sh installs it).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..', '..');
const monitoring = join(root, 'deploy', 'monitoring');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}

const plain = parse(read('deploy/monitoring/bloodraven-rules.yaml')) as { groups: RuleGroup[] };
const operator = parse(read('deploy/monitoring/prometheus-rule.yaml')) as {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { groups: RuleGroup[] };
};
const alerts = plain.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => r.alert !== undefined);

/** Runs promtool; its exit code and everything it printed, whether it passed or not. */
async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('promtool', args, { cwd: monitoring, timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') return { code: -1, output: 'promtool not found on PATH: run scripts/install-system-deps.sh (Debian package prometheus)' };
    return { code: typeof err.code === 'number' ? err.code : -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message };
  }
}

/** The anchors GitHub gives the README's headings: lower case, spaces to '-', punctuation but '-' and '_' dropped. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = (heading[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

describe('deploy/monitoring alert rules', () => {
  it('pass promtool check rules', async () => {
    const { code, output } = await promtool('check', 'rules', 'bloodraven-rules.yaml');
    expect(code, output).toBe(0);
  });

  it('pass their promtool unit tests (rules.test.yaml)', { timeout: 120_000 }, async () => {
    const { code, output } = await promtool('test', 'rules', 'rules.test.yaml');
    expect(code, output).toBe(0);
  });

  it('are the same groups in the PrometheusRule as in the plain rules file', () => {
    expect(operator.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(operator.kind).toBe('PrometheusRule');
    expect(operator.metadata.name).toBe('bloodraven');
    expect(operator.metadata.namespace).toBe('bloodraven-system');
    expect(operator.metadata.labels['app.kubernetes.io/name']).toBe('bloodraven');
    // scripts/gen-prometheus-rule.js writes the PrometheusRule from the plain file.
    expect(operator.spec.groups, 'run node scripts/gen-prometheus-rule.js').toEqual(plain.groups);
  });

  it('has every alert tested by rules.test.yaml, firing at least once', () => {
    const tests = parse(readFileSync(join(monitoring, 'rules.test.yaml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(tests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    const quiet = new Set(tests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
    for (const a of alerts) {
      expect(fired.has(a.alert), `${a.alert} fires in a test`).toBe(true);
      expect(quiet.has(a.alert), `${a.alert} is asserted quiet in a test`).toBe(true);
    }
  });

  it('give every alert a severity, a summary and description naming the group and profile, and a runbook in the README', () => {
    const anchors = headingAnchors(read('README.md'));
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const a of alerts) {
      expect(['critical', 'warning'], `${a.alert} severity`).toContain(a.labels?.severity);
      for (const key of ['summary', 'description']) {
        expect(a.annotations?.[key], `${a.alert} ${key}`).toMatch(/\{\{ \$labels\.group \}\}/);
        expect(a.annotations?.[key], `${a.alert} ${key}`).toMatch(/\{\{ \$labels\.profile \}\}/);
      }
      const runbook = a.annotations?.runbook ?? '';
      expect(runbook, `${a.alert} runbook`).toMatch(/^https:\/\/github\.com\/shipstream\/bloodraven#[a-z0-9_-]+$/);
      expect(a.annotations?.runbook_url, `${a.alert} runbook_url`).toBe(runbook);
      const anchor = runbook.slice(runbook.indexOf('#') + 1);
      expect(anchors.has(anchor), `${a.alert}: README.md has no heading with the anchor #${anchor}`).toBe(true);
    }
  });
});
