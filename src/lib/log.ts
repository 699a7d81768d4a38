/**
 * Structured logging. The library logs through a Logger it is given; the CLI decides where the
 * lines go (stderr) and how they look. Nothing in src/lib writes to a stream itself.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface LogEntry {
  level: LogLevel;
  message: string;
  fields: LogFields;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that hands entries at or above `level` to `sink`. */
export function createLogger(sink: (entry: LogEntry) => void, level: LogLevel = 'info'): Logger {
  const emit = (l: LogLevel, message: string, fields: LogFields = {}): void => {
    if (order[l] >= order[level]) sink({ level: l, message, fields });
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export const silentLogger: Logger = createLogger(() => undefined);

/** Formats an entry as one line: `level message key=value …`. */
export function formatLogLine(entry: LogEntry): string {
  const parts = Object.entries(entry.fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [entry.level === 'info' ? '' : `${entry.level}:`, entry.message, ...parts].filter(Boolean).join(' ');
}
