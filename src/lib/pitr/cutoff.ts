/**
 * The pruning cutoff as the Kubernetes daemon publishes it (`GET /pitr-cutoff?namespace=&group=&profile=`,
 * src/daemon/http.ts): the oldest completionTime among the profile's retained Succeeded
 * MysqlBackups, or null while there is none. A sidecar archiver asks for it so that it can prune
 * its own site's archive without Kubernetes access, and the daemon without storage credentials.
 */
import { AppError, ExitCode, errorMessage } from '../errors.js';

/** How long one request may take before it counts as unanswered. */
const defaultTimeoutMs = 10_000;

/**
 * The cutoff at `url`: a Date, or null when the daemon knows of no retained backup (then nothing
 * may be pruned). Throws AppError `PITR_CUTOFF_UNAVAILABLE` (retryable) when the daemon cannot be
 * reached, answers with an error status (its message quoted: an unknown group or profile is a
 * 404) or with something that is not `{"cutoff": RFC 3339 | null}`.
 */
export async function fetchPitrCutoff(url: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Date | null> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? defaultTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const fail = (why: string): AppError =>
    new AppError('PITR_CUTOFF_UNAVAILABLE', `cannot read the pruning cutoff from ${url}: ${why}; nothing is pruned until it can be read`, ExitCode.failure, {
      hint: 'check that the bloodraven daemon (--kubernetes) runs and that --pitr-cutoff-url names its /pitr-cutoff with the namespace, group and profile of this archive',
      retryable: true,
    });
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  } catch (err) {
    throw fail(timeout.aborted ? `no answer within ${Math.round((options.timeoutMs ?? defaultTimeoutMs) / 1000)} s` : errorMessage(err instanceof Error && err.cause ? err.cause : err));
  }
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const said = typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : text.slice(0, 200);
    throw fail(`HTTP ${res.status}${said ? `: ${said}` : ''}`);
  }
  const cutoff = typeof body === 'object' && body !== null ? (body as { cutoff?: unknown }).cutoff : undefined;
  if (cutoff === null) return null;
  if (typeof cutoff === 'string' && Number.isFinite(Date.parse(cutoff))) return new Date(cutoff);
  throw fail(`the answer is not {"cutoff": <RFC 3339 time> | null}: ${text.slice(0, 200)}`);
}
