/** What the pitr commands share: the archive's profile and its storage. */
import type { LoadedConfig } from '../lib/config/load.js';
import type { PitrConfig, Profile } from '../lib/config/schema.js';
import { selectProfile } from '../lib/config/load.js';
import type { ProfileKeys } from '../lib/crypto/keys.js';
import { createProfileKeys, createProfileStore } from '../lib/deps.js';
import { ConfigError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { ObjectStore } from '../lib/storage/object-store.js';

export interface PitrContext {
  config: PitrConfig;
  profile: Profile;
  store: ObjectStore;
  /** The profile's encryption key: the archive is encrypted when the profile is. */
  keys: ProfileKeys;
}

/**
 * The archive lives in backup.pitr.profileName's storage. `--profile` may name it too; without a
 * pitr block, the archive of the selected profile is read (for window and download).
 */
export async function pitrContext(loaded: LoadedConfig, profileFlag: string | undefined, logger: Logger, requireConfig: boolean): Promise<PitrContext> {
  const pitr = loaded.config.backup.pitr;
  if (!pitr && requireConfig) {
    throw new ConfigError([{ path: 'backup.pitr', message: 'point-in-time recovery is not configured: add backup.pitr { enabled: true, profileName: <profile> }' }]);
  }
  const profile = selectProfile(loaded.config, profileFlag ?? pitr?.profileName);
  const config: PitrConfig = pitr ?? { enabled: false, profileName: profile.name, archivePollInterval: 60, source: { type: 'local' } };
  const store = await createProfileStore(loaded, profile, logger);
  return { config, profile, store, keys: createProfileKeys(loaded, profile, store) };
}
