/**
 * Where an in-cluster restore writes, and when it may start (the reference's "Dynamic target-site
 * resolution" and "Rolled-out Deployment gate"):
 *
 * - the target is `status.activeSite` when the group's operator names one and its server answers
 *   writable; when it names one that is read-only or unreachable, the restore is refused (so a
 *   recovering standby is never overwritten with a stale dump); with no activeSite (no failover
 *   operator, or a fresh deploy) it is `spec.sites[0]`, checked writable by connecting too;
 * - the load starts only once the target's Deployment is rolled out (generation ≤ 1 with a ready
 *   replica on a fresh deploy; otherwise observedGeneration ≥ generation, an updated replica and a
 *   ready one). A site with no Deployment (MySQL that bloodraven's operator does not deploy) passes.
 *
 * Pure decisions; the reconcilers fetch the server state (probeSite) and the Deployment.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { ParsedGroup, Site } from './resources.js';
import type { SiteState } from './source-selection.js';

export type TargetDecision =
  | { ok: true; site: Site; reason: string }
  /** RestoreTargetUnavailable: park the restore in Pending with this message (and a Warning event). */
  | { ok: false; reason: 'RestoreTargetUnavailable'; message: string };

/** The site a restore would target before its server is asked: activeSite, else sites[0]. Null when the group has no sites. */
export function candidateTargetSite(group: ParsedGroup, activeSite: string | undefined): { site: Site; why: string } | null {
  const sites = group.spec.sites ?? [];
  if (activeSite !== undefined && activeSite !== '') {
    const site = sites.find((s) => s.name === activeSite);
    return site ? { site, why: `the active site (status.activeSite)` } : null;
  }
  const first = sites[0];
  return first ? { site: first, why: 'spec.sites[0] (no status.activeSite)' } : null;
}

/**
 * Decides the target from the candidate and what its server said. Refuses a read-only or
 * unreachable server, and an activeSite that spec.sites does not list.
 */
export function decideRestoreTarget(group: ParsedGroup, activeSite: string | undefined, state: SiteState | undefined): TargetDecision {
  const candidate = candidateTargetSite(group, activeSite);
  if (!candidate) {
    const message =
      activeSite !== undefined && activeSite !== ''
        ? `status.activeSite is "${activeSite}", which spec.sites does not list`
        : 'spec.sites is empty: there is no site to restore into';
    return { ok: false, reason: 'RestoreTargetUnavailable', message };
  }
  const name = candidate.site.name;
  if (!state) return { ok: false, reason: 'RestoreTargetUnavailable', message: `site "${name}" (${candidate.why}) was not asked yet` };
  if (!state.reachable) {
    return { ok: false, reason: 'RestoreTargetUnavailable', message: `site "${name}" (${candidate.why}) is unreachable: ${state.error}; the restore waits until it answers` };
  }
  if (state.readOnly) {
    return {
      ok: false,
      reason: 'RestoreTargetUnavailable',
      message: `site "${name}" (${candidate.why}) is read-only: a restore never overwrites a standby; it waits until the site is the writable primary`,
    };
  }
  return { ok: true, site: candidate.site, reason: `${candidate.why}, writable` };
}

/** The Deployment a site's MySQL runs as: `sites[].deployment`, default `mysql-<group>-<site>`. */
export function siteDeploymentName(group: ParsedGroup, site: Site): string {
  return site.deployment ?? `mysql-${group.metadata.name}-${site.name}`;
}

export type RolloutGate =
  | { passed: true; message: string; noDeployment: boolean }
  | { passed: false; message: string };

/**
 * The rolled-out gate for `deployment` (null: no such Deployment, the gate is passed, and the
 * caller says so in a Normal event).
 */
export function rolloutGate(deployment: V1Deployment | null, name: string): RolloutGate {
  if (!deployment) return { passed: true, noDeployment: true, message: `no Deployment "${name}": MySQL that bloodraven's operator does not deploy, so there is no rollout to wait for` };
  const generation = deployment.metadata?.generation ?? 0;
  const observed = deployment.status?.observedGeneration ?? 0;
  const updated = deployment.status?.updatedReplicas ?? 0;
  const ready = deployment.status?.readyReplicas ?? 0;
  if (generation <= 1) {
    return ready >= 1 ? { passed: true, noDeployment: false, message: `Deployment "${name}" has a ready replica` } : { passed: false, message: `Deployment "${name}" has no ready replica yet` };
  }
  if (observed < generation) return { passed: false, message: `Deployment "${name}" is rolling out (generation ${generation}, observed ${observed})` };
  if (updated < 1) return { passed: false, message: `Deployment "${name}" has no updated replica yet` };
  if (ready < 1) return { passed: false, message: `Deployment "${name}" has no ready replica yet` };
  return { passed: true, noDeployment: false, message: `Deployment "${name}" is rolled out (generation ${generation})` };
}
