/**
 * What every bloodraven command shares: the --config/--profile/--log-level flags, a logger on
 * stderr, Ctrl-C/SIGTERM turned into an AbortSignal, and the one place errors are shown.
 */
import { tmpdir } from 'node:os';
import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { createInterface } from 'node:readline/promises';
import { AbortedError, AppError, ExitCode } from '../lib/errors.js';
import { createLogger, formatLogLine, type LogEntry, type Logger, type LogLevel } from '../lib/log.js';
import { removeRunFolder, removeRunFolderSync, sweepPrivateFolders } from '../lib/private-temp.js';
import { runLastResort } from '../lib/last-resort.js';
import { watchForStall } from './drained-loop.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

/**
 * Failures that stand after an interrupt: a bound the run hit on its own (STALLED), and a
 * continuous archiver stopped while its scans were failing (the stop did not cause the failure).
 */
const failuresNotOfTheInterrupt = new Set(['STALLED', 'PITR_ARCHIVE_FAILING']);

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    config: Flags.string({
      char: 'c',
      description:
        'Config file. Without it: the YAML text in the environment variable BLOODRAVEN_CONFIG_YAML if set (relative paths in it are relative to the working directory; how a Kubernetes Job passes the config), else ./bloodraven.yaml if present, else local defaults (backups in ./backups).',
      helpGroup: 'GLOBAL',
    }),
    profile: Flags.string({
      char: 'p',
      description: 'Backup profile to use. Default: the first profile in the config.',
      helpGroup: 'GLOBAL',
    }),
    'log-level': Flags.option({
      options: ['debug', 'info', 'warn', 'error'] as const,
      default: 'info',
      description: 'Least important log lines to show on stderr.',
      helpGroup: 'GLOBAL',
    })(),
  };

  /** Fires on the first SIGINT/SIGTERM; a second one ends the process at once. */
  protected readonly interrupt = new AbortController();
  /** Where log lines go; a progress renderer may take them over while it draws. */
  protected logSink: (entry: LogEntry) => void = (entry) => process.stderr.write(formatLogLine(entry) + '\n');
  protected logger: Logger = createLogger((e) => this.log_(e));
  /** The last thing the command said it was doing, for the error of a run that stalled. */
  private lastActivity: string | undefined;
  private signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  /** Set when the command has printed its JSON document already, failure or not. */
  protected suppressJsonError = false;

  override async init(): Promise<void> {
    await super.init();
    assertNodeVersion(process.versions.node);
    // Temporary files of runs that were killed (a password among them) go before anything else.
    await sweepPrivateFolders();
    // SIGHUP: the terminal closed or the SSH session dropped; stop as cleanly as on Ctrl-C.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const handler = (): void => {
        if (this.interrupt.signal.aborted) {
          // Second signal: stop waiting for a clean shutdown, but leave no server running and no
          // credentials on disk.
          this.removeSignalHandlers();
          runLastResort();
          removeRunFolderSync();
          process.kill(process.pid, sig);
          return;
        }
        process.stderr.write(`\n${sig} received: stopping (press Ctrl-C again to quit at once)\n`);
        this.interrupt.abort(new AbortedError(sig));
      };
      process.on(sig, handler);
      this.signalHandlers.push([sig, handler]);
    }
  }

  protected setLogLevel(level: LogLevel): void {
    this.logger = createLogger((e) => this.log_(e), level);
  }

  private log_(entry: LogEntry): void {
    if (entry.level !== 'debug') this.lastActivity = entry.message;
    this.logSink(entry);
  }

  /**
   * Runs the command as oclif does, with a net: should the event loop run dry while the command
   * still waits (a bug: nothing is left that could end the wait), it fails with a named error
   * and exit 1, instead of Node's silent exit 13.
   */
  protected override async _run<T>(): Promise<T> {
    const watch = watchForStall(
      () =>
        new AppError('STALLED', `bloodraven stopped waiting: ${this.id ?? 'the command'} was waiting for something that can no longer happen (last: ${this.lastActivity ?? 'starting'})`, ExitCode.failure, {
          hint: 'this is a bug in bloodraven; please report it with the output above. Check the target or storage before running the command again',
        }),
    );
    try {
      return await Promise.race([super._run<T>(), watch.stalled]);
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'STALLED')) throw err;
      this.removeSignalHandlers();
      return await this.catch(err);
    } finally {
      watch.dispose();
    }
  }

  /** A password prompt when stdin and stderr are terminals; undefined otherwise (CI, pipes). */
  protected passwordPrompt(): ((question: string) => Promise<string>) | undefined {
    if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
    return async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      // Hide what is typed: write the question ourselves and mute the echo.
      const output = rl as unknown as { _writeToOutput?: (s: string) => void };
      process.stderr.write(question);
      output._writeToOutput = () => undefined;
      try {
        return await rl.question('');
      } finally {
        rl.close();
        process.stderr.write('\n');
      }
    };
  }

  override async finally(err: Error | undefined): Promise<void> {
    this.removeSignalHandlers();
    await removeRunFolder();
    await super.finally(err);
  }

  private removeSignalHandlers(): void {
    for (const [sig, handler] of this.signalHandlers) process.removeListener(sig, handler);
    this.signalHandlers = [];
  }

  /**
   * After Ctrl-C or SIGTERM, a failure on the work's way out (a dropped connection, say) is the
   * interrupt's doing: the exit code says interrupted. Refusals and usage errors keep theirs.
   */
  private interrupted(err: AppError): AppError {
    if (!this.interrupt.signal.aborted || err.exitCode !== ExitCode.failure || failuresNotOfTheInterrupt.has(err.code)) return err;
    return new AppError(err.code, err.message, ExitCode.interrupted, { cause: err, ...(err.hint ? { hint: err.hint } : {}) });
  }

  /** The JSON document a failed --json run prints (commands may add to it). */
  protected errorDocument(err: AppError): Record<string, unknown> {
    return { error: { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode } };
  }

  /** The one place errors are shown: message and hint on stderr (or JSON on stdout), then the exit code. */
  protected override catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<never> {
    if (err instanceof Errors.ExitError) return Promise.reject(err);
    const appError = this.interrupted(toAppError(err));
    if (this.jsonEnabled() && !this.suppressJsonError) {
      process.stdout.write(JSON.stringify(this.errorDocument(appError), null, 2) + '\n');
    }
    process.stderr.write(`error: ${appError.message}\n`);
    if (appError.hint) process.stderr.write(`hint: ${appError.hint}\n`);
    if (appError.code === 'INTERNAL' && err.stack) process.stderr.write(`${err.stack}\nThis is a bug in bloodraven; please report it with the lines above.\n`);
    return Promise.reject(new Errors.ExitError(appError.exitCode));
  }
}

/**
 * zstd, the default compression, is in node:zlib from Node 22.15. An older Node would fail only
 * once a backup or restore is under way (a restore in place after its drops), so it is refused
 * before any command starts.
 */
export function assertNodeVersion(version: string): void {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 15)) return;
  throw new AppError('NODE_TOO_OLD', `bloodraven needs Node.js 22.15 or later (for zstd in node:zlib); this is Node.js ${version}`, ExitCode.usage, {
    hint: 'run it with the Node the project installs: `npx bloodraven …` in its folder, or with its node_modules/.bin first in PATH; or install Node 24',
  });
}

/** The AppError an error is shown as: its own, a usage error for oclif's parse errors, DISK_FULL for a full disk, else INTERNAL. */
export function toAppError(err: Error & { oclif?: { exit?: number } }): AppError {
  if (err instanceof AppError) return err;
  // oclif's own parse errors (unknown flag, missing value): bad usage.
  if (err instanceof Errors.CLIError || err.oclif?.exit === 2) {
    return new AppError('USAGE', err.message.replace(/^Error: /, ''), ExitCode.usage, { hint: 'see --help' });
  }
  // A full disk outside the storage (temporary files: PITR downloads, the scratch server) is the
  // machine's state, not a bug: say where, and what to do.
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const path = (err as { path?: unknown }).path;
    return new AppError('DISK_FULL', `no space left on the device${typeof path === 'string' ? ` of ${path}` : ''} (${err.message})`, ExitCode.failure, {
      cause: err,
      hint: `free space there and run again; temporary files go to ${tmpdir()}, which the TMPDIR environment variable moves`,
    });
  }
  const internal = new AppError('INTERNAL', `internal error: ${err.message}`, ExitCode.failure, { cause: err });
  internal.stack = err.stack ?? '';
  return internal;
}
