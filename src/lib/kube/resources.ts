/**
 * The two custom resources of Kubernetes mode, as zod schemas and the TypeScript types read from
 * them: `MysqlFailoverGroup` (the parts bloodraven reads and the status it writes; every other
 * field is the group's own operator's and preserved) and `MysqlBackup` (one per backup run). The
 * CRDs in `crds/` are generated from these schemas (crds.ts), and the profile fields come from the
 * same definitions that validate `bloodraven.yaml` (src/lib/config/schema.ts).
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { z } from 'zod';
import {
  backupCrossFieldIssues,
  formatPath,
  isRecord,
  isSet,
  kubernetesBackup,
  nameSchema,
  objectNameSchema,
  recordsOf,
  type ConfigProblem,
  type PathNamer,
} from '../config/schema.js';
import { containerSecurityContextSchema, podSecurityContextSchema } from './security-context.js';

export const apiGroup = 'shipstream.io';
export const apiVersionName = 'v1alpha1';
/** `shipstream.io/v1alpha1` */
export const apiVersion = `${apiGroup}/${apiVersionName}`;

export const failoverGroupKind = 'MysqlFailoverGroup';
export const failoverGroupPlural = 'mysqlfailovergroups';
export const backupKind = 'MysqlBackup';
export const backupPlural = 'mysqlbackups';

/** A point in time as Kubernetes writes it (metav1.Time): RFC 3339, like 2026-11-30T06:45:00Z. */
const timeSchema = z.string().meta({ format: 'date-time' });
const int64Schema = z.number().int().meta({ format: 'int64' });

/** metav1.LabelSelector, for `sites[].podSelector`. */
const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string().min(1),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

/** One site of the group; the group's operator may keep more fields on it, which are preserved. */
const siteSchema = z.looseObject({
  name: nameSchema.describe('The site; its MySQL Service is mysql-<group>-<site> unless mysql.host says otherwise.'),
  mysql: z
    .looseObject({
      host: z.string().min(1).optional().describe('Default: mysql-<group>-<site>.<namespace>.svc'),
      port: z.number().int().min(1).max(65535).default(3306),
    })
    .optional(),
  deployment: objectNameSchema.optional().describe("The site's MySQL Deployment."),
  podSelector: labelSelectorSchema.optional().describe("Selects the site's MySQL pods."),
});

/** `spec.backup`: bloodraven's own, every field checked (unknown fields are pruned by the API server). */
const groupBackupSchema = z.strictObject({
  image: z.string().min(1).optional().describe('The bloodraven image the backup and cleanup Jobs run (default: the release matching the daemon).'),
  maxLagSecondsForSource: z
    .number()
    .min(0)
    .default(300)
    .describe('A replica lagging more than this many seconds is not used as the backup source; the primary is.'),
  ...kubernetesBackup.backupFields,
  profiles: kubernetesBackup.backupFields.profiles.describe('Named backup configurations: storage, dump options, retention, encryption.'),
  schedules: kubernetesBackup.backupFields.schedules.describe('Each schedule becomes a CronJob that creates a MysqlBackup of its profile.'),
  retry: kubernetesBackup.backupFields.retry.describe('Retries of scheduled backups that failed, each a new MysqlBackup (triggeredBy: retry).'),
  pitr: kubernetesBackup.backupFields.pitr.describe("Binlog archiving for point-in-time recovery: the archive's profile. The archiving itself runs in a sidecar beside each MySQL pod (bloodraven pitr archive --sidecar, deploy/pitr-sidecar/), which prunes by the daemon's /pitr-cutoff."),
  podSecurityContext: podSecurityContextSchema.optional(),
  containerSecurityContext: containerSecurityContextSchema.optional(),
});

/**
 * Where a restore reads its backup: exactly one of a MysqlBackup (in the group's namespace; its
 * profile is the group's profile of the same name), a direct S3 prefix, or a read-only claim. The
 * last two work when the MysqlBackup is gone.
 */
export const restoreSourceSchema = z
  .strictObject({
    mysqlBackupRef: z.strictObject({ name: objectNameSchema }).optional().describe('A MysqlBackup in the namespace; its profile (spec.profileName) must be one of the group\'s spec.backup.profiles.'),
    s3: z
      .strictObject({
        bucket: z.string().min(3).max(63),
        /** The backup's own folder, like orders/orders-nightly-20260416-020000. */
        prefix: z.string().min(1).describe('The key prefix of the backup itself (its folder), like orders/orders-nightly-20260416-020000.'),
        region: z.string().min(1).optional(),
        endpointURL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
        credentialsSecret: objectNameSchema.optional().describe('The Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.'),
      })
      .optional()
      .describe('A backup in S3, read directly.'),
    pvc: z
      .strictObject({
        claimName: objectNameSchema.describe('The claim holding the backup, mounted read-only.'),
        /** The backup's folder inside the claim. */
        path: z.string().min(1).describe('The backup\'s folder inside the claim, like orders-nightly-20260416-020000.'),
      })
      .optional()
      .describe('A backup on a claim, mounted read-only.'),
    encryption: z
      .strictObject({ passphraseSecret: objectNameSchema })
      .optional()
      .describe('For an encrypted backup read from s3 or pvc: the Secret whose key `passphrase` opens it (a mysqlBackupRef uses its profile\'s).'),
  })
  .describe('Exactly one of mysqlBackupRef, s3 or pvc.');

/** What is loaded and how: MySQL Shell's loadDump options of the same names. */
export const restoreLoadOptionsSchema = z.strictObject({
  includeSchemas: z.array(z.string().min(1)).default([]).describe('Load only these schemas.'),
  excludeSchemas: z.array(z.string().min(1)).default([]).describe('Leave these schemas out.'),
  threads: z.number().int().min(1).max(64).optional().describe("Load threads, each with its own session (default: the profile's dump.threads, or 4)."),
  loadUsers: z.boolean().default(false).describe("Create the backup's accounts the server lacks."),
});

/** Replay archived binlogs (spec.backup.pitr's archive) after the load, up to a time. */
export const pointInTimeSchema = z.strictObject({
  /** RFC 3339 (with or without a zone) or YYYY-MM-DD HH:MM:SS (UTC). */
  stopDatetime: z.string().min(1).describe('Replay up to this time: RFC 3339, or YYYY-MM-DD HH:MM:SS (UTC).'),
  /** GTIDs left out of the replay, comma-separated. */
  excludeGtids: z.string().min(1).optional().describe('Transactions to leave out of the replay (GTIDs, comma-separated).'),
});

/** `spec.initFromBackup`: a one-shot restore into a new group's target site. */
export const initFromBackupSchema = z.strictObject({
  source: restoreSourceSchema,
  loadOptions: restoreLoadOptionsSchema.optional(),
  pointInTime: pointInTimeSchema.optional(),
});

/** `spec.restoreInPlace`: roll the live primary back to a backup; re-armed by a newer `confirm`. */
export const restoreInPlaceSchema = z.strictObject({
  /** RFC 3339; must be strictly newer than status.restoreInPlace.confirmTokenUsed. */
  confirm: z.string().min(1).describe('An RFC 3339 time, strictly newer than status.restoreInPlace.confirmTokenUsed: the restore runs once per new value.'),
  source: restoreSourceSchema,
  loadOptions: restoreLoadOptionsSchema.optional(),
  pointInTime: pointInTimeSchema.optional(),
  dryRun: z.boolean().default(false).describe('Write the plan into status.restoreInPlace.plan and change nothing.'),
});

/**
 * `MysqlFailoverGroup.spec`: what bloodraven reads. Every other field, and every unknown field of a
 * site or of `credentials`, belongs to the group's own operator and is kept.
 */
export const failoverGroupSpecSchema = z.looseObject({
  sites: z.array(siteSchema).optional(),
  secretName: objectNameSchema.optional().describe('Legacy: a Secret holding a DSN with the MySQL account; spec.credentials is preferred.'),
  credentials: z
    .looseObject({
      backupSecret: objectNameSchema.optional().describe('The Secret (username/password, or MYSQL_USER/MYSQL_PASSWORD) backups connect with.'),
      operatorSecret: objectNameSchema.optional().describe('Used for backups when backupSecret is not set.'),
    })
    .optional(),
  backup: groupBackupSchema.optional(),
  initFromBackup: initFromBackupSchema.optional().describe('Restore a backup into this new group, once, before it is used.'),
  restoreInPlace: restoreInPlaceSchema.optional().describe('Roll the live primary back to a backup (destructive; gated by confirm).'),
});

/** metav1.Condition */
export const conditionSchema = z.object({
  type: z.string().min(1).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(1024),
  message: z.string().max(32768),
  lastTransitionTime: timeSchema,
  observedGeneration: int64Schema.min(0).optional(),
});

/** One schedule's rollup in the group's status. */
export const backupScheduleStatusSchema = z.object({
  name: z.string(),
  profileName: z.string(),
  lastSuccessfulBackupName: z.string().optional(),
  lastBackupTime: timeSchema.optional(),
  /** The attempt number of the newest retry (0 or absent: none). */
  lastRetryAttempt: z.number().int().min(0).optional(),
  /** When the pending retry will be created; absent when none is pending. */
  nextRetryTime: timeSchema.optional(),
});

export const restorePhaseSchema = z.enum(['Pending', 'Running', 'Succeeded', 'Failed']);

/** Where a restore's point-in-time replay stopped, or the load's own capture point without one. */
export const pointReachedSchema = z.object({
  /** The GTID set the target holds afterwards. */
  gtidExecuted: z.string().optional(),
  /** The last replayed transaction's commit time (or the backup's consistent time without a replay). */
  time: timeSchema.optional(),
  /** The binlog file and position the replay ended at. */
  binlogFile: z.string().optional(),
  binlogPos: int64Schema.min(0).optional(),
});

/** `status.initFromBackup`: the one-shot bootstrap restore. */
export const initFromBackupStatusSchema = z.object({
  phase: restorePhaseSchema.optional(),
  /** The stored backup loaded (its name), or the direct source (s3://… or pvc://claim/path). */
  backup: z.string().optional(),
  targetSite: z.string().optional(),
  jobName: z.string().optional(),
  startTime: timeSchema.optional(),
  completionTime: timeSchema.optional(),
  rows: int64Schema.min(0).optional(),
  bytes: int64Schema.min(0).optional(),
  pointReached: pointReachedSchema.optional(),
  /** Why it is Pending or Failed, and what to do. */
  message: z.string().optional(),
  observedGeneration: int64Schema.min(0).optional(),
});

export const inPlacePhaseSchema = z.enum(['Preflight', 'Fencing', 'Restoring', 'Resuming', 'Succeeded', 'Failed']);

/** What an in-place restore will do (the dry run's answer; also kept for a real run). */
export const restorePlanSchema = z.object({
  /** The stored backup that is loaded. */
  backup: z.string(),
  mode: z.enum(['instance', 'schema']),
  drop: z.array(z.string()),
  load: z.array(z.string()),
  /** Archived binlogs replayed after the load, in order. */
  binlogs: z.array(z.object({ site: z.string(), file: z.string() })),
  /** The GTID ranges the replay applies (empty without a point in time). */
  gtidRanges: z.string().optional(),
  /** Bytes read from storage: the backup's data files plus the binlogs. */
  expectedBytes: int64Schema.min(0),
  /** The fencing steps, in order, as sentences. */
  fencing: z.array(z.string()),
  /** How many entries of drop, load or binlogs were left out to fit the Job's 4096-byte result (absent: none). */
  omitted: z.object({ drop: z.number().int().min(0).optional(), load: z.number().int().min(0).optional(), binlogs: z.number().int().min(0).optional() }).optional(),
});

/** `status.restoreInPlace`: the state machine of the reference, with the last confirm token consumed. */
export const restoreInPlaceStatusSchema = z.object({
  phase: inPlacePhaseSchema.optional(),
  /** The newest confirm consumed (a run started with it, or a dry run made its plan). */
  confirmTokenUsed: z.string().optional(),
  mode: z.enum(['instance', 'schema']).optional(),
  targetSite: z.string().optional(),
  backup: z.string().optional(),
  jobName: z.string().optional(),
  dryRun: z.boolean().optional(),
  plan: restorePlanSchema.optional(),
  /** The pods whose primary role label was removed at Fencing (put back at Resuming or on failure). */
  fencedPods: z.array(z.string()).optional(),
  /**
   * The group's topology-freeze and reclone-site annotations as they were before Fencing (a key
   * absent here was absent there), recorded with fencedPods and put back on failure.
   */
  annotationsBefore: z.record(z.string(), z.string()).optional(),
  /** The group's metadata.generation whose confirm started this run. */
  observedGeneration: int64Schema.min(0).optional(),
  /**
   * The previous run was a whole-instance restore into this site that failed after its Job
   * started: a killed one leaves the server's read_only fence up. This run accepts that site
   * read-only, and its CLI takes the fence over (it refuses a read_only that is not its own).
   */
  takeOverFence: z.object({ site: z.string(), confirm: z.string() }).optional(),
  startTime: timeSchema.optional(),
  completionTime: timeSchema.optional(),
  rows: int64Schema.min(0).optional(),
  bytes: int64Schema.min(0).optional(),
  pointReached: pointReachedSchema.optional(),
  /** What happened, and on Failed what to fix before bumping confirm. */
  message: z.string().optional(),
});

/** `MysqlFailoverGroup.status`: the fields bloodraven writes (and `activeSite`, which it reads); others are preserved. */
export const failoverGroupStatusSchema = z.looseObject({
  activeSite: z.string().optional(),
  backupSchedules: z.array(backupScheduleStatusSchema).optional(),
  lastBackupTime: timeSchema.optional(),
  initFromBackup: initFromBackupStatusSchema.optional(),
  restoreInPlace: restoreInPlaceStatusSchema.optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: int64Schema.min(0).optional(),
});

export const triggeredBySchema = z.enum(['manual', 'schedule', 'retry']);

/** `MysqlBackup.spec` */
export const backupSpecSchema = z.strictObject({
  failoverGroupRef: z.strictObject({ name: objectNameSchema }),
  profileName: nameSchema,
  triggeredBy: triggeredBySchema.default('manual'),
  sourceSiteOverride: nameSchema.optional().describe('Take the backup from this site, whatever its role or lag.'),
  /** 1 for the first run, N for the (N−1)th retry of a scheduled backup. */
  attempt: z.number().int().min(1).optional().describe('The attempt number (retries of scheduled backups; 1 or absent for the first).'),
  /** The first attempt's MysqlBackup, on a retry. */
  retryOf: objectNameSchema.optional().describe("The first attempt's MysqlBackup, on a retry."),
});

export const backupPhaseSchema = z.enum(['Pending', 'Running', 'Succeeded', 'Failed']);

/** `MysqlBackup.status` */
export const backupStatusSchema = z.object({
  phase: backupPhaseSchema.optional(),
  startTime: timeSchema.optional(),
  completionTime: timeSchema.optional(),
  location: z.string().optional(),
  sizeBytes: int64Schema.min(0).optional(),
  gtidExecuted: z.string().optional(),
  binlogFile: z.string().optional(),
  binlogPos: int64Schema.min(0).optional(),
  sourceSite: z.string().optional(),
  attempt: z.number().int().min(1).optional(),
  /** The stored backup's name (what `backup delete` takes): the cleanup Job removes it. */
  backupName: z.string().optional(),
  jobName: z.string().optional(),
  /** The latest verification run of this backup (a MysqlBackupVerification), written by its reconciler; retention's minKeepVerified reads it. */
  verification: z
    .object({
      result: z.enum(['Passed', 'Failed']),
      /** The MysqlBackupVerification. */
      name: z.string(),
      time: timeSchema,
    })
    .optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: int64Schema.min(0).optional(),
});

export const verificationKind = 'MysqlBackupVerification';
export const verificationPlural = 'mysqlbackupverifications';

/** `MysqlBackupVerification.spec`: one verification run. */
export const verificationSpecSchema = z.strictObject({
  failoverGroupRef: z.strictObject({ name: objectNameSchema }),
  profileName: nameSchema,
  /** The MysqlBackup to verify; default: the profile's newest Succeeded one when the run starts. */
  mysqlBackupRef: z.strictObject({ name: objectNameSchema }).optional().describe("The MysqlBackup to verify (default: the profile's newest Succeeded one)."),
  triggeredBy: z.enum(['manual', 'schedule']).default('manual'),
});

export const verificationPhaseSchema = z.enum(['Pending', 'Running', 'Passed', 'Failed']);

/** One difference verify found between the backup's record and what the scratch restore holds. */
export const verificationMismatchSchema = z.object({
  /** `schema`.`table`, or the object, or the file. */
  object: z.string(),
  /** row count, content checksum, missing object, file checksum, … */
  check: z.string(),
  expected: z.string().optional(),
  actual: z.string().optional(),
});

/** `MysqlBackupVerification.status` */
export const verificationStatusSchema = z.object({
  phase: verificationPhaseSchema.optional(),
  /** The MysqlBackup verified (resolved when the run starts). */
  backupRef: z.string().optional(),
  /** The stored backup's name. */
  backupName: z.string().optional(),
  jobName: z.string().optional(),
  startTime: timeSchema.optional(),
  completionTime: timeSchema.optional(),
  /** The measured recovery time: seconds the scratch restore took. */
  restoreSeconds: z.number().min(0).optional(),
  /** What was proven: tables compared, rows, objects of the inventory, bytes restored. */
  tables: z.number().int().min(0).optional(),
  rows: int64Schema.min(0).optional(),
  objects: z.number().int().min(0).optional(),
  bytes: int64Schema.min(0).optional(),
  mismatches: z.array(verificationMismatchSchema).optional(),
  message: z.string().optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: int64Schema.min(0).optional(),
});

export type MysqlFailoverGroupSpec = z.output<typeof failoverGroupSpecSchema>;
export type MysqlFailoverGroupSpecInput = z.input<typeof failoverGroupSpecSchema>;
export type MysqlFailoverGroupStatus = z.output<typeof failoverGroupStatusSchema>;
export type GroupBackupSpec = z.output<typeof groupBackupSchema>;
export type KubernetesProfile = GroupBackupSpec['profiles'][number];
export type KubernetesStorage = KubernetesProfile['storage'];
export type KubernetesSchedule = GroupBackupSpec['schedules'][number];
export type Site = NonNullable<MysqlFailoverGroupSpec['sites']>[number];
export type Condition = z.output<typeof conditionSchema>;
export type BackupScheduleStatus = z.output<typeof backupScheduleStatusSchema>;
export type MysqlBackupSpec = z.output<typeof backupSpecSchema>;
export type MysqlBackupSpecInput = z.input<typeof backupSpecSchema>;
export type MysqlBackupStatus = z.output<typeof backupStatusSchema>;
export type BackupPhase = z.output<typeof backupPhaseSchema>;
export type TriggeredBy = z.output<typeof triggeredBySchema>;
export type RestoreSource = z.output<typeof restoreSourceSchema>;
export type RestoreLoadOptions = z.output<typeof restoreLoadOptionsSchema>;
export type PointInTimeSpec = z.output<typeof pointInTimeSchema>;
export type InitFromBackupSpec = z.output<typeof initFromBackupSchema>;
export type RestoreInPlaceSpec = z.output<typeof restoreInPlaceSchema>;
export type InitFromBackupStatus = z.output<typeof initFromBackupStatusSchema>;
export type RestoreInPlaceStatus = z.output<typeof restoreInPlaceStatusSchema>;
export type InPlacePhase = z.output<typeof inPlacePhaseSchema>;
export type RestorePlanStatus = z.output<typeof restorePlanSchema>;
export type PointReached = z.output<typeof pointReachedSchema>;
export type MysqlBackupVerificationSpec = z.output<typeof verificationSpecSchema>;
export type MysqlBackupVerificationSpecInput = z.input<typeof verificationSpecSchema>;
export type MysqlBackupVerificationStatus = z.output<typeof verificationStatusSchema>;
export type VerificationPhase = z.output<typeof verificationPhaseSchema>;
export type VerificationMismatch = z.output<typeof verificationMismatchSchema>;

/** A MysqlBackupVerification as the API server stores it. */
export interface MysqlBackupVerification {
  apiVersion: typeof apiVersion;
  kind: typeof verificationKind;
  metadata: V1ObjectMeta;
  spec: MysqlBackupVerificationSpecInput;
  status?: MysqlBackupVerificationStatus;
}

/** A MysqlFailoverGroup as the API server stores it (spec unparsed: validateGroupSpec parses it). */
export interface MysqlFailoverGroup {
  apiVersion: typeof apiVersion;
  kind: typeof failoverGroupKind;
  metadata: V1ObjectMeta;
  spec?: MysqlFailoverGroupSpecInput;
  status?: MysqlFailoverGroupStatus;
}

/** A MysqlBackup as the API server stores it. */
export interface MysqlBackup {
  apiVersion: typeof apiVersion;
  kind: typeof backupKind;
  metadata: V1ObjectMeta;
  spec: MysqlBackupSpecInput;
  status?: MysqlBackupStatus;
}

/** A group whose spec has been validated: what the builders and reconcilers work from. */
export interface ParsedGroup {
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: MysqlFailoverGroupSpec;
}

export type GroupValidation = { success: true; data: MysqlFailoverGroupSpec } | { success: false; issues: ConfigProblem[] };

const specPath = ['spec'];

/**
 * Validates a MysqlFailoverGroup's spec as bloodraven reads it: every field's rules, the same
 * cross-field rules as `bloodraven.yaml` (duplicate profile and schedule names, schedules and pitr
 * naming missing profiles, bad cron expressions and time zones, retry bounds), and the rules only a
 * group has (a PVC profile gives a claim or a size, sites are unique, backups have credentials).
 * Problems carry full paths from the object, like `spec.backup.schedules[0].timeZone`, so a
 * condition or Event can name the field. Whether the named Secrets exist is the caller's to check.
 */
export function validateGroupSpec(spec: unknown): GroupValidation {
  const fields = failoverGroupSpecSchema.safeParse(spec);
  const issues: ConfigProblem[] = fields.success
    ? []
    : fields.error.issues.map((issue) => ({ path: [...specPath, ...issue.path.map((part) => (typeof part === 'number' ? part : String(part)))], message: issue.message }));
  issues.push(...groupCrossFieldIssues(spec));
  return fields.success && issues.length === 0 ? { success: true, data: fields.data } : { success: false, issues };
}

/**
 * The group's name must be a DNS label (at most 63 characters, no dots): it goes into label
 * values and into the default MySQL Service names `mysql-<group>-<site>`. Null when it is one.
 */
export function groupNameProblem(name: string): ConfigProblem | null {
  return nameSchema.safeParse(name).success ? null : { path: ['metadata', 'name'], message: 'the group name must be a DNS label (lowercase letters, digits and "-", at most 63) to be used in labels and Service names' };
}

const formatted: PathNamer = (path) => formatPath(path);

function groupCrossFieldIssues(spec: unknown): ConfigProblem[] {
  if (!isRecord(spec)) return [];
  const backupAt = [...specPath, 'backup'];
  const backup = backupCrossFieldIssues(spec.backup, backupAt, formatted);
  const issues = [...backup.profiles, ...pvcIssues(spec.backup, backupAt), ...backup.others, ...siteIssues(spec.sites)];
  issues.push(...restoreIssues(spec.initFromBackup, [...specPath, 'initFromBackup']), ...restoreIssues(spec.restoreInPlace, [...specPath, 'restoreInPlace']));
  if (isRecord(spec.restoreInPlace) && isRecord(spec.restoreInPlace.loadOptions)) {
    const { includeSchemas, excludeSchemas } = spec.restoreInPlace.loadOptions;
    const at = [...specPath, 'restoreInPlace', 'loadOptions'];
    if (Array.isArray(includeSchemas) && includeSchemas.length > 1) {
      issues.push({ path: [...at, 'includeSchemas'], message: 'an in-place restore takes the whole instance (no includeSchemas) or exactly one schema: restore the schemas one at a time' });
    }
    if (Array.isArray(excludeSchemas) && excludeSchemas.length > 0) {
      issues.push({ path: [...at, 'excludeSchemas'], message: 'an in-place restore replaces every user schema or exactly one (includeSchemas); excludeSchemas is for initFromBackup only' });
    }
  }
  if (isRecord(spec.backup) || isRecord(spec.initFromBackup) || isRecord(spec.restoreInPlace)) {
    const credentials = isRecord(spec.credentials) ? spec.credentials : {};
    if (!isSet(spec.secretName) && !isSet(credentials.backupSecret) && !isSet(credentials.operatorSecret)) {
      issues.push({ path: [...specPath, 'credentials'], message: 'backups and restores need a MySQL account: set spec.credentials.backupSecret (or operatorSecret), or spec.secretName' });
    }
    if (!Array.isArray(spec.sites) || spec.sites.length === 0) {
      issues.push({ path: [...specPath, 'sites'], message: 'backups and restores need at least one site to take them from or restore into' });
    }
  }
  return issues;
}

/** A PVC profile mounts a claim the user names, or one bloodraven provisions with the size given. */
function pvcIssues(backup: unknown, at: Array<string | number>): ConfigProblem[] {
  if (!isRecord(backup)) return [];
  const issues: ConfigProblem[] = [];
  for (const [i, profile] of recordsOf(backup.profiles)) {
    const storage = isRecord(profile.storage) ? profile.storage : {};
    if (storage.type !== 'PVC' || !isRecord(storage.pvc)) continue;
    const pvcAt = [...at, 'profiles', i, 'storage', 'pvc'];
    const { claimName, size, storageClassName } = storage.pvc;
    if (isSet(claimName) && (isSet(size) || isSet(storageClassName))) {
      issues.push({ path: [...pvcAt, 'claimName'], message: `use either ${formatPath([...pvcAt, 'claimName'])} (a claim you manage) or ${formatPath([...pvcAt, 'size'])} (a claim bloodraven provisions), not both` });
    } else if (!isSet(claimName) && !isSet(size)) {
      issues.push({ path: pvcAt, message: `set ${formatPath([...pvcAt, 'claimName'])} (a claim you manage) or ${formatPath([...pvcAt, 'size'])} (a claim bloodraven provisions)` });
    }
  }
  return issues;
}

/** A restore's source names exactly one place, and its schema filters agree. */
function restoreIssues(restore: unknown, at: Array<string | number>): ConfigProblem[] {
  if (!isRecord(restore)) return [];
  const issues: ConfigProblem[] = [];
  if (isRecord(restore.source)) {
    const given = ['mysqlBackupRef', 's3', 'pvc'].filter((k) => isSet((restore.source as Record<string, unknown>)[k]));
    if (given.length !== 1) {
      issues.push({ path: [...at, 'source'], message: given.length === 0 ? 'name the backup: set one of mysqlBackupRef, s3 or pvc' : `set exactly one of mysqlBackupRef, s3 or pvc (${given.join(' and ')} are set)` });
    }
    if (isSet(restore.source.encryption) && isSet(restore.source.mysqlBackupRef)) {
      issues.push({ path: [...at, 'source', 'encryption'], message: "a mysqlBackupRef is opened with its profile's encryption; source.encryption is for s3 and pvc sources" });
    }
  }
  if (isRecord(restore.loadOptions)) {
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    const include = strings(restore.loadOptions.includeSchemas);
    const excluded = new Set(strings(restore.loadOptions.excludeSchemas));
    const both = include.filter((x) => excluded.has(x));
    if (both.length > 0) issues.push({ path: [...at, 'loadOptions', 'excludeSchemas'], message: `${both.map((x) => `"${x}"`).join(', ')} both included and excluded: name each schema in one list only` });
  }
  return issues;
}

function siteIssues(sites: unknown): ConfigProblem[] {
  const issues: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const [i, site] of recordsOf(sites)) {
    if (typeof site.name !== 'string') continue;
    if (seen.has(site.name)) issues.push({ path: [...specPath, 'sites', i, 'name'], message: `site "${site.name}" is defined twice` });
    seen.add(site.name);
  }
  return issues;
}

/** Validates a MysqlBackup's spec; problems carry paths from the object (`spec.profileName`). */
export function validateBackupSpec(spec: unknown): { success: true; data: MysqlBackupSpec } | { success: false; issues: ConfigProblem[] } {
  const parsed = backupSpecSchema.safeParse(spec);
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, issues: parsed.error.issues.map((issue) => ({ path: [...specPath, ...issue.path.map((part) => (typeof part === 'number' ? part : String(part)))], message: issue.message })) };
}
