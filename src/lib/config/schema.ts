/**
 * The configuration schema: `bloodraven.yaml` mirrors the CRDs' `spec.backup` plus a `mysql:`
 * connection block, so this one schema validates both. Every field is checked here; loading
 * (load.ts) reports all problems at once.
 */
import { z } from 'zod';
import { parseSize } from '../sizes.js';
import { checkCron } from '../schedule/cron.js';

/** Names that end up in backup names and object keys: DNS-label-like, as Kubernetes names are. */
const nameSchema = z
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
});

const pvcStorageSchema = z.strictObject({
  type: z.literal('PVC'),
  pvc: z.strictObject({ path: z.string().min(1) }),
});

const s3StorageSchema = z.strictObject({
  type: z.literal('S3'),
  s3: z.strictObject({
    bucket: z.string().min(3).max(63),
    prefix: z
      .string()
      .default('')
      .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'must not contain "." or ".." segments'),
    region: z.string().min(1).optional(),
    endpointURL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    /** A folder holding AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN, AWS_REGION. */
    credentialsDir: z.string().min(1).optional(),
    /** Multipart part size; memory used by a dump is about threads × partSize. S3 needs at least 5 MiB. */
    partSize: sizeSchema(5 * 1024 * 1024, '5242880 bytes (5 MiB), the S3 minimum').default(16_000_000),
  }),
});

export const storageSchema = z.discriminatedUnion('type', [pvcStorageSchema, s3StorageSchema], {
  error: (issue) => (issue.code === 'invalid_union' ? 'type must be PVC or S3' : undefined),
});

export const compressionSchema = z.enum(['zstd', 'gzip', 'none']);

/** Seconds, or a duration like 30s, 5m, 1h. */
const durationSchema = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration: write seconds, or a number with ms, s, m or h (like 60s)` });
    return z.NEVER;
  }
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's'] ?? 1;
  return Number(m[1]) * factor;
});

export const dumpSchema = z.strictObject({
  threads: z.number().int().min(1).max(64).default(4),
  bytesPerChunk: sizeSchema(128_000, '128k').default(64_000_000),
  compression: compressionSchema.default('zstd'),
  consistent: z.boolean().default(true),
  includeSchemas: z.array(z.string().min(1)).default([]),
  excludeSchemas: z.array(z.string().min(1)).default([]),
  /**
   * How long the backup may hold up the application's writes, in seconds: statements running
   * longer keep it from requesting the snapshot locks, and a lock request waits at most this long
   * before it is given up and retried. The servers wait in whole seconds, so a value under 1 s
   * (like 500ms) makes the check for long statements stricter while the lock still waits 1 s.
   */
  lockWaitTimeout: durationSchema.refine((seconds) => seconds > 0, 'must be more than 0').default(1),
});

/** Which backups a profile keeps (the reference's structured retention; 0 disables a check). */
export const retentionPolicySchema = z.strictObject({
  /** Successful backups to keep, newest first. */
  count: z.number().int().min(0).default(0),
  /** Successful backups younger than this many days are kept. */
  maxAgeDays: z.number().min(0).default(0),
  /** The newest this-many successful backups are always kept, whatever else says. */
  minKeep: z.number().int().min(0).default(1),
  /** Failed attempts whose records are kept. */
  maxFailedKeep: z.number().int().min(0).default(10),
});

export const profileSchema = z
  .strictObject({
    name: nameSchema,
    storage: storageSchema,
    dump: dumpSchema.default(() => dumpSchema.parse({})),
    retentionPolicy: retentionPolicySchema.optional(),
    /** Shorthand for retentionPolicy {count: N, minKeep: 1, maxFailedKeep: 10}. */
    retention: z.number().int().min(1).optional(),
    /** Client-side encryption of every stored byte of the profile's backups and binlogs. */
    encryption: z.strictObject({ passphraseFile: z.string().min(1) }).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.retention !== undefined && p.retentionPolicy !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['retention'], message: 'use either retention or retentionPolicy, not both' });
    }
  })
  .transform(({ retention, retentionPolicy, ...rest }) => ({
    ...rest,
    /** Absent: keep everything. */
    retentionPolicy:
      retentionPolicy ?? (retention === undefined ? undefined : { count: retention, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10 }),
  }));

/** Retries of scheduled backups that failed: the Nth retry waits initial × 2^(N−1) seconds, capped. */
export const retrySchema = z
  .strictObject({
    /** Attempts in all, the first included. */
    maxAttempts: z.number().int().min(1).default(1),
    initialBackoffSeconds: z.number().min(0).default(60),
    maxBackoffSeconds: z.number().min(0).default(1800),
  })
  .refine((r) => r.maxBackoffSeconds >= r.initialBackoffSeconds, { message: 'maxBackoffSeconds must be at least initialBackoffSeconds', path: ['maxBackoffSeconds'] });

/** Continuous binlog archiving for point-in-time recovery. */
export const pitrSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** The profile whose storage holds the archive (under <prefix>/binlogs/). */
  profileName: z.string().min(1),
  /** Seconds between scans for sealed binlogs (file events are watched too, where they can be). */
  archivePollInterval: durationSchema.default(60),
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

export const scheduleSchema = z.strictObject({
  name: nameSchema,
  profileName: z.string().min(1),
  /** Five-field cron: minute hour day-of-month month day-of-week. */
  schedule: z.string().min(1),
  /** IANA zone the schedule is read in. */
  timeZone: z.string().min(1).default('Etc/UTC'),
});

export const configSchema = z
  .strictObject({
    /** The group: labels, backup names. Default: the server's host name. */
    name: nameSchema.optional(),
    mysql: mysqlSchema.default(() => mysqlSchema.parse({})),
    backup: z.strictObject({
      profiles: z.array(profileSchema).min(1, 'at least one profile is needed'),
      schedules: z.array(scheduleSchema).default([]),
      retry: retrySchema.default(() => retrySchema.parse({})),
      pitr: pitrSchema.optional(),
    }),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.backup.profiles.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['backup', 'profiles', i, 'name'], message: `profile "${p.name}" is defined twice` });
      seen.add(p.name);
    });
    if (config.mysql.credentialsDir && (config.mysql.user || config.mysql.passwordFile)) {
      ctx.addIssue({ code: 'custom', path: ['mysql', 'credentialsDir'], message: 'use either credentialsDir or user + passwordFile, not both' });
    }
    if (config.mysql.passwordFile && !config.mysql.user) {
      ctx.addIssue({ code: 'custom', path: ['mysql', 'user'], message: 'passwordFile needs user' });
    }
    const profileNames = new Set(config.backup.profiles.map((p) => p.name));
    const scheduleNames = new Set<string>();
    config.backup.schedules.forEach((sch, i) => {
      if (!profileNames.has(sch.profileName)) {
        ctx.addIssue({ code: 'custom', path: ['backup', 'schedules', i, 'profileName'], message: `no profile named "${sch.profileName}"` });
      }
      if (scheduleNames.has(sch.name)) ctx.addIssue({ code: 'custom', path: ['backup', 'schedules', i, 'name'], message: `schedule "${sch.name}" is defined twice` });
      scheduleNames.add(sch.name);
      const cronProblem = checkCron(sch.schedule, sch.timeZone);
      if (cronProblem) ctx.addIssue({ code: 'custom', path: ['backup', 'schedules', i, cronProblem.field], message: cronProblem.message });
    });
    if (config.backup.pitr && !profileNames.has(config.backup.pitr.profileName)) {
      ctx.addIssue({ code: 'custom', path: ['backup', 'pitr', 'profileName'], message: `no profile named "${config.backup.pitr.profileName}"` });
    }
    if (config.mysql.socket && (config.mysql.host || config.mysql.port)) {
      ctx.addIssue({ code: 'custom', path: ['mysql', 'socket'], message: 'use either socket or host/port, not both' });
    }
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
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
