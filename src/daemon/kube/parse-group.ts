/**
 * A MysqlFailoverGroup's spec, validated for the reconcilers: the parsed spec, or every problem
 * with the field it concerns (`spec.backup.schedules[0].timeZone`), for a condition and an event.
 */
import { formatPath } from '../../lib/config/schema.js';
import { groupNameProblem, validateGroupSpec, type MysqlFailoverGroup, type MysqlFailoverGroupSpec } from '../../lib/kube/resources.js';

export type GroupParse = { ok: true; spec: MysqlFailoverGroupSpec } | { ok: false; problems: Array<{ path: string; message: string }> };

export type ValidGroup = Extract<GroupParse, { ok: true }>;

export function parseGroup(group: MysqlFailoverGroup): GroupParse {
  const problems: Array<{ path: string; message: string }> = [];
  const nameProblem = groupNameProblem(group.metadata.name ?? '');
  if (nameProblem) problems.push({ path: formatPath(nameProblem.path), message: nameProblem.message });
  const result = validateGroupSpec(group.spec ?? {});
  if (!result.success) problems.push(...result.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  if (problems.length > 0 || !result.success) return { ok: false, problems };
  return { ok: true, spec: result.data };
}
