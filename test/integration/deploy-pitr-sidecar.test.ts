/**
 * deploy/pitr-sidecar/ as a user applies it: the Component rendered onto the example MySQL
 * Deployment by the real kubectl (its built-in kustomize, offline), every object checked against
 * Kubernetes' published schema, the pod against the restricted Pod Security Standard, and the
 * sidecar container as `pitr archive --sidecar` needs it; the example config as bloodraven reads it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { V1ConfigMap, V1Container, V1Deployment, V1PodSpec } from '@kubernetes/client-node';
import { loadConfig } from '../../src/lib/config/load.js';
import { defaultImage, labelKeys } from '../../src/lib/kube/objects.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';

const root = join(import.meta.dirname, '..', '..');
const exampleDir = join(root, 'deploy', 'pitr-sidecar', 'example');

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

let home: string;
let objects: KubeObject[];
let pod: V1PodSpec;
let sidecar: V1Container;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'bloodraven-deploy-sidecar-'));
  const { stdout } = await promisify(execFile)('/usr/bin/kubectl', ['kustomize', exampleDir], { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: join(home, 'none') } });
  objects = parseAllDocuments(stdout).map((doc) => doc.toJS() as KubeObject);
  const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as V1Deployment;
  pod = deployment.spec!.template.spec!;
  sidecar = pod.containers.find((c) => c.name === 'pitr-archiver')!;
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('kubectl kustomize deploy/pitr-sidecar/example', () => {
  it('gives only objects that match Kubernetes’ published schema, the pod under the restricted Pod Security Standard', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['ConfigMap/bloodraven-pitr-sidecar', 'Deployment/mysql-orders-east']);
    for (const object of objects) expect(kubeSchemaProblems(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
    expect(restrictedPodSecurityProblems(pod)).toEqual([]);
    // The MySQL container is still there, untouched.
    expect(pod.containers.map((c) => c.name).sort()).toEqual(['mysql', 'pitr-archiver']);
  });

  it('adds `pitr archive --sidecar` of this version’s image, its site and group from the pod’s labels, polling the daemon’s cutoff', () => {
    expect(sidecar.image).toBe(defaultImage);
    expect(sidecar.command).toEqual(['bloodraven']);
    expect(sidecar.args?.slice(0, 3)).toEqual(['pitr', 'archive', '--sidecar']);
    expect(sidecar.args).toContain('--listen=:8080');
    expect(sidecar.args).toContain('--pitr-cutoff-url=http://bloodraven-metrics.bloodraven-system.svc:9464/pitr-cutoff?namespace=$(POD_NAMESPACE)&group=$(BLOODRAVEN_GROUP)&profile=offsite');
    const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.valueFrom?.configMapKeyRef?.name ?? e.value]));
    expect(env).toMatchObject({
      BLOODRAVEN_SITE: `metadata.labels['${labelKeys.site}']`,
      BLOODRAVEN_GROUP: `metadata.labels['${labelKeys.group}']`,
      POD_NAMESPACE: 'metadata.namespace',
      BLOODRAVEN_CONFIG_YAML: 'bloodraven-pitr-sidecar',
    });
  });

  it('mounts the data volume read-only and the credentials as 0400 Secret files, and serves 8080 named, ready on /healthz', () => {
    const mounts = Object.fromEntries((sidecar.volumeMounts ?? []).map((m) => [m.name, m]));
    expect(mounts.data).toMatchObject({ mountPath: '/var/lib/mysql', readOnly: true });
    expect(pod.containers.find((c) => c.name === 'mysql')?.volumeMounts?.find((m) => m.name === 'data')?.mountPath).toBe('/var/lib/mysql');
    expect(mounts['pitr-mysql-creds']).toMatchObject({ mountPath: '/run/bloodraven/mysql-creds', readOnly: true });
    expect(mounts['pitr-aws-creds']).toMatchObject({ mountPath: '/run/bloodraven/aws-creds', readOnly: true });
    const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes['pitr-mysql-creds']?.secret).toMatchObject({ defaultMode: 0o400, items: [{ key: 'username', path: 'MYSQL_USER' }, { key: 'password', path: 'MYSQL_PASSWORD' }] });
    expect(volumes['pitr-aws-creds']?.secret).toMatchObject({ defaultMode: 0o400 });
    expect(sidecar.ports).toEqual([{ name: 'pitr-archiver', containerPort: 8080, protocol: 'TCP' }]);
    expect(sidecar.readinessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'pitr-archiver' });
    expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  it('carries a config bloodraven reads: the pod’s server from files, and backup.pitr naming an S3 profile', async () => {
    const configMap = objects.find((o) => o.kind === 'ConfigMap') as unknown as V1ConfigMap;
    const loaded = await loadConfig({ inline: { text: configMap.data!['bloodraven.yaml']!, source: 'BLOODRAVEN_CONFIG_YAML' }, cwd: home });
    expect(loaded.config.mysql).toMatchObject({ host: '127.0.0.1', credentialsDir: '/run/bloodraven/mysql-creds' });
    expect(loaded.config.backup.pitr).toMatchObject({ enabled: true, profileName: 'offsite' });
    expect(loaded.config.backup.profiles.find((p) => p.name === 'offsite')?.storage).toMatchObject({ type: 'S3', s3: { credentialsDir: '/run/bloodraven/aws-creds' } });
  });
});
