/**
 * Typed errors. Every failure a user can act on is an AppError carrying a stable code, the exit
 * code the CLI uses, and a hint saying what to do. The CLI shows them in one place
 * (src/cli/base-command.ts); the library only throws them.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  precondition: 3,
  /** Stopped by SIGINT/SIGTERM (or a caller's abort): 128 + SIGINT, as shells report Ctrl-C. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface AppErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Whether retrying the same operation may succeed (network blips, throttling). */
  retryable?: boolean;
}

export class AppError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly retryable: boolean;

  constructor(code: string, message: string, exitCode: ExitCode = ExitCode.failure, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
  }
}

/** One problem in the configuration, with the path of the field it concerns. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Bad usage or configuration: every problem found, reported at once (exit 2). */
export class ConfigError extends AppError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: AppErrorOptions = {}) {
    const lines = issues.map((i) => (i.path ? `  ${i.path}: ${i.message}` : `  ${i.message}`));
    super('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`, ExitCode.usage, options);
    this.issues = issues;
  }
}

/** A precondition the work refuses to run without (exit 3): target not empty, lock not obtainable. */
export class PreconditionError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, ExitCode.precondition, options);
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, ExitCode.failure, options);
  }
}

export class StorageError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, ExitCode.failure, options);
  }
}

export class MysqlError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, ExitCode.failure, options);
  }
}

/**
 * A MySQL/MariaDB server that keeps its connections open but has answered nothing for too long (a
 * stopped process, a full disk it waits on, stuck storage): the run is stopped rather than left
 * waiting on it for ever.
 */
export class ServerUnresponsiveError extends AppError {
  /** `host:port` or the socket. */
  readonly target: string;
  readonly silentMs: number;

  constructor(target: string, silentMs: number, options: AppErrorOptions = {}) {
    super('SERVER_UNRESPONSIVE', `the MySQL server at ${target} has not answered for ${Math.round(silentMs / 1000)} s: the run was stopped and its sessions closed`, ExitCode.failure, options);
    this.target = target;
    this.silentMs = silentMs;
  }
}

export class ExternalCommandError extends AppError {
  readonly command: string;
  readonly commandExitCode: number | null;
  readonly stderrTail: string;

  constructor(command: string, commandExitCode: number | null, stderrTail: string, options: AppErrorOptions = {}) {
    const tail = stderrTail.trim() ? `: ${stderrTail.trim()}` : '';
    super('EXTERNAL_COMMAND_FAILED', `${command} exited with ${commandExitCode ?? 'a signal'}${tail}`, ExitCode.failure, options);
    this.command = command;
    this.commandExitCode = commandExitCode;
    this.stderrTail = stderrTail;
  }
}

/** The work was interrupted (SIGINT, SIGTERM, or a caller's abort). */
export class AbortedError extends AppError {
  constructor(reason: string, options: AppErrorOptions = {}) {
    super('ABORTED', `interrupted: ${reason}`, ExitCode.interrupted, options);
  }
}

/** A bug: something the code assumed could not happen. */
export class InternalError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('INTERNAL', message, ExitCode.failure, options);
  }
}

/** The message of any thrown value, for records and logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Throws an AbortedError naming the signal's reason if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

export function abortError(signal: AbortSignal): AppError {
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) return reason;
  return new AbortedError(reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted');
}
