/**
 * Errors across a thread boundary. Structured cloning keeps an Error's message and stack but
 * drops its class and fields, and the CLI shows an AppError by its code, exit code and hint: a
 * worker's MysqlError must reach the main thread as a MysqlError, with the same fields.
 */
import {
  AbortedError,
  AppError,
  ConfigError,
  ExternalCommandError,
  InternalError,
  MysqlError,
  NotFoundError,
  PreconditionError,
  ServerUnresponsiveError,
  StorageError,
  errorMessage,
} from '../errors.js';
import { TamperedError } from '../crypto/segments.js';
import { ObjectMismatchError } from '../storage/object-check.js';

/** An error as a plain object: the class's name, and its own enumerable fields (code, hint, …). */
export interface WireError {
  className: string;
  message: string;
  stack: string | undefined;
  fields: Record<string, unknown>;
  cause: WireError | undefined;
}

const classes: Record<string, { prototype: object }> = {
  AppError,
  ConfigError,
  PreconditionError,
  NotFoundError,
  StorageError,
  MysqlError,
  ServerUnresponsiveError,
  ExternalCommandError,
  AbortedError,
  InternalError,
  // A load thread's verdicts on a file's bytes, which the restore reports as they are.
  ObjectMismatchError,
  TamperedError,
};

/** `err` (anything thrown) as a cloneable plain object; causes up to 3 deep. */
export function errorToWire(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { className: 'Error', message: errorMessage(err), stack: undefined, fields: {}, cause: undefined };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) {
    // Only what clones: the AppError fields are strings, numbers, booleans and issue lists.
    if (k !== 'cause' && (v === null || ['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v))) fields[k] = v;
  }
  return {
    className: err.constructor.name,
    message: err.message,
    stack: err.stack,
    fields,
    cause: err.cause !== undefined && depth < 3 ? errorToWire(err.cause, depth + 1) : undefined,
  };
}

/** The error `wire` describes, as an instance of the same AppError class (a plain Error for other classes). */
export function errorFromWire(wire: WireError): Error {
  const cls = classes[wire.className];
  const err = cls ? (Object.create(cls.prototype) as Error) : new Error(wire.message);
  Object.defineProperty(err, 'message', { value: wire.message, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(err, 'stack', { value: wire.stack, writable: true, configurable: true, enumerable: false });
  Object.assign(err, wire.fields);
  if (wire.cause) Object.defineProperty(err, 'cause', { value: errorFromWire(wire.cause), writable: true, configurable: true, enumerable: false });
  if (!cls && wire.className !== 'Error') err.name = wire.className;
  return err;
}

