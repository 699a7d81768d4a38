/**
 * What a load is to do, fixed before it starts (restore/plan.ts builds it without touching the
 * target): the dump's selected schemas, what every data file and table is expected to hold, the
 * inventory the target must hold afterwards, and the resume log to continue.
 */
import type { Inventory, InventoryObject } from '../mysql/inventory.js';
import type { ServerInfo } from '../mysql/flavor.js';
import type { ExpectedObject } from '../storage/object-check.js';
import type { DumpManifest, SchemaManifest } from './dump-manifest.js';
import type { LoadProgress } from './load-progress.js';

export interface LoadOptions {
  threads: number;
  includeSchemas: string[];
  excludeSchemas: string[];
  /** Load into existing tables instead of refusing when the target already has them. */
  ignoreExistingObjects: boolean;
  /** `SET sql_log_bin = 0` on every load session. */
  skipBinlog: boolean;
  /** Which secondary indexes to build after the data (MySQL Shell's deferTableIndexes). */
  deferIndexes: 'all' | 'fulltext' | 'off';
  /** Keep a resume log beside the dump (off for throwaway targets such as verify's). */
  resume: boolean;
  /** Ignore an earlier run's resume log and start over. */
  resetProgress: boolean;
  /** Create the dump's accounts (`@.users.sql`), as MySQL Shell's loadUsers. */
  loadUsers?: boolean;
}

/** What one data file is: its stored size and SHA-256, and the rows it holds. */
export interface ExpectedFile extends ExpectedObject {
  /** Rows the dumper wrote into it, when known (bloodraven's record). */
  rows: number | null;
}

export interface LoadPlan {
  /** Folder key of the dump, ending in `/` (or ''). */
  prefix: string;
  manifest: DumpManifest;
  /** The schemas to load, in the dump's order. */
  schemas: SchemaManifest[];
  options: LoadOptions;
  /** By data file name. */
  files: Map<string, ExpectedFile>;
  /** By metadata/DDL file name: the size and SHA-256 of its content (as read, after decryption), when recorded. */
  scripts: Map<string, ExpectedObject>;
  /** Rows per table (`tableRowKey`), when the dump says. */
  tableRows: Map<string, number>;
  /** What the target must hold afterwards (within the loaded schemas). */
  inventory: Inventory;
  /** Tables that existed before the load (`tableRowKey`): loaded into, so their row counts are not the dump's. */
  preexisting: Set<string>;
  /** Accounts to create from `@.users.sql`, and those the target has already (left as they are). */
  users: { create: string[]; kept: string[] } | null;
  progress: LoadProgress;
  target: ServerInfo;
}

/**
 * The inventory a dump describes of itself, from its metadata: for dumps without a recorded
 * inventory (MySQL Shell's, older bloodraven backups).
 */
export function inventoryOfManifest(manifest: DumpManifest): Inventory {
  const objects: InventoryObject[] = [];
  for (const s of manifest.schemas) {
    for (const t of s.tables) {
      if (t.sequence) objects.push({ kind: 'sequence', schema: s.name, name: t.name });
      else objects.push({ kind: 'table', schema: s.name, name: t.name, type: t.systemVersioning ? 'SYSTEM VERSIONED' : 'BASE TABLE' });
      for (const trigger of t.triggers) objects.push({ kind: 'trigger', schema: s.name, name: trigger });
    }
    for (const v of s.views) objects.push({ kind: 'view', schema: s.name, name: v.name });
    for (const f of s.functions) objects.push({ kind: 'function', schema: s.name, name: f });
    for (const p of s.procedures) objects.push({ kind: 'procedure', schema: s.name, name: p });
    for (const e of s.events) objects.push({ kind: 'event', schema: s.name, name: e });
  }
  return { schemas: manifest.schemas.map((s) => s.name), objects, accounts: manifest.users };
}
