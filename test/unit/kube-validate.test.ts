import { describe, expect, it } from 'vitest';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';

/** A pod spec that meets the restricted profile: what the daemon's backup pods look like. */
function compliantPod(): Record<string, unknown> {
  return {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 27, runAsGroup: 27, fsGroup: 27, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'backup',
        image: 'bloodraven',
        command: ['bloodraven'],
        ports: [{ containerPort: 9100 }],
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        volumeMounts: [{ name: 'creds', mountPath: '/run/bloodraven/mysql-creds' }],
      },
    ],
    volumes: [
      { name: 'creds', secret: { secretName: 's', defaultMode: 256 } },
      { name: 'home', emptyDir: {} },
      { name: 'backups', persistentVolumeClaim: { claimName: 'c' } },
      { name: 'cm', configMap: { name: 'x' } },
      { name: 'projected', projected: { sources: [] } },
    ],
  };
}

type Pod = ReturnType<typeof compliantPod> & { containers: Record<string, unknown>[]; securityContext: Record<string, unknown> };

function mutated(change: (pod: Pod) => void): Pod {
  const pod = compliantPod() as Pod;
  change(pod);
  return pod;
}

function container(pod: Pod): Record<string, unknown> & { securityContext: Record<string, unknown> } {
  return pod.containers[0] as Record<string, unknown> & { securityContext: Record<string, unknown> };
}

describe('restrictedPodSecurityProblems', () => {
  it('accepts a pod that meets the restricted profile, with the settings at either level', () => {
    expect(restrictedPodSecurityProblems(compliantPod())).toEqual([]);
    // Container-level runAsNonRoot and seccomp instead of pod-level; NET_BIND_SERVICE may be added.
    const perContainer = mutated((pod) => {
      pod.securityContext = {};
      Object.assign(container(pod).securityContext, { runAsNonRoot: true, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } });
      container(pod).securityContext.capabilities = { drop: ['ALL'], add: ['NET_BIND_SERVICE'] };
    });
    expect(restrictedPodSecurityProblems(perContainer)).toEqual([]);
  });

  const violations: [string, (pod: Pod) => void, string][] = [
    ['hostNetwork', (p) => (p.hostNetwork = true), 'hostNetwork: must be unset or false'],
    ['hostPID', (p) => (p.hostPID = true), 'hostPID: must be unset or false'],
    ['hostIPC', (p) => (p.hostIPC = true), 'hostIPC: must be unset or false'],
    ['privileged', (p) => (container(p).securityContext.privileged = true), 'containers[0].securityContext.privileged: must be unset or false'],
    ['hostProcess', (p) => (p.securityContext.windowsOptions = { hostProcess: true }), 'securityContext.windowsOptions.hostProcess: must be unset or false'],
    ['added capability', (p) => (container(p).securityContext.capabilities = { drop: ['ALL'], add: ['SYS_ADMIN'] }), 'containers[0].securityContext.capabilities.add[0]: only NET_BIND_SERVICE'],
    ['capabilities not dropped', (p) => (container(p).securityContext.capabilities = { drop: ['NET_RAW'] }), 'containers[0].securityContext.capabilities.drop: must include ALL'],
    ['hostPath volume', (p) => (p.volumes as unknown[]).push({ name: 'h', hostPath: { path: '/' } }), 'volumes[5].hostPath: volume type hostPath is not allowed'],
    ['other volume type', (p) => (p.volumes as unknown[]).push({ name: 'n', nfs: { server: 'x', path: '/' } }), 'volumes[5].nfs: volume type nfs is not allowed'],
    ['hostPort', (p) => (container(p).ports = [{ containerPort: 80, hostPort: 80 }]), 'containers[0].ports[0].hostPort: must be unset or 0'],
    ['AppArmor', (p) => (container(p).securityContext.appArmorProfile = { type: 'Unconfined' }), 'containers[0].securityContext.appArmorProfile.type'],
    ['SELinux type', (p) => (p.securityContext.seLinuxOptions = { type: 'spc_t' }), 'securityContext.seLinuxOptions.type'],
    ['SELinux user', (p) => (container(p).securityContext.seLinuxOptions = { user: 'root' }), 'containers[0].securityContext.seLinuxOptions.user: must be unset'],
    ['procMount', (p) => (container(p).securityContext.procMount = 'Unmasked'), 'containers[0].securityContext.procMount: must be unset or Default'],
    ['unsafe sysctl', (p) => (p.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '1' }]), 'securityContext.sysctls[0].name: "kernel.msgmax" is not a safe sysctl'],
    ['privilege escalation allowed', (p) => (container(p).securityContext.allowPrivilegeEscalation = true), 'containers[0].securityContext.allowPrivilegeEscalation: must be false'],
    ['privilege escalation unset', (p) => delete container(p).securityContext.allowPrivilegeEscalation, 'containers[0].securityContext.allowPrivilegeEscalation: must be false'],
    ['runAsNonRoot unset', (p) => delete p.securityContext.runAsNonRoot, 'containers[0].securityContext.runAsNonRoot: must be true'],
    ['runAsNonRoot false on a container', (p) => (container(p).securityContext.runAsNonRoot = false), 'containers[0].securityContext.runAsNonRoot: must not be false'],
    ['runAsUser 0', (p) => (p.securityContext.runAsUser = 0), 'securityContext.runAsUser: must not be 0 (root)'],
    ['seccomp unset', (p) => delete p.securityContext.seccompProfile, 'containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or Localhost'],
    ['seccomp Unconfined', (p) => (container(p).securityContext.seccompProfile = { type: 'Unconfined' }), 'containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or Localhost'],
    [
      'an init container',
      (p) => (p.initContainers = [{ name: 'init', image: 'i', securityContext: { capabilities: { drop: ['ALL'] } } }]),
      'initContainers[0].securityContext.allowPrivilegeEscalation: must be false',
    ],
  ];

  it.each(violations)('reports %s', (_rule, change, expected) => {
    const problems = restrictedPodSecurityProblems(mutated(change));
    expect(problems.some((p) => p.startsWith(expected)), problems.join('\n')).toBe(true);
    expect(problems).toHaveLength(1);
  });
});

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'things.example.test' },
  spec: {
    group: 'example.test',
    scope: 'Namespaced',
    names: { plural: 'things', kind: 'Thing' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['mode'],
                properties: {
                  mode: { type: 'string', enum: ['a', 'b'] },
                  size: { 'x-kubernetes-int-or-string': true },
                  free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
            },
          },
        },
      },
    ],
  },
};

describe('kubeSchemaProblems', () => {
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j' },
    spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } },
  };

  it('accepts valid built-in objects and custom resources', () => {
    expect(kubeSchemaProblems(job)).toEqual([]);
    expect(kubeSchemaProblems({ apiVersion: 'example.test/v1', kind: 'Thing', metadata: { name: 't' }, spec: { mode: 'a', size: '1Gi', free: { x: { y: 1 } } } }, [CRD])).toEqual([]);
  });

  it('reports built-in schema violations, kind rules, unknown fields and bad times', () => {
    const bad = { ...job, spec: { ...job.spec, backoffLimit: 'one', bogus: true, template: { spec: { restartPolicy: 'Always', containers: [{ name: 'c', image: 'i' }] } } } };
    const problems = kubeSchemaProblems(bad);
    expect(problems).toContain('spec.bogus: unknown field');
    expect(problems.some((p) => p.startsWith('spec.backoffLimit: Invalid value: "string"'))).toBe(true);
    expect(problems).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"');
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { renewTime: '2026-01-01T00:00:00.123Z' } };
    expect(kubeSchemaProblems(lease)).toEqual(['spec.renewTime: Invalid value: "2026-01-01T00:00:00.123Z": a MicroTime needs exactly 6 fraction digits']);
  });

  it('reports custom resource violations against the CRD, and kinds without a schema', () => {
    const problems = kubeSchemaProblems({ apiVersion: 'example.test/v1', kind: 'Thing', metadata: { name: 't' }, spec: { mode: 'c', size: 1.5, extra: 1 } }, [CRD]);
    expect(problems).toEqual([
      'spec.extra: unknown field (the server prunes it)',
      'spec.mode: Unsupported value: "c": supported values: "a", "b"',
      'spec.size: Invalid value: "number": spec.size in body must be of type integer,string: 1.5',
    ]);
    expect(kubeSchemaProblems({ apiVersion: 'example.test/v1', kind: 'Thing', spec: {} }, [CRD])).toEqual(['spec.mode: Required value']);
    expect(kubeSchemaProblems({ apiVersion: 'example.test/v1', kind: 'Thing' })).toHaveLength(1);
  });
});
