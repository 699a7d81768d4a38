/**
 * The JSON a Job's container leaves as its termination message (`--result-file
 * /dev/termination-log`), read back by the reconcilers from the pod's status. A message that is
 * empty, cut, or not a JSON object (a container killed before it wrote, or a runtime's own text)
 * holds no result: the caller then goes by the Job's status.
 */

/** The message's JSON object, or null when it holds none. */
export function terminationObject(message: string | undefined): Record<string, unknown> | null {
  if (message === undefined || message.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(message.trim());
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}
