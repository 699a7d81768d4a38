/**
 * API errors as AppErrors: client-node throws `ApiException` with the HTTP status in `.code` and
 * the raw response text in `.body`; this keeps the status and the server's reason and message.
 */
import { ApiException } from '@kubernetes/client-node';
import { AppError, type AppErrorOptions } from '../../lib/errors.js';

/** A failed Kubernetes API call. `status` is the HTTP status (0 when no answer came). */
export class KubeApiError extends AppError {
  readonly status: number;
  /** The Status object's `reason` (`NotFound`, `Conflict`, `AlreadyExists`, `Invalid`…), if any. */
  readonly reason: string | undefined;

  constructor(status: number, reason: string | undefined, message: string, options: AppErrorOptions = {}) {
    super(status === 409 && reason === 'Conflict' ? 'KUBE_CONFLICT' : 'KUBE_API_ERROR', message, undefined, {
      retryable: status === 0 || status === 409 || status === 429 || status >= 500,
      ...options,
    });
    this.status = status;
    this.reason = reason;
  }
}

/** The HTTP status of a client-node failure (ApiException, or a watch error's statusCode), else undefined. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** Whether `err` is an API answer with this HTTP status. */
export function isStatus(err: unknown, status: number): boolean {
  return statusOf(err) === status;
}

/**
 * Wraps any error from a client-node call as a KubeApiError whose message starts with `doing`
 * (e.g. `PUT mysqlbackups ns/name/status`) and carries the server's message.
 */
export function toKubeApiError(err: unknown, doing: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    let reason: string | undefined;
    let message = typeof err.body === 'string' ? err.body : String(err.message);
    try {
      const parsed = JSON.parse(String(err.body)) as { reason?: unknown; message?: unknown };
      if (typeof parsed.reason === 'string') reason = parsed.reason;
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // Not a Status object: keep the raw text.
    }
    return new KubeApiError(err.code, reason, `${doing}: ${err.code}${reason ? ` ${reason}` : ''}: ${message}`, { cause: err });
  }
  const text = err instanceof Error ? err.message : String(err);
  return new KubeApiError(0, undefined, `${doing}: ${text}`, { cause: err });
}
