/**
 * How a container's paths reach a local process: every volumeMount's `mountPath` (and the
 * termination-message path) stands for a folder on this machine, so the runner rewrites those
 * paths wherever they appear in the container's env values and args. `$(VAR)` references in
 * env values, command and args are expanded first, as the kubelet does.
 */

/** A container path and the local folder or file standing for it. */
export interface PathMapping {
  containerPath: string;
  localPath: string;
}

// Characters that continue a path segment: a mountPath followed by one of these is a different
// path (`/backups2`), and one preceded by one (or by `/`) is inside another path (`/var/tmp`).
const pathChar = String.raw`[A-Za-z0-9._~+@%-]`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replaces each container path in `text` by its local path, at path boundaries only: the path
 * must start at the beginning or after a non-path character (a quote, a space, `=`... but not
 * `/`), and end at the end, at `/`, or before a non-path character (a quote, a newline: YAML
 * text in an env value has both). Longer paths win (`/run/x/y` before `/run/x`).
 */
export function replaceContainerPaths(text: string, mappings: readonly PathMapping[]): string {
  const usable = mappings.filter((m) => m.containerPath.startsWith('/') && m.containerPath.length > 1);
  if (usable.length === 0) return text;
  const byPath = new Map(usable.map((m) => [m.containerPath.replace(/\/+$/, ''), m.localPath]));
  const alternatives = [...byPath.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const pattern = new RegExp(`(?<!${pathChar}|/)(${alternatives.join('|')})(?=/|$|(?!${pathChar}).)`, 'gm');
  return text.replace(pattern, (match) => byPath.get(match) ?? match);
}

/**
 * Kubernetes' `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
 * `$(NAME)` becomes NAME's value when NAME is defined, and stays as written when not;
 * `$$` is a literal `$`.
 */
export function expandVariables(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return env.get(name) ?? match;
  });
}
