/**
 * Loading the configuration: the file `--config` names, else YAML text handed over inline (a
 * Kubernetes Job's pod gets its whole config in BLOODRAVEN_CONFIG_YAML), else `./bloodraven.yaml`;
 * then the flags laid over it, then one validation pass that reports every problem at once with
 * its field path (ConfigError, exit 2). Relative paths in a file are relative to the file's
 * folder; in inline text, to the working directory.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { formatPath, validateConfig, type Config, type Profile } from './schema.js';

export { formatPath } from './schema.js';

export const defaultConfigFile = 'bloodraven.yaml';

/**
 * Values given on the command line; each replaces the matching field of the file. Each is named by
 * its flag in messages (overrideFlags).
 */
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
    /** A number, or the text given when it is not one (then reported as the flag's error). */
    threads?: number | string | undefined;
    bytesPerChunk?: string | undefined;
    compression?: string | undefined;
    consistent?: boolean | undefined;
    includeSchemas?: string[] | undefined;
    excludeSchemas?: string[] | undefined;
    lockWaitTimeout?: string | undefined;
  };
}

/** The flag that gives each override, to name it in messages instead of the config path. */
const overrideFlags = {
  mysql: {
    host: '--host',
    port: '--port',
    socket: '--socket',
    user: '--user',
    passwordFile: '--password-file',
    credentialsDir: '--credentials-dir',
  },
  dump: {
    threads: '--threads',
    bytesPerChunk: '--bytes-per-chunk',
    compression: '--compression',
    consistent: '--consistent',
    includeSchemas: '--include-schema',
    excludeSchemas: '--exclude-schema',
    lockWaitTimeout: '--lock-wait-timeout',
  },
} as const satisfies { [K in keyof ConfigOverrides]-?: Record<keyof NonNullable<ConfigOverrides[K]>, string> };

/**
 * Config text given inline rather than in a file. The command reads it (from the environment:
 * src/lib never does); `source` names where it came from in messages, as a file's path does.
 */
export interface InlineConfig {
  /** YAML text of a whole bloodraven.yaml. */
  text: string;
  /** How messages name it: `BLOODRAVEN_CONFIG_YAML`. */
  source: string;
}

export interface LoadConfigInput {
  /** `--config`: must exist when given. Wins over `inline`. */
  file?: string | undefined;
  /** Config text used when `file` is not given; wins over `./bloodraven.yaml`. */
  inline?: InlineConfig | undefined;
  cwd: string;
  /** `--profile`: default the only profile, or the first. */
  profile?: string | undefined;
  overrides?: ConfigOverrides;
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or null when none was (inline text, or local defaults). */
  path: string | null;
  /** Where the config came from: the file's path, the inline text's source, or null for local defaults. */
  source: string | null;
  /** Folder relative paths are resolved against. */
  baseDir: string;
  profile: Profile;
  /**
   * How the user wrote the field at `path` (a config path such as
   * `backup.profiles[0].dump.includeSchemas`, or one inside it): the flag that set it
   * (`--include-schema`), or else the config path itself. For messages about a field's value.
   */
  fieldName: (path: string) => string;
}

/** Local defaults when there is no config file: one profile, backups in ./backups. */
export const localDefaults = {
  backup: { profiles: [{ name: 'local', storage: { type: 'PVC', pvc: { path: './backups' } } }] },
};

/**
 * Reads the config (--config's file, else the inline text, else ./bloodraven.yaml, else the local
 * defaults), lays the flags over it and validates the result. Throws one ConfigError listing every
 * problem, each under the flag or config path the user wrote, with a hint pointing at the file
 * (or the inline text's source) only when it is at fault.
 */
export async function loadConfig(input: LoadConfigInput): Promise<LoadedConfig> {
  const read = await readSource(input);
  const baseDir = read.kind === 'file' ? dirname(read.path) : input.cwd;
  const source = read.kind === 'file' ? read.path : read.kind === 'inline' ? read.source : null;
  const { merged, flagFields } = applyOverrides(read.raw, input.overrides ?? {}, input.profile, input.cwd);
  const fieldName = (fieldPath: string): string => flagFor(flagFields, fieldPath) ?? fieldPath;
  const result = validateConfig(merged, fieldName);
  if (!result.success) {
    const issues: ConfigIssue[] = result.issues.map((issue) => ({ path: fieldName(formatPath(issue.path)), message: issue.message }));
    throw new ConfigError(issues, { hint: configHint(issues, flagFields, source) });
  }
  const config = result.data;
  const profile = selectProfile(config, input.profile);
  return { config, path: read.kind === 'file' ? read.path : null, source, baseDir, profile, fieldName };
}

type SourceRead = { kind: 'file'; path: string; raw: unknown } | { kind: 'inline'; source: string; raw: unknown } | { kind: 'defaults'; raw: unknown };

/** The config as parsed YAML, from the first source there is: --config, inline text, ./bloodraven.yaml, local defaults. */
async function readSource(input: LoadConfigInput): Promise<SourceRead> {
  if (input.file === undefined && input.inline !== undefined) {
    const { text, source } = input.inline;
    if (text.trim() === '') throw new ConfigError([{ path: '', message: `${source} is set but empty` }], { hint: `put the YAML of a bloodraven.yaml in ${source}, or unset it` });
    return { kind: 'inline', source, raw: parseYaml(text, source) };
  }
  const explicit = input.file !== undefined;
  const path = resolve(input.cwd, input.file ?? defaultConfigFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return { kind: 'defaults', raw: structuredClone(localDefaults) };
    if (code === 'ENOENT') throw new ConfigError([{ path: '', message: `config file ${path} does not exist` }], { hint: 'check --config' });
    throw new ConfigError([{ path: '', message: `cannot read config file ${path}: ${(err as Error).message}` }]);
  }
  return { kind: 'file', path, raw: parseYaml(text, path) };
}

/** YAML text as a plain value (an empty document is an empty config); syntax errors name `source`. */
function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ path: '', message: `${source}: ${e.message.split('\n')[0] ?? e.message}` })));
  }
  const raw = doc.toJS() as unknown;
  return raw === null || raw === undefined ? {} : raw;
}

/** The flag behind `fieldPath`, or behind the field it lies in (`…includeSchemas[2]` is `--include-schema`). */
function flagFor(flagFields: ReadonlyMap<string, string>, fieldPath: string): string | undefined {
  for (const [field, flag] of flagFields) {
    if (fieldPath === field || fieldPath.startsWith(`${field}.`) || fieldPath.startsWith(`${field}[`)) return flag;
  }
  return undefined;
}

/** Where to look: the file (or inline text) only when something in it is wrong, the flags when they are. */
function configHint(issues: readonly ConfigIssue[], flagFields: ReadonlyMap<string, string>, file: string | null): string {
  const flags = new Set(flagFields.values());
  // An issue involves a flag when it is about one, or names one (a flag contradicting a file value).
  const fromFlags = issues.some((i) => flags.has(i.path) || [...flags].some((flag) => i.message.includes(flag)));
  const fromFile = issues.some((i) => !flags.has(i.path));
  if (file === null) {
    return fromFlags && !fromFile ? 'fix the flags named above (see --help)' : `no ${defaultConfigFile} was found: local defaults and flags apply`;
  }
  if (fromFile && fromFlags) return `fix ${file} and the flags named above`;
  return fromFile ? `fix ${file}` : 'fix the flags named above (see --help)';
}

/** The profile `--profile` names, or the first; a name the config lacks is a ConfigError on --profile. */
export function selectProfile(config: Config, name: string | undefined): Profile {
  const profiles = config.backup.profiles;
  if (name === undefined) return profiles[0]!;
  const found = profiles.find((p) => p.name === name);
  if (!found) {
    throw new ConfigError([{ path: '--profile', message: `no profile named "${name}"; the config has: ${profiles.map((p) => p.name).join(', ')}` }]);
  }
  return found;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Lays the flags over the file's values (before validation, so flags are validated too), and
 * says which config paths the flags set.
 */
function applyOverrides(
  raw: unknown,
  overrides: ConfigOverrides,
  profileName: string | undefined,
  cwd: string,
): { merged: unknown; flagFields: Map<string, string> } {
  const flagFields = new Map<string, string>();
  if (!isRecord(raw)) return { merged: raw, flagFields };
  const out: Record<string, unknown> = { ...raw };
  const mysql = definedEntries(overrides.mysql ?? {});
  if (Object.keys(mysql).length > 0) {
    out.mysql = overrideConnection(isRecord(out.mysql) ? out.mysql : {}, mysql, cwd);
    for (const key of Object.keys(mysql)) flagFields.set(`mysql.${key}`, overrideFlags.mysql[key as keyof typeof overrideFlags.mysql]);
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
      for (const [key, value] of Object.entries(dump)) {
        const flag = key === 'consistent' && value === false ? '--no-consistent' : overrideFlags.dump[key as keyof typeof overrideFlags.dump];
        flagFields.set(`backup.profiles[${index}].dump.${key}`, flag);
      }
    }
  }
  return { merged: out, flagFields };
}

/** The file's `mysql:` block with the connection flags laid over it. */
function overrideConnection(file: Record<string, unknown>, flags: Record<string, unknown>, cwd: string): Record<string, unknown> {
  const base = { ...file };
  // A connection given on the command line replaces the file's way of connecting.
  if ('socket' in flags) {
    delete base.host;
    delete base.port;
  }
  if ('host' in flags || 'port' in flags) delete base.socket;
  if ('credentialsDir' in flags) {
    delete base.user;
    delete base.passwordFile;
  }
  if ('user' in flags || 'passwordFile' in flags) delete base.credentialsDir;
  const merged = { ...base, ...flags };
  // A path typed on the command line is relative to where it was typed, not to the config file.
  for (const key of ['passwordFile', 'credentialsDir']) {
    const value = flags[key];
    if (typeof value === 'string' && value !== '') merged[key] = resolve(cwd, value);
  }
  return merged;
}

function definedEntries(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
