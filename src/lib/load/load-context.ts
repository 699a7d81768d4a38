/** What the steps of one load share (loader.ts builds it; ddl-steps.ts and data-steps.ts use it). */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { MysqlConnector } from '../mysql/connection.js';
import type { Flavor } from '../mysql/flavor.js';
import type { BackupView } from '../storage/encrypted-store.js';
import type { SchemaManifest } from './dump-manifest.js';
import type { LoadPlan } from './load-plan.js';

export interface LoadDeps {
  /** The target server. */
  connector: MysqlConnector;
  /** Where the dump is. */
  store: BackupView;
  logger: Logger;
  clock: Clock;
}

export type LoadPhase = 'checking' | 'ddl' | 'data' | 'indexes' | 'finishing';

export interface LoadProgressReport {
  phase: LoadPhase;
  tablesTotal: number;
  tablesDone: number;
  filesTotal: number;
  filesDone: number;
  rows: number;
  /** Uncompressed bytes sent to the server, and the dump's total. */
  bytes: number;
  bytesTotal: number;
}

export interface LoadContext {
  deps: LoadDeps;
  plan: LoadPlan;
  flavor: Flavor;
  /** The plan's schemas. */
  schemas: SchemaManifest[];
  report: LoadProgressReport;
  emit: () => void;
  signal: AbortSignal;
  warnings: number;
  resumedSteps: number;
  /** What the data phase proved (loader.ts LoadVerification). */
  verified: { filesBySha256: number; filesLoaded: number; tablesCounted: number };
}
