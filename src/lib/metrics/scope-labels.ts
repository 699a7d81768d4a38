/**
 * The labels every bloodraven series carries: {group, profile} in the standalone daemon, and
 * {namespace, group, profile} in Kubernetes mode (a group's name is unique only in its namespace).
 */

export type ScopeLabel = 'namespace' | 'group' | 'profile';

/** Where a series belongs; `namespace` only in Kubernetes mode. */
export interface Scope {
  namespace?: string | undefined;
  group: string;
  profile: string;
}

/** The label names of a series, in the order Prometheus shows them. */
export function scopeLabelNames(namespaced: boolean): ScopeLabel[] {
  return namespaced ? ['namespace', 'group', 'profile'] : ['group', 'profile'];
}

/** The label values of `scope`; an absent namespace is '' in Kubernetes mode. */
export function scopeLabels(namespaced: boolean, scope: Scope): Partial<Record<ScopeLabel, string>> {
  return namespaced ? { namespace: scope.namespace ?? '', group: scope.group, profile: scope.profile } : { group: scope.group, profile: scope.profile };
}
