import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/lib/errors.js';
import { loadKubeConfig } from '../../src/daemon/kube/kube-config.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kube-config-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "http://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: nobody
  user: {}
contexts:
- name: test
  context: {cluster: test, user: nobody, namespace: backups}
current-context: test
`;

function caught(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('loadKubeConfig', () => {
  it('loads the file KUBECONFIG names, with its context namespace', () => {
    const path = join(tempDir(), 'config');
    writeFileSync(path, kubeconfig);
    const loaded = loadKubeConfig({ KUBECONFIG: path, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' });
    expect(loaded.source).toBe('kubeconfig');
    expect(loaded.namespace).toBe('backups');
    expect(loaded.kubeConfig.getCurrentCluster()?.server).toBe('http://127.0.0.1:6443');
  });

  it('uses the in-cluster ServiceAccount when KUBECONFIG is not set', () => {
    const sa = tempDir();
    writeFileSync(join(sa, 'token'), 'tok');
    writeFileSync(join(sa, 'namespace'), 'db-system\n');
    const loaded = loadKubeConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, { serviceAccountDir: sa });
    expect(loaded.source).toBe('in-cluster');
    expect(loaded.namespace).toBe('db-system');
    expect(loaded.kubeConfig.getCurrentCluster()).toMatchObject({ server: 'https://[fd00::1]:443', caFile: join(sa, 'ca.crt'), skipTLSVerify: false });
    expect(loaded.kubeConfig.getCurrentUser()?.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: join(sa, 'token') } });
  });

  it('says clearly that neither source is there, naming KUBECONFIG', () => {
    const err = caught(() => loadKubeConfig({}, { serviceAccountDir: tempDir() }));
    expect(err.code).toBe('KUBE_CONFIG_MISSING');
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/KUBECONFIG is not set/);
    const noToken = caught(() => loadKubeConfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, { serviceAccountDir: tempDir() }));
    expect(noToken.message).toMatch(/no ServiceAccount token at/);
  });

  it('names the KUBECONFIG file it cannot load', () => {
    const path = join(tempDir(), 'missing');
    const err = caught(() => loadKubeConfig({ KUBECONFIG: path }));
    expect(err.code).toBe('KUBE_CONFIG_INVALID');
    expect(err.message).toContain(path);
    const empty = join(tempDir(), 'empty');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\n');
    expect(caught(() => loadKubeConfig({ KUBECONFIG: empty })).message).toMatch(/no usable current context/);
  });
});
