/**
 * The restore plan (DESIGN §2, "Restore = plan, then apply"): everything a restore will do and
 * every precondition it rests on, worked out without changing anything. Any failed check is a
 * refusal (PreconditionError, exit 3) with nothing touched; all refusals are reported at once.
 * Only a plan that passed is applied (loadDump, and for in-place restores the drops first).
 *
 * Checked here: the dump is complete and readable; the schemas asked for exist in it; every data
 * file is present with the size the record gives (and, when asked, its SHA-256, by reading it);
 * the target's settings (local_infile, read_only), the account's privileges and the session
 * settings the load will make; room for the largest value (max_allowed_packet); objects in the
 * way; whether an earlier load may be resumed; the accounts to create.
 *
 * Before it looks at the target, the plan takes the target's restore claim (target-claim.ts): a
 * restore already running into it is a refusal. The plan keeps the claim; whoever applies the plan
 * releases it when the restore ends (releasePlan), whatever the outcome.
 */
import type { Clock } from '../clock.js';
import { AppError, ConfigError, PreconditionError, errorMessage, throwIfAborted } from '../errors.js';
import { inventoryFileName, readInventoryFile, type InventoryFile } from '../dump/inventory-file.js';
import type { Logger } from '../log.js';
import { quoteId, type MysqlConnector, type MysqlSession } from '../mysql/connection.js';
import { detectFlavor, type Flavor, type ServerInfo } from '../mysql/flavor.js';
import { readGrants, type Grants } from '../mysql/grants.js';
import { loadProgressFileName } from '../catalog/names.js';
import { readDumpManifest, tableRowKey, type DumpManifest, type SchemaManifest } from '../load/dump-manifest.js';
import { inventoryOfManifest, type ExpectedFile, type LoadOptions, type LoadPlan } from '../load/load-plan.js';
import { LoadProgress, type ReplayMark } from '../load/load-progress.js';
import { ObjectMismatchError, type ExpectedObject } from '../storage/object-check.js';
import { checkFiles, type FileProblem } from './check-files.js';
import { claimTarget, type ClaimHolder, type TargetClaim } from './target-claim.js';
import type { RestoreSource } from './source.js';
import {
  checkDefinerPrivilege,
  checkLargestValues,
  checkConnectionRoom,
  checkLocalInfile,
  checkPrivileges,
  checkResumable,
  checkWritable,
  definersIn,
  existingObjects,
  existingObjectsRefusal,
  privilegeNeeds,
  probeSettings,
  splitAccounts,
  type Refusal,
} from './target-checks.js';

/**
 * - bootstrap: into a server that does not hold the dump's objects (or with --ignore-existing-objects);
 * - instance: in place, every user schema dropped first, other clients fenced off;
 * - schema: in place, the one schema dropped first;
 * - scratch: a throwaway server (verify).
 */
export type RestoreMode = 'bootstrap' | 'instance' | 'schema' | 'scratch';

export interface RestoreRequest {
  mode: RestoreMode;
  load: LoadOptions;
  /** Read every file before anything is touched, checking its size and SHA-256 (in-place restores). */
  verifyFiles: boolean;
  /** The read_only fence an earlier in-place restore of this target raised and never lowered (it was killed). */
  ownFence?: { previous: number; raisedAt: string };
  /** How the user named the schema selection, for errors (`--include-schema`). */
  includeFlag?: string;
  excludeFlag?: string;
  /** The target time of a point-in-time restore (RFC 3339): a replay to it that an earlier run began is resumed. */
  pointInTime?: string;
}

export interface RestorePlan {
  mode: RestoreMode;
  /** The backup name or location. */
  source: string;
  backup: string | null;
  /** The target's address, and what it is. */
  target: string;
  server: ServerInfo;
  /** Schemas dropped before the load (in-place restores). */
  drop: string[];
  /** Fence other clients off with the global read_only while restoring (whole-instance in place). */
  fence: boolean;
  /** A fence left by an interrupted in-place restore of this target, taken over and lowered to what it replaced. */
  ownFence?: { previous: number; raisedAt: string };
  load: LoadPlan;
  /** What was checked, in words, for --dry-run and the in-place prompt. */
  checked: string[];
  /** The target's restore claim, held until releasePlan (none for a scratch server: it is the run's own). */
  claim: TargetClaim | null;
  /** An earlier run's point-in-time replay into this target that stopped after the load was complete: this run resumes it instead of loading. */
  resumeReplay: ReplayMark | null;
}

/** Releases what the plan holds (the target's claim). Safe to call more than once. */
export async function releasePlan(plan: Pick<RestorePlan, 'claim'>): Promise<void> {
  await plan.claim?.release();
}

export interface PlanDeps {
  connector: MysqlConnector;
  logger: Logger;
  clock: Clock;
}

/** Works out the plan; throws PreconditionError (exit 3) listing every refusal, ConfigError (exit 2) for a bad selection. */
export async function planRestore(deps: PlanDeps, source: RestoreSource, request: RestoreRequest, signal?: AbortSignal): Promise<RestorePlan> {
  const manifest = await readManifest(source);
  const schemas = selectSchemas(manifest, request, source.description);
  const refusals: Refusal[] = [];
  const checked: string[] = [`the dump is complete (@.done.json) and its metadata reads (${manifest.schemas.length} schema(s))`];
  const scriptTexts = new Map<string, Buffer>();
  const dump = await checkDump({ source, manifest, schemas, request, refusals, checked, scriptTexts }, signal);

  const claim = request.mode === 'scratch' ? null : await claimTarget(deps.connector, (holder) => recordedHolder(deps, source, holder, request));
  let session: MysqlSession | undefined;
  let planned = false;
  try {
    session = await deps.connector.connect();
    const flavor = await detectFlavor(session);
    const grants = await readGrants(session);
    const drop = request.mode === 'instance' ? await userSchemas(session, flavor) : request.mode === 'schema' ? await presentSchemas(session, schemas) : [];
    const stage: Stage = { source, manifest, schemas, request, refusals, checked, scriptTexts };
    await checkTarget(stage, { session, flavor, grants, drop, target: deps.connector.target }, signal);
    const { progress, preexisting } = await checkEarlierLoad(stage, { session, flavor, drop }, deps);
    let users: LoadPlan['users'] = null;
    if (request.load.loadUsers === true) {
      if (manifest.users === null) {
        refusals.push({ dump: true, code: 'DUMP_HAS_NO_ACCOUNTS', message: `${source.description} holds no accounts (@.users.sql)`, hint: 'restore without --load-users; the backup was taken with dump.users: false, or by an older bloodraven' });
      } else users = await splitAccounts(session, flavor, manifest.users, grants.currentUser);
    }

    if (refusals.length > 0) throw refusalError(refusals);
    if (claim) checked.push(`no other restore is running into ${deps.connector.target}: this one holds its restore claim (connection ${claim.connectionId})`);
    planned = true;
    return {
      mode: request.mode,
      source: source.description,
      backup: source.record?.name ?? null,
      target: deps.connector.target,
      server: flavor.info,
      drop,
      fence: request.mode === 'instance',
      ...(request.ownFence ? { ownFence: request.ownFence } : {}),
      load: {
        prefix: source.prefix,
        manifest,
        schemas,
        options: request.load,
        files: dump.files,
        scripts: dump.scripts,
        tableRows: tableRows(manifest, source.record),
        inventory: dump.contents?.inventory ?? inventoryOfManifest(manifest),
        preexisting,
        users,
        progress,
        target: flavor.info,
      },
      checked,
      claim,
      resumeReplay: resumableReplay(progress, schemas, request),
    };
  } finally {
    await session?.close();
    if (!planned) await claim?.release();
  }
}

/** The replay this restore resumes: the load is complete, and a replay to the same time began after it and stopped. */
function resumableReplay(progress: LoadProgress, schemas: readonly SchemaManifest[], request: RestoreRequest): ReplayMark | null {
  const replay = progress.replay;
  if (!replay || replay.completedAt || request.pointInTime !== replay.target) return null;
  return progress.completedAt(schemas.map((s) => s.name)) ? replay : null;
}

/** What the holder's own progress file says about it (its process and host), when the file names that connection. */
async function recordedHolder(deps: PlanDeps, source: RestoreSource, holder: ClaimHolder, request: RestoreRequest): Promise<string | null> {
  if (!request.load.resume) return null;
  const session = await deps.connector.connect();
  try {
    const flavor = await detectFlavor(session);
    const progress = await LoadProgress.open(source.store, source.prefix + loadProgressFileName(await targetId(session, flavor.info)), {
      reset: false,
      logger: deps.logger,
      now: () => deps.clock.now().getTime(),
    });
    const h = progress.holder;
    return h && h.connectionId === holder.connectionId ? `${progress.file} names it as process ${h.pid} on ${h.host}, restoring since ${h.since}` : null;
  } finally {
    await session.close();
  }
}

/** What the stages of planning share; each adds its refusals and what it checked. */
interface Stage {
  source: RestoreSource;
  manifest: DumpManifest;
  schemas: SchemaManifest[];
  request: RestoreRequest;
  refusals: Refusal[];
  checked: string[];
  /** Scripts already read and checked, by name: later checks use them instead of reading again. */
  scriptTexts: Map<string, Buffer>;
}

/**
 * The dump: every data file present with its recorded size (and, when asked, its SHA-256), the
 * inventory file, and every script's content against its SHA-256 (scripts are small: always read,
 * so a damaged one never surfaces after the data is in).
 */
async function checkDump(stage: Stage, signal?: AbortSignal): Promise<{ files: Map<string, ExpectedFile>; scripts: Map<string, ExpectedObject>; contents: InventoryFile | null }> {
  const { source, manifest, schemas, request, refusals, checked } = stage;
  const { files, problems } = expectedFiles(manifest, schemas, source.record);
  refusals.push(...fileRefusals(problems));
  const contents = await readContents(source, refusals, signal);
  const scripts = new Map<string, ExpectedObject>((contents?.scripts ?? []).map((s) => [s.name, { bytes: s.bytes, sha256: s.sha256 }]));
  refusals.push(...fileRefusals([...scripts.keys()].filter((name) => !manifest.files.has(name)).map((name) => ({ name, problem: 'it is missing' }))));
  checked.push(`every data file is present with the size the record gives (${files.size} file(s))`);
  if (refusals.length === 0) {
    throwIfAborted(signal);
    const definerScripts = new Set(definerScriptNames(schemas));
    // Data files are read here only when asked (in place); otherwise each is checked as it loads.
    const problems = await checkFiles(source.store, source.prefix, request.verifyFiles ? files : new Map(), scripts, {
      signal,
      // Only the scripts a DEFINER can be in are kept for dumpDefiners; the table scripts (most of
      // them) are read again by the load, so holding them all would only add to the plan's peak.
      onScript: (name, content) => {
        if (definerScripts.has(name)) stage.scriptTexts.set(name, content);
      },
    });
    refusals.push(...fileRefusals(problems));
    if (scripts.size > 0) checked.push(`every metadata and DDL script read, its SHA-256 matching the record (${scripts.size} file(s))`);
    if (request.verifyFiles) checked.push('every data file read, its size and SHA-256 matching the record');
  }
  return { files, scripts, contents };
}

/** The target: settings, the account's privileges, the session settings the load makes, room for the largest value. */
async function checkTarget(
  stage: Stage,
  on: { session: MysqlSession; flavor: Flavor; grants: Grants; drop: string[]; target: string },
  signal?: AbortSignal,
): Promise<void> {
  const { source, schemas, request, refusals, checked } = stage;
  const { session, flavor, grants } = on;
  if (schemas.some((s) => s.tables.some((t) => t.includesData && t.dataFiles.length > 0))) refusals.push(...(await checkLocalInfile(session)));
  refusals.push(...(await checkConnectionRoom(session, request.load.threads)));
  if (request.mode === 'instance' || request.mode === 'schema') {
    const readOnly = await checkWritable(session, on.target);
    if (readOnly.length > 0 && request.ownFence && request.mode === 'instance') {
      checked.push(`the target is read-only by the fence of an earlier in-place restore of it that was interrupted (raised ${request.ownFence.raisedAt}): this restore takes it over and lowers it`);
    } else if (readOnly.length > 0 && request.ownFence) {
      refusals.push({
        code: 'TARGET_READ_ONLY',
        message: `the target ${on.target} is read-only by the fence of a whole-instance restore in place of it that was interrupted (raised ${request.ownFence.raisedAt}): its schemas are partly restored`,
        hint: 'finish that restore first: run restore in-place without --include-schema (with a newer --confirm); it takes the fence over and lowers it',
      });
    } else refusals.push(...readOnly);
  }
  refusals.push(...checkPrivileges(grants, privilegeNeeds(schemas, on.drop, request.load.loadUsers === true)));
  refusals.push(...checkDefinerPrivilege(grants, flavor, await dumpDefiners(stage, signal)));
  refusals.push(
    ...(await probeSettings(session, flavor, {
      skipBinlog: request.load.skipBinlog ? (request.mode === 'instance' ? 'whole-instance' : 'asked') : false,
      insertHistory: schemas.some((s) => s.tables.some((t) => t.systemVersioning)),
      fence: request.mode === 'instance',
    })),
  );
  refusals.push(...(await checkLargestValues(session, source.record, schemas)));
  checked.push(`the target ${on.target} (${flavor.info.version}): settings, privileges of ${grants.currentUser}, room for the largest value`);
}

/**
 * An earlier load of this dump into this target: resumed only if the target holds what it did,
 * refused when it finished the same schemas; schemas no earlier load began must not clash with
 * what the target holds (unless --ignore-existing-objects, whose tables are then not row-counted).
 */
async function checkEarlierLoad(
  stage: Stage,
  on: { session: MysqlSession; flavor: Flavor; drop: string[] },
  deps: PlanDeps,
): Promise<{ progress: LoadProgress; preexisting: Set<string> }> {
  const { source, manifest, schemas, request, refusals, checked } = stage;
  const { session } = on;
  const progress = request.load.resume
    ? await LoadProgress.open(source.store, source.prefix + loadProgressFileName(await targetId(session, on.flavor.info)), {
        reset: request.load.resetProgress,
        logger: deps.logger,
        now: () => deps.clock.now().getTime(),
      })
    : LoadProgress.disabled(deps.logger);
  const resumed = schemas.filter((s) => progress.touched(s.name));
  if (progress.resuming) {
    refusals.push(...(await checkResumable(session, progress, manifest, schemas.map((s) => s.name), request.pointInTime)));
    if (resumed.length > 0) checked.push(`the earlier load recorded in ${progress.file} is held by the target, and unfinished`);
  }
  const preexisting = new Set<string>();
  const fresh = schemas.filter((s) => !resumed.includes(s));
  if (fresh.length > 0 && on.drop.length === 0 && request.mode !== 'instance') {
    const existing = await existingObjects(session, fresh);
    if (existing.labels.length > 0 && !request.load.ignoreExistingObjects) refusals.push(existingObjectsRefusal(existing.labels));
    for (const t of existing.tables) preexisting.add(tableRowKey(t.schema, t.table));
  }
  return { progress, preexisting };
}

/** The dump's metadata; a damaged or incomplete dump is a refusal: nothing has been touched. */
async function readManifest(source: RestoreSource): Promise<DumpManifest> {
  try {
    return await readDumpManifest(source.store, source.prefix);
  } catch (err) {
    if (err instanceof AppError && err.code === 'DUMP_CORRUPT') throw new PreconditionError(err.code, err.message, { cause: err, ...(err.hint ? { hint: err.hint } : {}) });
    throw err;
  }
}

/** The dump's inventory file, checked against the record; a damaged one is a refusal (null then, as for dumps without one). */
async function readContents(source: RestoreSource, refusals: Refusal[], signal?: AbortSignal): Promise<InventoryFile | null> {
  try {
    return await readInventoryFile(source.store, source.prefix, source.record?.inventoryFile, signal);
  } catch (err) {
    if (!(err instanceof ObjectMismatchError) && !(err instanceof AppError && err.code === 'DUMP_CORRUPT')) throw err;
    refusals.push(...fileRefusals([{ name: inventoryFileName, problem: errorMessage(err) }]));
    return null;
  }
}

/** One PreconditionError for all refusals: the single one as it is, several listed. */
function refusalError(refusals: readonly Refusal[]): PreconditionError {
  const [first] = refusals;
  const hints = [...new Set(refusals.map((r) => r.hint))];
  const message = refusals.length === 1 ? first!.message : `the restore is refused; nothing was changed:\n${refusals.map((r) => `  - ${r.message}`).join('\n')}`;
  // Refused for the target alone: the dump is not in question (verify must not count it against the backup).
  if (refusals.every((r) => !r.dump)) return new TargetRefusedError(first!.code, message, { hint: hints.join('; ') });
  return new PreconditionError(first!.code, message, { hint: hints.join('; ') });
}

/** A restore refused for what its target is (settings, privileges, objects in the way), not for its dump. */
export class TargetRefusedError extends PreconditionError {}

function selectSchemas(manifest: DumpManifest, request: RestoreRequest, description: string): SchemaManifest[] {
  const { includeSchemas, excludeSchemas } = request.load;
  const names = new Set(manifest.schemas.map((s) => s.name));
  const have = manifest.schemas.map((s) => s.name).join(', ') || '(none)';
  const issues = [
    ...includeSchemas.filter((s) => !names.has(s)).map((s) => ({ path: request.includeFlag ?? '--include-schema', message: `${description} has no schema "${s}"; it has: ${have}` })),
    ...excludeSchemas.filter((s) => !names.has(s)).map((s) => ({ path: request.excludeFlag ?? '--exclude-schema', message: `${description} has no schema "${s}"; it has: ${have}` })),
    ...includeSchemas.filter((s) => excludeSchemas.includes(s)).map((s) => ({ path: request.includeFlag ?? '--include-schema', message: `"${s}" is both included and excluded` })),
  ];
  if (issues.length > 0) throw new ConfigError(issues);
  const include = new Set(includeSchemas);
  const exclude = new Set(excludeSchemas);
  const selected = manifest.schemas.filter((s) => (include.size === 0 || include.has(s.name)) && !exclude.has(s.name));
  if (selected.length === 0) throw new ConfigError([{ path: request.excludeFlag ?? '--exclude-schema', message: `nothing of ${description} is left to restore` }]);
  return selected;
}

/**
 * What every data file of the selected tables is expected to be. With a record, every file it
 * lists must be in the dump with its recorded size, and every file in the dump must be in it (a
 * chunk added or swapped in is as wrong as one missing).
 */
function expectedFiles(manifest: DumpManifest, schemas: readonly SchemaManifest[], record: RestoreSource['record']): { files: Map<string, ExpectedFile>; problems: FileProblem[] } {
  const files = new Map<string, ExpectedFile>();
  const problems: FileProblem[] = [];
  const recorded = new Map((record?.files ?? []).map((f) => [f.name, f]));
  // Recorded files the dump's listing lacks: the only ones that can be missing (listed once, not per table).
  const absent = (record?.files ?? []).filter((r) => !manifest.files.has(r.name));
  for (const table of schemas.flatMap((s) => s.tables)) {
    const prefixOfTable = `${table.basename}@`;
    for (const f of table.dataFiles) {
      const r = recorded.get(f.name);
      if (record && !r) problems.push({ name: f.name, problem: 'the record does not list it (a file added to the backup)' });
      files.set(f.name, r ? { bytes: r.storedBytes, sha256: r.sha256, rows: r.rows } : { bytes: f.storedBytes, sha256: null, rows: null });
      if (r && r.storedBytes !== f.storedBytes) problems.push({ name: f.name, problem: `it holds ${f.storedBytes} bytes, the record says ${r.storedBytes}` });
    }
    if (!record) continue;
    for (const r of absent) {
      const ofTable = r.name.startsWith(prefixOfTable) || r.name.startsWith(`${table.basename}.`);
      if (ofTable) problems.push({ name: r.name, problem: 'it is missing' });
    }
  }
  return { files, problems };
}

function fileRefusals(problems: readonly FileProblem[]): Refusal[] {
  if (problems.length === 0) return [];
  const shown = problems.slice(0, 20).map((p) => `  ${p.name}: ${p.problem}`);
  if (problems.length > 20) shown.push(`  … and ${problems.length - 20} more`);
  return [
    {
      dump: true,
      code: 'DUMP_FILE_MISMATCH',
      message: `${problems.length} file(s) of the backup do not match its record:\n${shown.join('\n')}`,
      hint: 'the backup is damaged; restore another backup (bloodraven backup list), and find out what changed its files',
    },
  ];
}

function tableRows(manifest: DumpManifest, record: RestoreSource['record']): Map<string, number> {
  if (!record) return manifest.tableRows;
  return new Map(record.tables.map((t) => [tableRowKey(t.schema, t.table), t.rows]));
}

/** The scripts of the loaded schemas a DEFINER clause can be in: routines and events, views, triggers. */
function definerScriptNames(schemas: readonly SchemaManifest[]): string[] {
  const names: string[] = [];
  for (const s of schemas) {
    if (s.functions.length + s.procedures.length + s.events.length > 0) names.push(`${s.basename}.sql`);
    for (const v of s.views) names.push(`${v.basename}.sql`);
    for (const t of s.tables) if (t.triggers.length > 0) names.push(`${t.basename}.triggers.sql`);
  }
  return names;
}

/** Every account a DEFINER clause of the loaded schemas' scripts names. */
async function dumpDefiners({ source, manifest, schemas, scriptTexts }: Stage, signal?: AbortSignal): Promise<Set<string>> {
  const definers = new Set<string>();
  for (const name of definerScriptNames(schemas)) {
    if (!manifest.files.has(name)) continue;
    const text = (scriptTexts.get(name) ?? (await source.store.get(source.prefix + name, signal ? { signal } : {}))).toString('utf8');
    for (const d of definersIn(text)) definers.add(d);
  }
  return definers;
}

async function userSchemas(session: MysqlSession, flavor: Flavor): Promise<string[]> {
  const system = new Set(flavor.systemSchemas);
  const rows = await session.query<{ name: string }>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME');
  return rows.map((r) => r.name).filter((n) => !system.has(n.toLowerCase()));
}

async function presentSchemas(session: MysqlSession, schemas: readonly SchemaManifest[]): Promise<string[]> {
  const rows = await session.query<{ name: string }>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA');
  const present = new Set(rows.map((r) => r.name));
  return schemas.map((s) => s.name).filter((s) => present.has(s));
}

/** Names the resume log after the target server, so one dump can be loaded into several. */
async function targetId(session: MysqlSession, target: ServerInfo): Promise<string> {
  if (target.serverUuid) return target.serverUuid;
  const [row] = await session.query<{ port: string | number }>('SELECT @@port AS port');
  return `${target.hostname}-${String(row?.port ?? 0)}-${target.serverId}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** A summary of the plan, in lines, for --dry-run and the in-place prompt. */
export function describePlan(plan: RestorePlan): string[] {
  const files = [...plan.load.files.values()];
  const bytes = files.reduce((n, f) => n + f.bytes, 0);
  const lines = [
    `Restore ${plan.source} into ${plan.target} (${plan.server.version})`,
    `  drops      ${plan.drop.length === 0 ? 'nothing' : plan.drop.map(quoteId).join(', ')}${plan.fence ? ' (other clients fenced off with read_only meanwhile)' : ''}`,
    `  loads      ${plan.load.schemas.map((s) => quoteId(s.name)).join(', ')}: ${plan.load.schemas.reduce((n, s) => n + s.tables.length, 0)} table(s), ${files.length} data file(s), ${bytes} bytes stored`,
  ];
  if (plan.load.progress.resuming) lines.push(`  resumes    an earlier load (${plan.load.progress.doneSteps().length} step(s) done)`);
  if (plan.load.users) lines.push(`  accounts   creates ${plan.load.users.create.length}, keeps the target's own ${plan.load.users.kept.length}`);
  lines.push('  checked:');
  for (const c of plan.checked) lines.push(`    - ${c}`);
  return lines;
}


/** The plan as --dry-run --json prints it: what would be dropped and loaded, and what was checked. */
export interface PlanSummary {
  dryRun: true;
  mode: RestoreMode;
  source: string;
  target: string;
  drop: string[];
  load: string[];
  files: number;
  checked: string[];
}

export function summarizePlan(plan: RestorePlan): PlanSummary {
  return {
    dryRun: true,
    mode: plan.mode,
    source: plan.source,
    target: plan.target,
    drop: plan.drop,
    load: plan.load.schemas.map((s) => s.name),
    files: plan.load.files.size,
    checked: plan.checked,
  };
}
