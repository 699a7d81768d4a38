/**
 * The one place real collaborators are built from configuration. Commands and the daemon call
 * createDeps(); tests build the same shapes around their own servers.
 */
import { systemClock, type Clock } from './clock.js';
import type { LoadedConfig } from './config/load.js';
import type { Profile } from './config/schema.js';
import { resolveMysqlCredentials } from './config/mysql-credentials.js';
import type { Logger } from './log.js';
import { createMysqlConnector, type MysqlConnector } from './mysql/connection.js';
import { resolve } from 'node:path';
import { profileKeys, type ProfileKeys } from './crypto/keys.js';
import { fileModes, type FileModes } from './file-modes.js';
import { nodeProcessRunner } from './process.js';
import { createStore } from './storage/create-store.js';
import type { ObjectStore } from './storage/object-store.js';

export interface Deps {
  connector: MysqlConnector;
  store: ObjectStore;
  /** The profile's encryption key (read when needed). */
  keys: ProfileKeys;
  logger: Logger;
  clock: Clock;
}

export interface CreateDepsOptions {
  logger: Logger;
  clock?: Clock;
  promptPassword?: (question: string) => Promise<string>;
}

export async function createDeps(loaded: LoadedConfig, options: CreateDepsOptions): Promise<Deps> {
  const connector = await createConnector(loaded, options.promptPassword);
  const store = await createProfileStore(loaded, loaded.profile, options.logger);
  return { connector, store, keys: createProfileKeys(loaded, loaded.profile, store), logger: options.logger, clock: options.clock ?? systemClock };
}

/** The connector for the configured server, its account read from files (or a prompt). */
export async function createConnector(loaded: LoadedConfig, promptPassword?: (question: string) => Promise<string>): Promise<MysqlConnector> {
  const { config, baseDir } = loaded;
  const credentials = await resolveMysqlCredentials(config.mysql, { baseDir, fieldName: loaded.fieldName, ...(promptPassword ? { promptPassword } : {}) });
  return createMysqlConnector({
    ...(config.mysql.socket ? { socket: config.mysql.socket } : { host: config.mysql.host ?? '127.0.0.1', port: config.mysql.port ?? 3306 }),
    user: credentials.user,
    password: credentials.password,
    passwordSource: credentials.passwordSource,
    connectTimeoutMs: config.mysql.connectTimeoutSeconds * 1000,
    unresponsiveTimeoutMs: config.mysql.unresponsiveTimeout * 1000,
    settingNames: {
      address: config.mysql.socket ? loaded.fieldName('mysql.socket') : `${loaded.fieldName('mysql.host')}/${loaded.fieldName('mysql.port')}`,
      account: config.mysql.credentialsDir ? loaded.fieldName('mysql.credentialsDir') : `${loaded.fieldName('mysql.user')} + ${loaded.fieldName('mysql.passwordFile')}`,
      unresponsiveTimeout: loaded.fieldName('mysql.unresponsiveTimeout'),
      connectTimeout: loaded.fieldName('mysql.connectTimeoutSeconds'),
    },
  });
}

/** The storage of a profile (for commands that need no database: list, prune, status). */
export function createProfileStore(loaded: LoadedConfig, profile: Profile, logger: Logger): Promise<ObjectStore> {
  const index = loaded.config.backup.profiles.indexOf(profile);
  return createStore(profile.storage, {
    configDir: loaded.baseDir,
    logger,
    configPath: `backup.profiles[${index}].storage`,
    runner: nodeProcessRunner,
    modes: configFileModes(loaded),
  });
}

/** The modes of the folders and files bloodraven creates, from the config's `umask` (default 0700/0600). */
export function configFileModes(loaded: LoadedConfig): FileModes {
  return fileModes(loaded.config.umask);
}

/** The profile's encryption key, from its passphrase file (relative to the config file). */
export function createProfileKeys(loaded: LoadedConfig, profile: Profile, store: ObjectStore): ProfileKeys {
  const index = loaded.config.backup.profiles.indexOf(profile);
  const file = profile.encryption?.passphraseFile;
  return profileKeys(store, file === undefined ? undefined : resolve(loaded.baseDir, file), `backup.profiles[${index}].encryption.passphraseFile`);
}
