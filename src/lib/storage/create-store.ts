/** Builds the ObjectStore a profile's validated `storage:` block describes. */
import path from 'node:path';
import { readAwsCredentialsDir } from '../config/aws-credentials.js';
import type { StorageConfig } from '../config/schema.js';
import type { FileModes } from '../file-modes.js';
import type { Logger } from '../log.js';
import type { ProcessRunner } from '../process.js';
import { createFsStore } from './fs-store.js';
import type { ObjectStore } from './object-store.js';

export interface CreateStoreOptions {
  /** The folder of the configuration file: relative paths in the config are relative to it. */
  configDir: string;
  logger?: Logger;
  /** Where the storage block sits in the configuration (e.g. `backup.profiles[0].storage`), for error messages. */
  configPath?: string;
  /** For a PVC store: runs `sync --file-system`, so that a dump's files are synced at once, not one by one. */
  runner?: ProcessRunner;
  /** For a PVC store: the modes of the folders and files it creates (the config's `umask`); default 0700/0600. */
  modes?: FileModes;
}

export async function createStore(storage: StorageConfig, options: CreateStoreOptions): Promise<ObjectStore> {
  const configPath = options.configPath ?? 'storage';
  switch (storage.type) {
    case 'PVC':
      // A flag (`--from`) names the folder itself; a config block names it in its pvc.path field.
      return createFsStore({
        root: path.resolve(options.configDir, storage.pvc.path),
        configField: configPath.startsWith('--') ? configPath : `${configPath}.pvc.path`,
        ...(options.runner ? { runner: options.runner } : {}),
        ...(options.modes ? { modes: options.modes } : {}),
      });
    case 'S3': {
      const s3 = storage.s3;
      let credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
      let credentialsSource: string | undefined;
      let region = s3.region;
      if (s3.credentialsDir !== undefined) {
        const dir = path.resolve(options.configDir, s3.credentialsDir);
        const found = await readAwsCredentialsDir(dir, { configPath: `${configPath}.s3.credentialsDir` });
        credentials = {
          accessKeyId: found.accessKeyId,
          secretAccessKey: found.secretAccessKey,
          ...(found.sessionToken === undefined ? {} : { sessionToken: found.sessionToken }),
        };
        credentialsSource = `access key ${found.accessKeyId} from ${dir}`;
        region ??= found.region;
      }
      // Loaded only for S3 profiles: the AWS SDK is about a third of a PVC run's resident memory.
      const { createS3Store, defaultS3RetryTimeoutSeconds } = await import('./s3-store.js');
      return createS3Store({
        bucket: s3.bucket,
        prefix: s3.prefix,
        partSize: s3.partSize,
        retry: { budgetMs: (s3.retryTimeout ?? defaultS3RetryTimeoutSeconds) * 1000 },
        retryTimeoutField: configPath.startsWith('--') ? 'storage.s3.retryTimeout of the profile' : `${configPath}.s3.retryTimeout`,
        ...(region === undefined ? {} : { region }),
        ...(s3.endpointURL === undefined ? {} : { endpointURL: s3.endpointURL }),
        ...(credentials === undefined ? {} : { credentials, credentialsSource }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    }
  }
}
