/**
 * The decisions of the in-place restore in the cluster (`spec.restoreInPlace`, the reference's
 * "In-place restore" and "The confirm timestamp"), as pure functions the reconciler
 * (src/daemon/kube/in-place-restore-reconciler.ts) calls: judging the confirm token, the mode,
 * which pods are fenced, the Job's arguments, the cluster's fencing steps in words, and reading the
 * Job's result from its termination message.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { readCalendarTime } from '../calendar-time.js';
import { confirmClockSkewMs } from '../catalog/confirm-token.js';
import { sourceArgs, type ResolvedRestoreSource } from './restore-job.js';
import { mountPaths } from './job-spec.js';
import { annotationKeys, labelKeys, primaryRole } from './objects.js';
import { pointReachedSchema, restorePlanSchema, type ParsedGroup, type RestoreInPlaceSpec, type Site } from './resources.js';
import { terminationObject } from './termination-message.js';

/** The field the user writes the token in, for events and messages. */
export const confirmField = 'spec.restoreInPlace.confirm';

export type ConfirmVerdict =
  /** A new token: the restore runs (or plans) once for it. */
  | { kind: 'new'; at: Date }
  /** Not newer than the last token used: an old manifest applied again; nothing happens. */
  | { kind: 'stale'; message: string }
  /** Not an RFC 3339 time with a zone, or too far ahead of the daemon's clock. */
  | { kind: 'invalid'; message: string };

/**
 * Judges `confirm` against `status.restoreInPlace.confirmTokenUsed` (undefined: none yet) at the
 * daemon's `now`. It must be an RFC 3339 time with a zone, at most confirmClockSkewMs (5 minutes)
 * ahead of `now` (the restore's CLI refuses it otherwise, and every later restore would have to
 * confirm after it), and strictly newer than the last one used.
 */
export function judgeConfirmToken(confirm: string, used: string | undefined, now: Date): ConfirmVerdict {
  const suggestion = `write the current time, like ${now.toISOString().replace(/\.\d{3}Z$/, 'Z')} (date -u +%FT%TZ)`;
  const read = readCalendarTime(confirm.trim());
  if (!read.ok) {
    const why = read.kind === 'calendar' ? `is not a real time: ${read.problem}` : 'is not an RFC 3339 time';
    return { kind: 'invalid', message: `${confirmField} "${confirm}" ${why}: ${suggestion}` };
  }
  if (!read.zoned) return { kind: 'invalid', message: `${confirmField} "${confirm}" has no zone (Z or ±HH:MM), so it is not an RFC 3339 time: ${suggestion}` };
  if (read.date.getTime() > now.getTime() + confirmClockSkewMs) {
    return {
      kind: 'invalid',
      message: `${confirmField} "${confirm}" lies more than ${confirmClockSkewMs / 60_000} minutes ahead of the daemon's clock (${now.toISOString()}): the restore would refuse it, and every later restore would have to confirm after it; ${suggestion}`,
    };
  }
  if (used !== undefined) {
    const last = Date.parse(used);
    if (!Number.isNaN(last) && read.date.getTime() <= last) {
      return { kind: 'stale', message: `${confirmField} "${confirm}" is not newer than status.restoreInPlace.confirmTokenUsed (${used}): nothing was done; to run the restore again, ${suggestion}` };
    }
  }
  return { kind: 'new', at: read.date };
}

/** `schema` when loadOptions.includeSchemas names exactly one schema, else `instance` (the whole server). */
export function inPlaceMode(spec: RestoreInPlaceSpec): 'instance' | 'schema' {
  return spec.loadOptions?.includeSchemas.length === 1 ? 'schema' : 'instance';
}

/** A metav1.LabelSelector as the `labelSelector` query parameter (`a=b,c in (d,e),!f`). */
export function labelSelectorString(selector: NonNullable<Site['podSelector']>): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') parts.push(`${e.key} in ${values}`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin ${values}`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** The site's MySQL pods: `sites[].podSelector`, default `shipstream.io/group=<group>,shipstream.io/site=<site>`. */
export function sitePodSelector(group: ParsedGroup, site: Site): string {
  if (site.podSelector) return labelSelectorString(site.podSelector);
  return `${labelKeys.group}=${group.metadata.name},${labelKeys.site}=${site.name}`;
}

/** Of the selected pods, those carrying the primary role label (the ones fencing strips), by name. */
export function podsToFence(pods: readonly V1Pod[]): string[] {
  return pods
    .filter((p) => p.metadata?.labels?.[labelKeys.role] === primaryRole && !p.metadata.deletionTimestamp)
    .map((p) => p.metadata?.name ?? '')
    .filter((n) => n !== '')
    .sort();
}

/** The peer sites a whole-instance restore marks for re-cloning: every site but the target. */
export function peerSites(group: ParsedGroup, target: string): string[] {
  return (group.spec.sites ?? []).map((s) => s.name).filter((n) => n !== target);
}

/**
 * The cluster's fencing steps around the server's own (which the restore's CLI reports), in
 * words: before, the role label stripped and the topology frozen; after, both put back and the
 * peer marked for re-cloning. Schema mode has none.
 */
export function clusterFencingSteps(input: { group: ParsedGroup; mode: 'instance' | 'schema'; selector: string; pods: readonly string[]; token: string; peers: readonly string[] }): { before: string[]; after: string[] } {
  if (input.mode === 'schema') return { before: [], after: [] };
  const primaryService = `mysql-${input.group.metadata.name}-primary`;
  const before = [
    input.pods.length === 0
      ? `No pod matches ${input.selector} with ${labelKeys.role}=${primaryRole}: fencing is at the server alone.`
      : `Remove ${labelKeys.role}=${primaryRole} from pod(s) ${input.pods.join(', ')} (${input.selector}), so the ${primaryService} Service sheds its endpoints.`,
    `Set the annotation ${annotationKeys.topologyFreeze}=${input.token} on the group: its operator takes no topology action (no promotion, auto-clone or recovery) meanwhile.`,
  ];
  const after = [
    input.pods.length === 0 ? `Lift the topology freeze.` : `Put ${labelKeys.role}=${primaryRole} back on ${input.pods.join(', ')} and lift the topology freeze.`,
    input.peers.length === 0 ? 'No peer site to re-clone.' : `Set the annotation ${annotationKeys.recloneSite}=${input.peers.join(',')} on the group, so the peer is re-cloned from the restored primary.`,
  ];
  return { before, after };
}

/**
 * The restore container's arguments (restoreJob adds `--result-file`): `restore in-place <source>
 * --confirm <token>` (or `--dry-run`), `--include-schema S` in schema mode or
 * `--keep-fence-on-failure` in whole-instance mode, the load options, and
 * for a point in time `--stop-datetime T --binlogs-dir /pitr-binlogs [--exclude-gtids G]` (the
 * init container downloads the binlogs there).
 */
export function inPlaceJobArgs(spec: RestoreInPlaceSpec, source: ResolvedRestoreSource): string[] {
  const args = ['restore', 'in-place', ...sourceArgs(source)];
  if (spec.dryRun) args.push('--dry-run');
  else args.push('--confirm', spec.confirm);
  const load = spec.loadOptions;
  if (load?.includeSchemas.length === 1) args.push('--include-schema', load.includeSchemas[0] ?? '');
  // The controller puts the role label back on failure; a half-restored server must not take
  // writes meanwhile (they would be lost when the restore is run again): its fence stays up.
  else if (!spec.dryRun) args.push('--keep-fence-on-failure');
  if (load?.threads !== undefined) args.push('--threads', String(load.threads));
  if (load?.loadUsers) args.push('--load-users');
  if (spec.pointInTime) {
    args.push('--stop-datetime', spec.pointInTime.stopDatetime, '--binlogs-dir', mountPaths.pitrBinlogs);
    if (spec.pointInTime.excludeGtids) args.push('--exclude-gtids', spec.pointInTime.excludeGtids);
  }
  return args;
}

const jobResultSchema = z.discriminatedUnion('phase', [
  z.object({
    phase: z.literal('Succeeded'),
    backup: z.string(),
    mode: z.enum(['instance', 'schema']),
    dropped: z.array(z.string()),
    rows: z.number().int().min(0),
    bytes: z.number().int().min(0),
    fencedSeconds: z.number().min(0),
    pointReached: pointReachedSchema,
  }),
  z.object({ phase: z.literal('Planned'), plan: restorePlanSchema }),
  z.object({ phase: z.literal('Failed'), reason: z.string(), message: z.string() }),
]);

/** What `restore in-place --result-file` left: Succeeded, Planned (a dry run) or Failed. */
export type InPlaceJobResult = z.output<typeof jobResultSchema>;

/** Reads the restore container's termination message; undefined when it holds no result (killed, cut). */
export function parseInPlaceJobResult(message: string | undefined): InPlaceJobResult | undefined {
  const json = terminationObject(message);
  if (!json) return undefined;
  const parsed = jobResultSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
