/**
 * Loading the configuration: `bloodraven.yaml` (or the file `--config` names), then the flags
 * laid over it, then one validation pass that reports every problem at once with its field path
 * (ConfigError, exit 2). Relative paths in the file are relative to the file's folder.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { configSchema, type Config, type Profile } from './schema.js';

export const defaultConfigFile = 'bloodraven.yaml';

/** Values given on the command line; each replaces the matching field of the file. */
export interface ConfigOverrides {
  mysql?: {
    host?: string | undefined;
    port?: number | undefined;
    socket?: string | undefined;
    user?: string | undefined;
    passwordFile?: string | undefined;
    credentialsDir?: string | undefined;
  };
  /** Applied to the selected profile's `dump:` block. */
  dump?: {
    threads?: number | undefined;
    bytesPerChunk?: string | undefined;
    compression?: string | undefined;
    consistent?: boolean | undefined;
    includeSchemas?: string[] | undefined;
    excludeSchemas?: string[] | undefined;
    lockWaitTimeout?: string | undefined;
  };
}

export interface LoadConfigInput {
  /** `--config`: must exist when given. */
  file?: string | undefined;
  cwd: string;
  /** `--profile`: default the only profile, or the first. */
  profile?: string | undefined;
  overrides?: ConfigOverrides;
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or null when none was found and local defaults apply. */
  path: string | null;
  /** Folder relative paths are resolved against. */
  baseDir: string;
  profile: Profile;
}

/** Local defaults when there is no config file: one profile, backups in ./backups. */
export const localDefaults = {
  backup: { profiles: [{ name: 'local', storage: { type: 'PVC', pvc: { path: './backups' } } }] },
};

export async function loadConfig(input: LoadConfigInput): Promise<LoadedConfig> {
  const explicit = input.file !== undefined;
  const path = resolve(input.cwd, input.file ?? defaultConfigFile);
  let raw: unknown;
  let found = true;
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) found = false;
    else if (code === 'ENOENT') throw new ConfigError([{ path: '', message: `config file ${path} does not exist` }], { hint: 'check --config' });
    else throw new ConfigError([{ path: '', message: `cannot read config file ${path}: ${(err as Error).message}` }]);
  }
  if (text !== undefined) {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new ConfigError(doc.errors.map((e) => ({ path: '', message: `${path}: ${e.message.split('\n')[0] ?? e.message}` })));
    }
    raw = doc.toJS() as unknown;
    if (raw === null || raw === undefined) raw = {};
  } else {
    raw = structuredClone(localDefaults);
  }
  const baseDir = found ? dirname(path) : input.cwd;
  const merged = applyOverrides(raw, input.overrides ?? {}, input.profile);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(toIssues(parsed.error), found ? { hint: `fix ${path}` } : { hint: `no ${defaultConfigFile} was found: local defaults and flags apply` });
  }
  const config = parsed.data;
  const profile = selectProfile(config, input.profile);
  return { config, path: found ? path : null, baseDir, profile };
}

export function selectProfile(config: Config, name: string | undefined): Profile {
  const profiles = config.backup.profiles;
  if (name === undefined) return profiles[0]!;
  const found = profiles.find((p) => p.name === name);
  if (!found) {
    throw new ConfigError([{ path: 'profile', message: `no profile named "${name}"; the config has: ${profiles.map((p) => p.name).join(', ')}` }]);
  }
  return found;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Lays the flags over the file's values (before validation, so flags are validated too). */
function applyOverrides(raw: unknown, overrides: ConfigOverrides, profileName: string | undefined): unknown {
  if (!isRecord(raw)) return raw;
  const out: Record<string, unknown> = { ...raw };
  const mysql = definedEntries(overrides.mysql ?? {});
  if (Object.keys(mysql).length > 0) {
    const base = isRecord(out.mysql) ? { ...out.mysql } : {};
    // A connection given on the command line replaces the file's way of connecting.
    if ('socket' in mysql) {
      delete base.host;
      delete base.port;
    }
    if ('host' in mysql || 'port' in mysql) delete base.socket;
    if ('credentialsDir' in mysql) {
      delete base.user;
      delete base.passwordFile;
    }
    if ('user' in mysql || 'passwordFile' in mysql) delete base.credentialsDir;
    out.mysql = { ...base, ...mysql };
  }
  const dump = definedEntries(overrides.dump ?? {});
  if (Object.keys(dump).length > 0 && isRecord(out.backup) && Array.isArray(out.backup.profiles)) {
    const profiles = out.backup.profiles as unknown[];
    const index = profileName === undefined ? 0 : profiles.findIndex((p) => isRecord(p) && p.name === profileName);
    const target = profiles[index];
    if (index >= 0 && isRecord(target)) {
      const copy = [...profiles];
      copy[index] = { ...target, dump: { ...(isRecord(target.dump) ? target.dump : {}), ...dump } };
      out.backup = { ...out.backup, profiles: copy };
    }
  }
  return out;
}

function definedEntries(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function toIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

/** `backup.profiles[0].storage.s3.bucket` */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
