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
  pitr: kubernetesBackup.backupFields.pitr.describe('Binlog archiving for point-in-time recovery (archiving in the cluster comes in a later release).'),
  podSecurityContext: podSecurityContextSchema.optional(),
  containerSecurityContext: containerSecurityContextSchema.optional(),
});

/** Reserved for restores (the next issue): kept as written, not read yet. */
const reservedSchema = z.looseObject({}).describe('Reserved for in-cluster restores (a later release); preserved as written.');

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
  initFromBackup: reservedSchema.optional(),
  restoreInPlace: reservedSchema.optional(),
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

/** `MysqlFailoverGroup.status`: the fields bloodraven writes (and `activeSite`, which it reads); others are preserved. */
export const failoverGroupStatusSchema = z.looseObject({
  activeSite: z.string().optional(),
  backupSchedules: z.array(backupScheduleStatusSchema).optional(),
  lastBackupTime: timeSchema.optional(),
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
  if (isRecord(spec.backup)) {
    const credentials = isRecord(spec.credentials) ? spec.credentials : {};
    if (!isSet(spec.secretName) && !isSet(credentials.backupSecret) && !isSet(credentials.operatorSecret)) {
      issues.push({ path: [...specPath, 'credentials'], message: 'backups need a MySQL account: set spec.credentials.backupSecret (or operatorSecret), or spec.secretName' });
    }
    if (!Array.isArray(spec.sites) || spec.sites.length === 0) {
      issues.push({ path: [...specPath, 'sites'], message: 'backups need at least one site to take them from' });
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
