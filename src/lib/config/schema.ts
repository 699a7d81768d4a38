/**
 * The configuration schema: `bloodraven.yaml` mirrors a MysqlFailoverGroup's `spec.backup` plus a
 * `mysql:` connection block. Both are built from the same definitions (backupSchemas), differing
 * only where a file names paths and a group names Secrets and claims; the CRDs are generated from
 * the group's (src/lib/kube/crds.ts). Every field is checked here; loading (load.ts) reports all
 * problems at once.
 */
import { z } from 'zod';
import { parseSize } from '../sizes.js';
import { checkCron } from '../schedule/cron.js';
import { ConfigError } from '../errors.js';
import { defaultUmask } from '../file-modes.js';

/** Names that end up in backup names and object keys: DNS-label-like, as Kubernetes names are. */
export const nameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'use lowercase letters, digits and "-" (at most 63, starting and ending alphanumeric)');

/** A size like 64M (decimal, as MySQL Shell reads it) or a number of bytes. */
const sizeSchema = (min: number, minText: string): z.ZodType<number> =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    let bytes: number;
    try {
      bytes = parseSize(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
    if (bytes < min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${minText}` });
      return z.NEVER;
    }
    return bytes;
  });

/** Seconds, or a duration like 30s, 5m, 1h. */
export const durationSchema = z.union([z.number().positive('must be more than 0: seconds, or a duration like 30s or 2m'), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration: write seconds, or a number with ms, s, m or h (like 60s)` });
    return z.NEVER;
  }
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's'] ?? 1;
  return Number(m[1]) * factor;
});

export const mysqlSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  socket: z.string().min(1).optional(),
  /** The account; with `passwordFile`, or alone for passwordless (socket) authentication. */
  user: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
  /** A folder holding the files MYSQL_USER and MYSQL_PASSWORD (a mounted Secret). */
  credentialsDir: z.string().min(1).optional(),
  connectTimeoutSeconds: z.number().positive().default(10),
  /**
   * How long the server may answer nothing at all, in seconds, before a backup, restore or
   * verification talking to it is stopped (SERVER_UNRESPONSIVE): a server that stops answering
   * but keeps its connections open would otherwise hold the run, and the source's locks, for
   * ever. A long statement is no silence: a separate connection pings the server every few seconds.
   */
  unresponsiveTimeout: durationSchema.refine((seconds) => seconds >= 1, 'must be at least 1 second').default(60),
});

export const compressionSchema = z.enum(['zstd', 'gzip', 'none']);

export const dumpSchema = z.strictObject({
  threads: z
    .number({ error: (issue) => (issue.code === 'invalid_type' ? 'must be a whole number from 1 to 64' : undefined) })
    .int()
    .min(1, 'must be a whole number from 1 to 64')
    .max(64, 'must be a whole number from 1 to 64')
    .default(4)
    .describe('Dump threads, each with its own connection to the source (README: How the dump uses cores).'),
  bytesPerChunk: sizeSchema(128_000, '128k').default(64_000_000).describe('Target size of each table data chunk before compression, like 64M (at least 128k).'),
  compression: compressionSchema.default('zstd').describe('Compression of the data files.'),
  consistent: z.boolean().default(true).describe('Dump all tables from one consistent snapshot.'),
  includeSchemas: z.array(z.string().min(1)).default([]).describe('Dump only these schemas (default: all).'),
  excludeSchemas: z.array(z.string().min(1)).default([]).describe('Leave these schemas out.'),
  /** Dump the accounts and their grants (@.users.sql), as MySQL Shell's `users` option. */
  users: z.boolean().default(true).describe('Dump the accounts and their grants.'),
  /**
   * How long the backup may hold up the application's writes, in seconds: statements running
   * longer keep it from requesting the snapshot locks, and a lock request waits at most this long
   * before it is given up and retried. The servers wait in whole seconds, so a value under 1 s
   * (like 500ms) makes the check for long statements stricter while the lock still waits 1 s.
   */
  lockWaitTimeout: durationSchema
    .refine((seconds) => seconds > 0, 'must be more than 0')
    .default(1)
    .describe('How long the backup may hold up writes while taking its snapshot locks: seconds, or a duration like 500ms or 2s.'),
  /**
   * How long a write to the backup's storage may make no progress, in seconds, before the backup
   * fails (releasing the source's locks): a hung mount or a silent S3 endpoint ends the run
   * instead of holding it forever.
   */
  storageStallTimeout: durationSchema
    .refine((seconds) => seconds > 0, 'must be more than 0')
    .default(120)
    .describe('How long a write to storage may make no progress before the backup fails: seconds, or a duration like 2m.'),
});

/** Which backups a profile keeps (the reference's structured retention; 0 disables a check). */
export const retentionPolicySchema = z.strictObject({
  /** Successful backups to keep, newest first. */
  count: z.number().int().min(0).default(0).describe('Successful backups to keep, newest first (0: no limit by count).'),
  /** Successful backups younger than this many days are kept. */
  maxAgeDays: z.number().min(0).default(0).describe('Successful backups younger than this many days are kept (0: no limit by age).'),
  /** The newest this-many successful backups are always kept, whatever else says. */
  minKeep: z.number().int().min(0).default(1).describe('The newest this-many successful backups are always kept.'),
  /** Failed attempts whose records are kept. */
  maxFailedKeep: z.number().int().min(0).default(10).describe('Failed backups kept.'),
  /**
   * The newest this-many *verified* backups (their last verification passed) are always kept,
   * whatever the other checks say, so retention never leaves only unproven backups.
   */
  minKeepVerified: z.number().int().min(0).default(0).describe('The newest this-many verified backups are always kept (0: no such floor).'),
});

/**
 * Scheduled verification of a profile: at each time of the schedule the latest Succeeded backup
 * is restored into a throwaway server and its contents proven (what `bloodraven verify` does).
 * The standalone daemon runs it in-process; Kubernetes mode runs a Job per run, recorded as a
 * MysqlBackupVerification.
 */
export const verificationSchema = z.strictObject({
  /** Five-field cron: minute hour day-of-month month day-of-week. */
  schedule: z.string().min(1).describe('When to verify the latest backup: five-field cron (minute hour day-of-month month day-of-week).'),
  timeZone: z.string().min(1).default('Etc/UTC').describe('The IANA time zone the schedule is read in.'),
  /** Load threads of the scratch restore; default: the profile's dump.threads. */
  threads: z.number().int().min(1).max(64).optional().describe("Load threads of the scratch restore, each with its own session (default: the profile's dump.threads)."),
});

/**
 * Retries of scheduled backups that failed: the Nth retry waits initial × 2^(N−1) seconds, capped
 * (maxBackoffSeconds ≥ initialBackoffSeconds is checked by crossFieldIssues).
 */
export const retrySchema = z.strictObject({
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).default(1).describe('Attempts of a scheduled backup in all, the first included.'),
  initialBackoffSeconds: z.number().min(0).default(60).describe('Wait before the first retry; the Nth waits this × 2^(N−1).'),
  maxBackoffSeconds: z.number().min(0).default(1800).describe('The longest wait between retries.'),
});

/** Continuous binlog archiving for point-in-time recovery: the fields both deployments read. */
const pitrFields = {
  enabled: z.boolean().default(false).describe('Archive binlogs continuously for point-in-time recovery.'),
  /** The profile whose storage holds the archive (under <prefix>/binlogs/). */
  profileName: z.string().min(1).describe('The profile whose storage holds the binlog archive.'),
  /** Seconds between scans for sealed binlogs (file events are watched too, where they can be). */
  archivePollInterval: durationSchema.default(60).describe('Time between scans for sealed binlogs: seconds, or a duration like 1m.'),
};

/** Point-in-time recovery in `bloodraven.yaml`: the archiver runs next to the server, on this machine or over the network. */
export const pitrSchema = z.strictObject({
  ...pitrFields,
  /** The name this server's binlogs are archived under (one manifest per site). Default: the server's host name. */
  site: nameSchema.optional(),
  /**
   * Where binlogs are read: `local` from the server's binlog folder on this machine (default: the
   * folder of @@log_bin_basename), `remote` over the replication protocol with the binlog tool.
   */
  source: z
    .discriminatedUnion('type', [z.strictObject({ type: z.literal('local'), binlogDir: z.string().min(1).optional() }), z.strictObject({ type: z.literal('remote') })])
    .default({ type: 'local' }),
});

/**
 * Point-in-time recovery in a `MysqlFailoverGroup`: the sites are the group's, so there is no
 * `site` or `source` to give. The archiver is a sidecar beside each MySQL pod (`pitr archive
 * --sidecar`, with a bloodraven.yaml of its own naming the same profile and its site); the daemon
 * reads this block for the profile whose `/pitr-cutoff` the sidecars poll to prune.
 */
export const kubernetesPitrSchema = z.strictObject(pitrFields);

export const scheduleSchema = z.strictObject({
  name: nameSchema.describe('The schedule (its CronJob in Kubernetes is mysql-<group>-backup-<name>).'),
  profileName: z.string().min(1).describe('The profile the scheduled backups use.'),
  /** Five-field cron: minute hour day-of-month month day-of-week. */
  schedule: z.string().min(1).describe('Five-field cron: minute hour day-of-month month day-of-week.'),
  /** IANA zone the schedule is read in. */
  timeZone: z.string().min(1).default('Etc/UTC').describe('The IANA time zone the schedule is read in.'),
});

/** A Kubernetes object name (Secret, PersistentVolumeClaim): a DNS subdomain, as the API server checks it. */
export const objectNameSchema = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a Kubernetes object name: lowercase letters, digits, "-" and ".", starting and ending alphanumeric');

/** A Kubernetes resource quantity such as 50Gi or 500M (a claim's requested size). */
export const quantitySchema = z.string().regex(/^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/, 'must be a Kubernetes quantity such as 50Gi');

/**
 * What a profile says differently per deployment: where the PVC is, where the S3 credentials and
 * the encryption passphrase come from, and what point-in-time recovery needs to know. Everything
 * else (dump options, retention, retries, schedules, the S3 fields) is one definition, so the CRDs
 * are generated from the schema that validates `bloodraven.yaml` (DESIGN §6).
 */
interface DeploymentParts<Pvc extends z.ZodType, S3Credentials extends z.ZodRawShape, Encryption extends z.ZodType, Pitr extends z.ZodType> {
  pvc: Pvc;
  /** The fields of `storage.s3` that name the credentials (between endpointURL and partSize). */
  s3Credentials: S3Credentials;
  encryption: Encryption;
  pitr: Pitr;
}

/** The storage, profile and `backup:` fields of one deployment (bloodraven.yaml, or a group's spec.backup). */
function backupSchemas<Pvc extends z.ZodType, S3Credentials extends z.ZodRawShape, Encryption extends z.ZodType, Pitr extends z.ZodType>(
  parts: DeploymentParts<Pvc, S3Credentials, Encryption, Pitr>,
) {
  const pvcStorage = z.strictObject({ type: z.literal('PVC'), pvc: parts.pvc });
  const s3Storage = z.strictObject({
    type: z.literal('S3'),
    s3: z.strictObject({
      bucket: z.string().min(3).max(63),
      prefix: z
        .string()
        .default('')
        .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'must not contain "." or ".." segments')
        .describe("The key prefix the profile's backups and binlogs go under."),
      region: z.string().min(1).optional(),
      endpointURL: z
        .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
        .optional()
        .describe('An S3-compatible endpoint (MinIO and the like) instead of AWS.'),
      ...parts.s3Credentials,
      /**
       * How long one storage request is retried while it fails transiently (connection refused or
       * dropped, 5xx, throttling), in seconds: an endpoint that is down for less rides through.
       * Reads, lists and deletes as much as writes. Waits grow from 0.2 s to at most 10 s, jittered.
       * Absent: 120 (s3-store.ts defaultS3RetryTimeoutSeconds; no default here, so that storage
       * blocks built in code, like a restore's --from, need not name it).
       */
      retryTimeout: durationSchema
        .refine((seconds) => seconds >= 1, 'must be at least 1 second (a duration like 30s or 2m)')
        .optional()
        .describe('How long one S3 request is retried while the endpoint fails or cannot be reached: seconds, or a duration like 2m (default 2m).'),
      /** Multipart part size; memory used by a dump is about threads × partSize. S3 needs at least 5 MiB. */
      partSize: sizeSchema(5 * 1024 * 1024, '5242880 bytes (5 MiB), the S3 minimum')
        .default(16_000_000)
        .describe('Multipart upload part size, like 16M (at least 5 MiB); a dump holds about threads × partSize in memory.'),
    }),
  });
  const storage = z.discriminatedUnion('type', [pvcStorage, s3Storage], {
    error: (issue) => (issue.code === 'invalid_union' ? 'type must be PVC or S3' : undefined),
  });
  const profile = z
    .strictObject({
      name: nameSchema.describe('The profile: backups and schedules refer to it by this name.'),
      storage: storage.describe('Where the backups go: type S3 (with s3) or PVC (with pvc).'),
      dump: dumpSchema.default(() => dumpSchema.parse({})),
      retentionPolicy: retentionPolicySchema.optional().describe('Which backups are kept (absent: all of them).'),
      /** Shorthand for retentionPolicy {count: N, minKeep: 1, maxFailedKeep: 10}; never with retentionPolicy (crossFieldIssues). */
      retention: z.number().int().min(1).optional().describe('Shorthand for retentionPolicy {count: N, minKeep: 1, maxFailedKeep: 10}.'),
      /** Client-side encryption of every stored byte of the profile's backups and binlogs. */
      encryption: parts.encryption.optional().describe("Client-side encryption of every stored byte of the profile's backups and binlogs."),
      verification: verificationSchema.optional().describe('Scheduled verification: restore the latest backup into a throwaway server and prove its contents.'),
    })
    .transform(({ retention, retentionPolicy, ...rest }) => ({
      ...rest,
      /** Absent: keep everything. */
      retentionPolicy:
        retentionPolicy ?? (retention === undefined ? undefined : { count: retention, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 0 }),
    }));
  return {
    storage,
    profile,
    /** The fields of `backup:`, in this order (it is the order problems are reported in). */
    backupFields: {
      profiles: z.array(profile).min(1, 'at least one profile is needed'),
      schedules: z.array(scheduleSchema).default([]),
      retry: retrySchema.default(() => retrySchema.parse({})),
      pitr: parts.pitr.optional(),
    },
  };
}

const fileBackup = backupSchemas({
  pvc: z.strictObject({ path: z.string().min(1) }),
  /** A folder holding AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, AWS_REGION. */
  s3Credentials: { credentialsDir: z.string().min(1).optional() },
  encryption: z.strictObject({ passphraseFile: z.string().min(1) }),
  pitr: pitrSchema,
});

export const storageSchema = fileBackup.storage;
export const profileSchema = fileBackup.profile;

/**
 * The same in a `MysqlFailoverGroup`'s `spec.backup` (src/lib/kube/resources.ts adds the fields
 * only Kubernetes has): Secrets and claims by name, which each Job mounts at the paths of its
 * `bloodraven.yaml` (src/lib/kube/job-spec.ts).
 */
export const kubernetesBackup = backupSchemas({
  /**
   * Either `claimName`, a claim the user manages, or `size` (and `storageClassName`) of the claim
   * bloodraven provisions as mysql-<group>-backup-<profile>; which one is checked with the
   * group's other cross-field rules (src/lib/kube/resources.ts).
   */
  pvc: z.strictObject({
    claimName: objectNameSchema.optional().describe('A claim you manage, mounted at /backups. Or give size instead.'),
    storageClassName: objectNameSchema.optional().describe('The storage class of the claim bloodraven provisions.'),
    size: quantitySchema.optional().describe('The size of the claim bloodraven provisions as mysql-<group>-backup-<profile>, like 50Gi.'),
  }),
  /** The Secret holding AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, AWS_REGION. */
  s3Credentials: {
    credentialsSecret: objectNameSchema
      .optional()
      .describe('The Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN, AWS_REGION), mounted into the Jobs.'),
  },
  /** The Secret whose key `passphrase` is the passphrase. */
  encryption: z.strictObject({ passphraseSecret: objectNameSchema.describe('The Secret whose key `passphrase` holds the passphrase.') }),
  pitr: kubernetesPitrSchema,
});

/**
 * `umask`: the permission bits left off the folders and files bloodraven creates (file-modes.ts),
 * as 3 or 4 octal digits in a string ("0077", the default; "0027" lets the group read). Parsed to
 * a number. A YAML number is refused: an unquoted 0027 reads as twenty-seven. So is a mask that
 * takes the owner's own bits, which would leave bloodraven unable to write into its folders, and
 * one that lets every user write ("0000", "0020").
 */
export const umaskSchema = z.union([z.string(), z.number()]).transform((value, ctx): number => {
  if (typeof value === 'number') {
    ctx.addIssue({ code: 'custom', message: `write the umask as a quoted octal string such as "0027" (YAML reads an unquoted ${value} as a decimal number)` });
    return z.NEVER;
  }
  if (!/^0?[0-7]{3}$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a umask: write 3 or 4 octal digits in quotes, such as "0077" (the default: only the owner) or "0027" (the group may read)` });
    return z.NEVER;
  }
  const mask = parseInt(value, 8);
  if ((mask & 0o700) !== 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} takes permissions from the owner, and bloodraven could not write its own backups: leave the owner's digit 0, as in "0077" or "0027"` });
    return z.NEVER;
  }
  if ((mask & 0o002) === 0) {
    // Anyone on the machine could then replace a backup's files (or its keyring) unnoticed until a restore.
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} lets every user of the machine write into the backups: keep the last digit at least 2, as in "0077" or "0027" ("0002" shares with the group, writes included)` });
    return z.NEVER;
  }
  return mask;
});

/** Every field's own rules (type, range, format); the rules relating fields are crossFieldIssues. */
const configFieldsSchema = z.strictObject({
  /** The group: labels, backup names. Default: the server's host name. */
  name: nameSchema.optional(),
  /** The permission bits left off what bloodraven creates; default "0077" (folders 0700, files 0600). */
  umask: umaskSchema.default(defaultUmask),
  mysql: mysqlSchema.default(() => mysqlSchema.parse({})),
  backup: z.strictObject(fileBackup.backupFields),
});

/** A problem with the configuration, at the path of the field it concerns. */
export interface ConfigProblem {
  path: Array<string | number>;
  message: string;
}

/** How a field is named in messages: by default its config path; load.ts names flags instead. */
export type FieldNamer = (path: string) => string;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Present in the input: YAML writes an empty value as null, which the field rules report on their own. */
export function isSet(v: unknown): boolean {
  return v !== undefined && v !== null;
}

export function recordsOf(v: unknown): Array<[number, Record<string, unknown>]> {
  return Array.isArray(v) ? v.flatMap((item, i): Array<[number, Record<string, unknown>]> => (isRecord(item) ? [[i, item]] : [])) : [];
}

function stringsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * The rules that relate fields to each other (duplicate names, references to profiles, options
 * that exclude each other). They read the raw input defensively rather than zod's parsed value,
 * because zod skips an object's refinements once any field in it has an error: run here, every
 * problem is reported together, whatever else is wrong.
 */
export function crossFieldIssues(input: unknown, fieldName: FieldNamer = (path) => path): ConfigProblem[] {
  if (!isRecord(input)) return [];
  const name = (path: Array<string | number>): string => fieldName(formatPath(path));
  const backup = backupCrossFieldIssues(input.backup, ['backup'], name);
  return [...backup.profiles, ...mysqlIssues(input.mysql, name), ...backup.others];
}

type Path = Array<string | number>;

/**
 * The cross-field rules of a `backup:` block found at `at` (`backup` in bloodraven.yaml,
 * `spec.backup` in a MysqlFailoverGroup): the profiles' own rules, then the rest (schedules,
 * pitr and retry referring to profiles, the retry's bounds), kept apart so each caller reports
 * them in its own order.
 */
export function backupCrossFieldIssues(input: unknown, at: Path, name: PathNamer): { profiles: ConfigProblem[]; others: ConfigProblem[] } {
  const backup = isRecord(input) ? input : {};
  const { issues: profiles, profileNames } = profileIssues(backup.profiles, [...at, 'profiles'], name);
  // References are only checked against a list of profiles that is there to check against.
  const known = Array.isArray(backup.profiles) ? profileNames : null;
  const others = scheduleIssues(backup.schedules, [...at, 'schedules'], known);
  if (isRecord(backup.pitr) && known && typeof backup.pitr.profileName === 'string' && !known.has(backup.pitr.profileName)) {
    others.push({ path: [...at, 'pitr', 'profileName'], message: `no profile named "${backup.pitr.profileName}"` });
  }
  if (isRecord(backup.retry)) {
    const initial = backup.retry.initialBackoffSeconds ?? 60;
    const max = backup.retry.maxBackoffSeconds ?? 1800;
    if (typeof initial === 'number' && typeof max === 'number' && max < initial) {
      others.push({ path: [...at, 'retry', 'maxBackoffSeconds'], message: `must be at least ${name([...at, 'retry', 'initialBackoffSeconds'])} (${initial})` });
    }
  }
  return { profiles, others };
}

/** How a path is named in a message (a flag, or the formatted path). */
export type PathNamer = (path: Array<string | number>) => string;

/** One way to reach the server, and one source for the account. */
function mysqlIssues(mysql: unknown, name: PathNamer): ConfigProblem[] {
  if (!isRecord(mysql)) return [];
  const issues: ConfigProblem[] = [];
  const setOf = (...keys: string[]): string[] => keys.filter((k) => isSet(mysql[k])).map((k) => name(['mysql', k]));
  if (isSet(mysql.socket) && (isSet(mysql.host) || isSet(mysql.port))) {
    issues.push({ path: ['mysql', 'socket'], message: `use either ${name(['mysql', 'socket'])} or ${setOf('host', 'port').join(' and ')}, not both` });
  }
  if (isSet(mysql.credentialsDir) && (isSet(mysql.user) || isSet(mysql.passwordFile))) {
    issues.push({ path: ['mysql', 'credentialsDir'], message: `use either ${name(['mysql', 'credentialsDir'])} or ${setOf('user', 'passwordFile').join(' and ')}, not both` });
  }
  if (isSet(mysql.passwordFile) && !isSet(mysql.user)) {
    issues.push({ path: ['mysql', 'passwordFile'], message: `${name(['mysql', 'passwordFile'])} needs a user as well: ${name(['mysql', 'user'])} is not set` });
  }
  return issues;
}

/** Unique profile names, one retention setting each, schema filters that do not contradict each other, and valid verification schedules. */
function profileIssues(profiles: unknown, listAt: Path, name: PathNamer): { issues: ConfigProblem[]; profileNames: Set<string> } {
  const issues: ConfigProblem[] = [];
  const profileNames = new Set<string>();
  for (const [i, p] of recordsOf(profiles)) {
    const at = [...listAt, i];
    if (typeof p.name === 'string') {
      if (profileNames.has(p.name)) issues.push({ path: [...at, 'name'], message: `profile "${p.name}" is defined twice` });
      profileNames.add(p.name);
    }
    if (isSet(p.retention) && isSet(p.retentionPolicy)) {
      issues.push({ path: [...at, 'retention'], message: `use either ${name([...at, 'retention'])} or ${name([...at, 'retentionPolicy'])}, not both` });
    }
    issues.push(...verificationIssues(p.verification, [...at, 'verification']));
    if (isRecord(p.dump)) {
      const include = name([...at, 'dump', 'includeSchemas']);
      const exclude = name([...at, 'dump', 'excludeSchemas']);
      const problem = schemaFilterProblem(stringsOf(p.dump.includeSchemas), stringsOf(p.dump.excludeSchemas), include, exclude);
      if (problem) issues.push({ path: [...at, 'dump', 'excludeSchemas'], message: problem });
    }
  }
  return { issues, profileNames };
}

/**
 * Why a pair of schema filters contradicts itself (a schema both included and excluded), or null.
 * `includeName` and `excludeName` are how the user wrote them: flags or config fields.
 */
export function schemaFilterProblem(include: readonly string[], exclude: readonly string[], includeName: string, excludeName: string): string | null {
  const excluded = new Set(exclude);
  const both = [...new Set(include.filter((s) => excluded.has(s)))];
  if (both.length === 0) return null;
  return `${both.map((s) => `"${s}"`).join(', ')} ${both.length === 1 ? 'is' : 'are'} both included (${includeName}) and excluded (${excludeName}): name each schema in one of them only`;
}

/** Refuses (ConfigError on the exclude flag) schema filters given as flags that contradict each other. */
export function assertSchemaFlagsAgree(include: readonly string[] | undefined, exclude: readonly string[] | undefined, includeFlag = '--include-schema', excludeFlag = '--exclude-schema'): void {
  const problem = schemaFilterProblem(include ?? [], exclude ?? [], includeFlag, excludeFlag);
  if (problem) throw new ConfigError([{ path: excludeFlag, message: problem }], { hint: 'fix the flags named above (see --help)' });
}

/**
 * A profile's scheduled verification: its cron expression valid in its time zone, checked as the
 * backup schedules' are (a problem names `…verification.schedule` or `…verification.timeZone`).
 */
function verificationIssues(verification: unknown, at: Path): ConfigProblem[] {
  if (!isRecord(verification)) return [];
  const timeZone = verification.timeZone ?? 'Etc/UTC';
  if (typeof verification.schedule !== 'string' || verification.schedule === '' || typeof timeZone !== 'string' || timeZone === '') return [];
  return checkCron(verification.schedule, timeZone).map((problem) => ({ path: [...at, problem.field], message: problem.message }));
}

/** Unique schedule names, existing profiles, and cron expressions valid in their time zone. */
function scheduleIssues(schedules: unknown, listAt: Path, profileNames: ReadonlySet<string> | null): ConfigProblem[] {
  const issues: ConfigProblem[] = [];
  const scheduleNames = new Set<string>();
  for (const [i, sch] of recordsOf(schedules)) {
    const at = [...listAt, i];
    if (profileNames && typeof sch.profileName === 'string' && !profileNames.has(sch.profileName)) {
      issues.push({ path: [...at, 'profileName'], message: `no profile named "${sch.profileName}"` });
    }
    if (typeof sch.name === 'string') {
      if (scheduleNames.has(sch.name)) issues.push({ path: [...at, 'name'], message: `schedule "${sch.name}" is defined twice` });
      scheduleNames.add(sch.name);
    }
    const timeZone = sch.timeZone ?? 'Etc/UTC';
    if (typeof sch.schedule === 'string' && sch.schedule !== '' && typeof timeZone === 'string' && timeZone !== '') {
      for (const problem of checkCron(sch.schedule, timeZone)) issues.push({ path: [...at, problem.field], message: problem.message });
    }
  }
  return issues;
}

export type ConfigValidation = { success: true; data: z.output<typeof configFieldsSchema> } | { success: false; issues: ConfigProblem[] };

/**
 * Validates a whole configuration: every field's rules and every cross-field rule, all problems
 * together. `fieldName` names fields in messages (a flag rather than the config path, say).
 */
export function validateConfig(input: unknown, fieldName?: FieldNamer): ConfigValidation {
  const fields = configFieldsSchema.safeParse(input);
  const issues: ConfigProblem[] = fields.success
    ? []
    : fields.error.issues.map((issue) => ({ path: issue.path.map((part) => (typeof part === 'number' ? part : String(part))), message: issue.message }));
  issues.push(...crossFieldIssues(input, fieldName));
  return fields.success && issues.length === 0 ? { success: true, data: fields.data } : { success: false, issues };
}

/** The configuration as one zod schema (for code that builds a config in place: tests, tools). */
export const configSchema = z.unknown().transform((input, ctx): z.output<typeof configFieldsSchema> => {
  const result = validateConfig(input);
  if (result.success) return result.data;
  for (const issue of result.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  return z.NEVER;
});

/** `backup.profiles[0].storage.s3.bucket` */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configFieldsSchema>;
export type MysqlConfig = Config['mysql'];
export type Profile = Config['backup']['profiles'][number];
export type StorageConfig = Profile['storage'];
export type S3StorageConfig = Extract<StorageConfig, { type: 'S3' }>['s3'];
export type DumpConfig = Profile['dump'];
export type Compression = z.output<typeof compressionSchema>;
export type RetentionPolicy = z.output<typeof retentionPolicySchema>;
export type RetryPolicy = z.output<typeof retrySchema>;
export type Schedule = z.output<typeof scheduleSchema>;
export type PitrConfig = z.output<typeof pitrSchema>;
export type VerificationConfig = z.output<typeof verificationSchema>;
