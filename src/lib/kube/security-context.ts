/**
 * The security context of every pod bloodraven starts (backup, cleanup, schedule requester): the
 * reference's restricted defaults (the Restricted Pod Security Standard, running as the image's
 * `bloodraven` user, uid 27), with the group's `spec.backup.podSecurityContext` and
 * `containerSecurityContext` merged over them field by field. The zod schemas here are the parts of
 * Kubernetes' PodSecurityContext and SecurityContext a Linux pod uses; they go into the CRD as well.
 */
import type { V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';
import { z } from 'zod';

const int64 = z.number().int().meta({ format: 'int64' });

const seccompProfileSchema = z.strictObject({
  type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']),
  localhostProfile: z.string().min(1).optional(),
});

const appArmorProfileSchema = z.strictObject({
  type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']),
  localhostProfile: z.string().min(1).optional(),
});

const seLinuxOptionsSchema = z.strictObject({
  level: z.string().optional(),
  role: z.string().optional(),
  type: z.string().optional(),
  user: z.string().optional(),
});

/** `spec.backup.podSecurityContext`: Kubernetes' PodSecurityContext, Linux fields. */
export const podSecurityContextSchema = z
  .strictObject({
    runAsNonRoot: z.boolean().optional(),
    runAsUser: int64.min(0).optional(),
    runAsGroup: int64.min(0).optional(),
    fsGroup: int64.min(0).optional(),
    fsGroupChangePolicy: z.enum(['OnRootMismatch', 'Always']).optional(),
    supplementalGroups: z.array(int64.min(0)).optional(),
    seccompProfile: seccompProfileSchema.optional(),
    appArmorProfile: appArmorProfileSchema.optional(),
    seLinuxOptions: seLinuxOptionsSchema.optional(),
    sysctls: z.array(z.strictObject({ name: z.string().min(1), value: z.string() })).optional(),
  })
  .describe('Merged field by field over the restricted defaults of every pod bloodraven starts (runAsNonRoot, runAsUser/runAsGroup/fsGroup 27, seccomp RuntimeDefault).');

/** `spec.backup.containerSecurityContext`: Kubernetes' SecurityContext, Linux fields. */
export const containerSecurityContextSchema = z
  .strictObject({
    allowPrivilegeEscalation: z.boolean().optional(),
    privileged: z.boolean().optional(),
    readOnlyRootFilesystem: z.boolean().optional(),
    runAsNonRoot: z.boolean().optional(),
    runAsUser: int64.min(0).optional(),
    runAsGroup: int64.min(0).optional(),
    procMount: z.enum(['Default', 'Unmasked']).optional(),
    capabilities: z.strictObject({ add: z.array(z.string().min(1)).optional(), drop: z.array(z.string().min(1)).optional() }).optional(),
    seccompProfile: seccompProfileSchema.optional(),
    appArmorProfile: appArmorProfileSchema.optional(),
    seLinuxOptions: seLinuxOptionsSchema.optional(),
  })
  .describe('Merged field by field over the restricted defaults of every container bloodraven starts (no privilege escalation, read-only root filesystem, all capabilities dropped, seccomp RuntimeDefault).');

export type PodSecurityContextOverride = z.output<typeof podSecurityContextSchema>;
export type ContainerSecurityContextOverride = z.output<typeof containerSecurityContextSchema>;

/** The uid and gid of the image's user `bloodraven` (27, the reference's uid), which owns HOME and the mounted files. */
export const imageUserId = 27;

/** The reference's pod defaults (restricted Pod Security Standard). */
export function defaultPodSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: imageUserId,
    runAsGroup: imageUserId,
    fsGroup: imageUserId,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The reference's container defaults (restricted Pod Security Standard). */
export function defaultContainerSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `override` laid over `base`: a field the override sets wins, a field it leaves unset (absent or
 * null) keeps the base's value, and objects on both sides (seccompProfile, capabilities,
 * seLinuxOptions, appArmorProfile) are merged the same way, field by field. Lists (capabilities.drop,
 * supplementalGroups) are values: a set list replaces the default one. Neither input is changed.
 */
export function mergeSecurityContext<T extends object>(base: T, override: object | undefined): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(override ?? {})) {
    if (value === undefined || value === null) continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeSecurityContext(current, value) : structuredClone(value);
  }
  return out as T;
}

/** The pod security context of a bloodraven pod: the defaults with the group's override merged in. */
export function podSecurityContext(override: PodSecurityContextOverride | undefined): V1PodSecurityContext {
  return mergeSecurityContext(defaultPodSecurityContext(), override);
}

/** The container security context of a bloodraven container: the defaults with the group's override merged in. */
export function containerSecurityContext(override: ContainerSecurityContextOverride | undefined): V1SecurityContext {
  return mergeSecurityContext(defaultContainerSecurityContext(), override);
}
