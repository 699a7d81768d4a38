/**
 * The small JSON documents bloodraven keeps in storage (records, manifests, keyrings, tallies):
 * read as null when absent, written pretty-printed with a final newline.
 */
import { AppError, ExitCode, NotFoundError } from '../errors.js';
import type { ObjectStore, StoreOptions } from './object-store.js';

/** The document at `key`, or null when there is none. A document that is not JSON is an error naming it. */
export async function readJson<T>(store: ObjectStore, key: string, options: StoreOptions = {}): Promise<T | null> {
  let bytes: Buffer;
  try {
    bytes = await store.get(key, options);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new AppError('STORED_FILE_UNREADABLE', `${store.location.replace(/\/$/, '')}/${key} is not valid JSON: ${(err as Error).message}`, ExitCode.failure, {
      hint: 'the file was changed or cut short in storage; restore it from a copy, or remove it if bloodraven can do without it',
      cause: err,
    });
  }
}

export function serializeJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export async function writeJson(store: ObjectStore, key: string, value: unknown, options: StoreOptions = {}): Promise<void> {
  await store.put(key, serializeJson(value), options);
}
