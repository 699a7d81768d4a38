/**
 * `@.inventory.json`: bloodraven's own file in a dump, beside MySQL Shell's (whose loader ignores
 * it). It holds what the source held (its inventory of objects and accounts, mysql/inventory.ts)
 * and the size and SHA-256 of every metadata and DDL file the dump wrote. It is a dump file like
 * the others, so an encrypted backup keeps these names encrypted; the backup record holds only
 * its size and SHA-256, which anchors it (and through it every script) to the record.
 */
import { hash } from 'node:crypto';
import { AppError, ExitCode } from '../errors.js';
import type { Inventory } from '../mysql/inventory.js';
import type { ObjectStore } from '../storage/object-store.js';
import { describeMismatch, ObjectMismatchError, type ExpectedObject } from '../storage/object-check.js';
import { toJson } from './metadata.js';

export const inventoryFileName = '@.inventory.json';

/** One metadata or DDL file of the dump: the size and SHA-256 of its content (before any encryption). */
export interface ScriptDigest {
  name: string;
  bytes: number;
  sha256: string;
}

export interface InventoryFile {
  inventory: Inventory;
  scripts: ScriptDigest[];
}

export function digestOf(name: string, content: Buffer): ScriptDigest {
  return { name, bytes: content.length, sha256: hash('sha256', content, 'hex') };
}

/** The file's content; its digest goes into the backup record. */
export function inventoryFileContent(file: InventoryFile): Buffer {
  return Buffer.from(toJson(file), 'utf8');
}

/**
 * Reads the inventory file of the dump under `prefix` and checks it against the digest the
 * record holds; null when the record has none (a backup from before it was kept). Throws
 * ObjectMismatchError when the file differs from the record, AppError when it is missing.
 */
export async function readInventoryFile(store: ObjectStore, prefix: string, expected: ExpectedObject | undefined, signal?: AbortSignal): Promise<InventoryFile | null> {
  if (!expected) return null;
  let content: Buffer;
  try {
    content = await store.get(prefix + inventoryFileName, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof AppError && err.code === 'OBJECT_NOT_FOUND') {
      throw new AppError('DUMP_CORRUPT', `the backup's ${inventoryFileName} is missing, though its record lists it`, ExitCode.failure, {
        hint: 'the backup is damaged; restore another backup',
      });
    }
    throw err;
  }
  const problem = describeMismatch(expected, digestOf(inventoryFileName, content));
  if (problem) throw new ObjectMismatchError(inventoryFileName, problem);
  return JSON.parse(content.toString('utf8')) as InventoryFile;
}
