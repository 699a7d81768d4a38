// Runs the test Kubernetes cluster in the foreground for a person to try kubectl and
// `bloodraven daemon --kubernetes` without a real cluster: the in-process API server and the Job
// runner (pods run this repository's CLI as local processes; CronJobs follow the real clock).
//
//   node scripts/test-cluster.js --kubeconfig FILE [--port N]
//
// The cluster's code is TypeScript under test/support/kube. This script loads it as it is: a
// module hook resolves the `.js` specifiers of those files to their `.ts` sources and compiles
// each with TypeScript's transpileModule (types dropped, nothing checked), so no build step or
// extra package is needed. Jobs run bin/run.js, which needs `npm run build`.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, registerHooks } from 'node:module';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const marker = '# written by scripts/test-cluster.js: removed when it stops\n';
const usage = 'usage: node scripts/test-cluster.js --kubeconfig FILE [--port N]\n';

const ts = createRequire(import.meta.url)('typescript');
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (context.parentURL?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
      const source = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
      if (existsSync(fileURLToPath(source))) return { url: source.href, format: 'module', shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
    const fileName = fileURLToPath(url);
    const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), {
      fileName,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true },
    });
    return { format: 'module', source: outputText, shortCircuit: true };
  },
});

/** The checked options, or an error message for a usage error (exit 2). */
function options() {
  let values;
  try {
    ({ values } = parseArgs({ options: { kubeconfig: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    return `${error.message}\n${usage}`;
  }
  if (values.help) return { help: true };
  if (!values.kubeconfig) return `--kubeconfig is required\n${usage}`;
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) return `--port: not a port number: ${values.port}\n`;
  const kubeconfigPath = resolve(values.kubeconfig);
  // Never overwrite a kubeconfig a person keeps (~/.kube/config): only one this script wrote.
  if (existsSync(kubeconfigPath) && !readFileSync(kubeconfigPath, 'utf8').startsWith(marker)) {
    return `${kubeconfigPath} exists and was not written by this script: choose another --kubeconfig\n`;
  }
  return { kubeconfigPath, port };
}

const chosen = options();
if (typeof chosen === 'string') {
  process.stderr.write(chosen);
  process.exitCode = 2;
} else if (chosen.help) {
  process.stdout.write(usage);
} else {
  await run(chosen);
}

async function run({ kubeconfigPath, port }) {
  if (!existsSync(join(root, 'dist', 'commands'))) {
    process.stderr.write('note: the CLI is not built, so Jobs will fail: run `npm run build` first\n');
  }
  const { startTestCluster } = await import('../test/support/kube/cluster.ts');
  const { realClock } = await import('../test/support/kube/test-clock.ts');
  const cluster = await startTestCluster({ clock: realClock, ...(port === undefined ? {} : { port }) });
  await writeFile(kubeconfigPath, marker + (await readFile(cluster.kubeconfigPath, 'utf8')), { mode: 0o600 });

  process.stdout.write(
    [
      `Test cluster running: API server ${cluster.api.url}`,
      `Kubeconfig: ${kubeconfigPath}`,
      '',
      `  export KUBECONFIG=${kubeconfigPath}`,
      '  kubectl apply -k deploy/',
      `  ${join(root, 'bin', 'run.js')} daemon --kubernetes --listen 127.0.0.1:9464`,
      '  kubectl get mysqlfailovergroups,mysqlbackups,jobs,pods -A',
      '',
      "Jobs run this repository's CLI (bin/run.js) as local processes; a PVC's folder is",
      `${cluster.runner.pvcPath('<namespace>', '<claim>')}. CronJobs follow the real clock.`,
      "Ctrl-C or SIGTERM stops the cluster and its pods' processes, and removes its folders.",
      '',
    ].join('\n'),
  );

  let stopping = false;
  async function stop(signal) {
    if (stopping) {
      // A second signal: the default action, at once.
      process.stderr.write(`${signal} again: exiting at once\n`);
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    stopping = true;
    process.stderr.write(`${signal}: stopping the test cluster...\n`);
    await cluster.stop();
    const current = await readFile(kubeconfigPath, 'utf8').catch(() => '');
    if (current.startsWith(marker)) await rm(kubeconfigPath, { force: true });
    process.stderr.write('stopped\n');
  }
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void stop(signal));
}
