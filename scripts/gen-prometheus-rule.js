// Writes deploy/monitoring/prometheus-rule.yaml: the groups of deploy/monitoring/bloodraven-rules.yaml
// (comments kept) in a PrometheusRule for the Prometheus Operator. Run it after editing the rules:
// `node scripts/gen-prometheus-rule.js`. test/unit/monitoring-rules.test.ts fails when the two differ.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { Document, parseDocument } from 'yaml';

const dir = join(import.meta.dirname, '..', 'deploy', 'monitoring');
const rules = parseDocument(await readFile(join(dir, 'bloodraven-rules.yaml'), 'utf8'));
if (rules.errors.length > 0) throw rules.errors[0];

const out = new Document({
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'bloodraven',
    namespace: 'bloodraven-system',
    labels: { 'app.kubernetes.io/name': 'bloodraven', 'app.kubernetes.io/component': 'alerts' },
  },
  spec: {},
});
out.setIn(['spec', 'groups'], rules.get('groups', true));
out.commentBefore = [
  " bloodraven's alerts for the Prometheus Operator: `kubectl apply -f deploy/monitoring/prometheus-rule.yaml`.",
  ' Generated from bloodraven-rules.yaml by scripts/gen-prometheus-rule.js; edit that file, not this one.',
  " Set metadata.namespace to bloodraven's namespace, and add the labels your Prometheus'",
  ' ruleSelector asks for (kube-prometheus-stack: release: <its release name>).',
].join('\n');

await writeFile(join(dir, 'prometheus-rule.yaml'), out.toString({ lineWidth: 0 }));
process.stdout.write('wrote deploy/monitoring/prometheus-rule.yaml\n');
