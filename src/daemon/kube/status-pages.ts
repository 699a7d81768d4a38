/**
 * The status page in Kubernetes mode (`GET /`, `/?group=NAMESPACE/NAME`): one page per
 * MysqlFailoverGroup the daemon watches, made from its informers' caches (describeGroupStatus)
 * and the S3 archive's manifests for the window, with links to the other groups. Without
 * `?group`, the first group by namespace and name. Each group's page is made at most every
 * `ttlMs` (the window is read from storage).
 */
import type { Clock } from '../../lib/clock.js';
import { renderStatusPage } from '../../lib/status/status-page.js';
import { cachedFor } from '../cached.js';
import { describeGroupStatus, type WindowReader } from './group-status.js';
import type { StoredBackup, StoredGroup } from './kube-ops.js';

export interface StatusPageSources {
  groups: { list(namespace?: string): readonly StoredGroup[] };
  backups: { list(namespace?: string): readonly StoredBackup[] };
  readWindow?: WindowReader;
  clock: Clock;
}

const refreshSeconds = 60;

export function kubeStatusPages(sources: StatusPageSources, ttlMs = 10_000): (query: URLSearchParams) => Promise<string> {
  const pages = new Map<string, () => Promise<string>>();
  const keyOf = (g: StoredGroup): string => `${g.metadata.namespace}/${g.metadata.name}`;
  return (query) => {
    const groups = [...sources.groups.list()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const asked = query.get('group');
    const group = asked === null ? groups[0] : groups.find((g) => keyOf(g) === asked);
    const nav = (current: string | null) => groups.map((g) => ({ name: keyOf(g), href: `?group=${encodeURIComponent(keyOf(g))}`, current: keyOf(g) === current }));
    if (!group) {
      const now = sources.clock.now();
      const title = asked === null ? 'bloodraven status: no MysqlFailoverGroup yet' : `bloodraven status: no MysqlFailoverGroup ${asked}`;
      return Promise.resolve(renderStatusPage({ group: null, generatedAt: now.toISOString(), profiles: [], schedules: [], pitr: null }, { now, title, refreshSeconds, groups: nav(null) }));
    }
    const key = keyOf(group);
    let page = pages.get(key);
    if (!page) {
      page = cachedFor(ttlMs, async () => {
        const now = sources.clock.now();
        // The latest object from the cache when the page is made, not the one the request found.
        const latest = sources.groups.list(group.metadata.namespace).find((g) => g.metadata.name === group.metadata.name) ?? group;
        const status = await describeGroupStatus(latest, sources.backups.list(group.metadata.namespace), now, sources.readWindow);
        return renderStatusPage(status, { now, refreshSeconds, groups: nav(key) });
      });
      pages.set(key, page);
    }
    return page();
  };
}
