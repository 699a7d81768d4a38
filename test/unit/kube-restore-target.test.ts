import { describe, expect, it } from 'vitest';
import { decideRestoreTarget, rolloutGate, siteDeploymentName } from '../../src/lib/kube/restore-target.js';
import { validateGroupSpec, type ParsedGroup } from '../../src/lib/kube/resources.js';
import type { SiteState } from '../../src/lib/kube/source-selection.js';

const parsed = validateGroupSpec({ credentials: { backupSecret: 'a' }, sites: [{ name: 'east' }, { name: 'west', deployment: 'west-db' }] });
if (!parsed.success) throw new Error('bad spec');
const group: ParsedGroup = { metadata: { name: 'orders', namespace: 'shop' }, spec: parsed.data };
const writable: SiteState = { reachable: true, readOnly: false, isReplica: false, replicating: false, lagSeconds: null };
const readOnly: SiteState = { ...writable, readOnly: true, isReplica: true, replicating: true, lagSeconds: 0 };

describe('decideRestoreTarget', () => {
  it('takes the writable active site, refuses a read-only or unreachable one, and falls back to sites[0] without one', () => {
    expect(decideRestoreTarget(group, 'west', writable)).toMatchObject({ ok: true, site: { name: 'west' } });
    const refused = (d: ReturnType<typeof decideRestoreTarget>): string => (d.ok ? 'accepted' : `${d.reason}: ${d.message}`);
    expect(refused(decideRestoreTarget(group, 'west', readOnly))).toMatch(/^RestoreTargetUnavailable: site "west" .* is read-only/);
    expect(refused(decideRestoreTarget(group, 'west', { reachable: false, error: 'ECONNREFUSED' }))).toMatch(/unreachable: ECONNREFUSED/);
    const fallback = decideRestoreTarget(group, undefined, writable);
    expect(fallback.ok && fallback.site.name).toBe('east');
    expect(fallback.ok && fallback.reason).toMatch(/sites\[0\]/);
    expect(decideRestoreTarget(group, undefined, readOnly)).toMatchObject({ ok: false });
    expect(refused(decideRestoreTarget(group, 'north', writable))).toMatch(/"north", which spec.sites does not list/);
  });
});

describe('rolloutGate', () => {
  const deployment = (generation: number, status: Record<string, number>) => ({ metadata: { generation }, status });
  it('follows the reference: fresh deploys need a ready replica; later ones an observed generation, an updated and a ready replica', () => {
    expect(rolloutGate(null, 'x')).toMatchObject({ passed: true, noDeployment: true });
    expect(rolloutGate(deployment(1, { readyReplicas: 0 }), 'x').passed).toBe(false);
    expect(rolloutGate(deployment(1, { readyReplicas: 1 }), 'x').passed).toBe(true);
    expect(rolloutGate(deployment(3, { observedGeneration: 2, updatedReplicas: 1, readyReplicas: 1 }), 'x')).toMatchObject({ passed: false });
    expect(rolloutGate(deployment(3, { observedGeneration: 2, updatedReplicas: 1, readyReplicas: 1 }), 'x').message).toMatch(/rolling out/);
    expect(rolloutGate(deployment(3, { observedGeneration: 3, updatedReplicas: 0, readyReplicas: 1 }), 'x').passed).toBe(false);
    expect(rolloutGate(deployment(3, { observedGeneration: 3, updatedReplicas: 1, readyReplicas: 0 }), 'x').passed).toBe(false);
    expect(rolloutGate(deployment(3, { observedGeneration: 3, updatedReplicas: 1, readyReplicas: 1 }), 'x').passed).toBe(true);
  });
  it('names the Deployment sites[].deployment, default mysql-<group>-<site>', () => {
    expect(siteDeploymentName(group, group.spec.sites![0]!)).toBe('mysql-orders-east');
    expect(siteDeploymentName(group, group.spec.sites![1]!)).toBe('west-db');
  });
});
