import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { resolveBackup } from '../../lib/catalog/catalog.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { decryptBackup, type DecryptResult } from '../../lib/crypto/decrypt-backup.js';
import { configFileModes, createProfileKeys, createProfileStore } from '../../lib/deps.js';
import { formatBytes } from '../../lib/sizes.js';
import { createFsStore } from '../../lib/storage/fs-store.js';

export default class BackupDecrypt extends BaseCommand {
  static override summary = 'Write an encrypted backup out as a plain MySQL Shell dump.';

  static override description = `Reads every file of an encrypted backup of the profile through its data key (unwrapped with the profile's encryption.passphraseFile), checks each one's authentication, and writes the plain dump into --to: a dump in MySQL Shell's layout that stock util.loadDump() can load. bloodraven's own files (the record, verification and restore progress) are left out. @.done.json is written last; if a file fails, what was written is removed again.

The plain copy holds the whole database in clear: keep it where the backup's encryption is not needed.

Exit codes: 0 written, 1 a file failed authentication (it is named), 2 bad usage or configuration, 3 refused (wrong passphrase, not encrypted, not complete, --to not empty), 130 interrupted (Ctrl-C or SIGTERM).`;

  static override examples = ['<%= config.bin %> <%= command.id %> --backup latest --to ./plain-dump', '<%= config.bin %> <%= command.id %> --backup orders-nightly-20260416-020000 --to /restore/dump'];

  static override enableJsonFlag = true;

  static override flags = {
    backup: Flags.string({ description: 'The backup to decrypt: a name, or latest.', required: true }),
    to: Flags.string({ description: 'A new or empty folder for the plain dump.', required: true }),
  };

  async run(): Promise<DecryptResult> {
    const { flags } = await this.parse(BackupDecrypt);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const store = await createProfileStore(loaded, loaded.profile, this.logger);
    const kek = await createProfileKeys(loaded, loaded.profile, store).forReading();
    const entry = await resolveBackup(store, flags.backup, { signal: this.interrupt.signal });
    const path = resolve(flags.to);
    const result = await decryptBackup({ store, kek, logger: this.logger }, entry, { store: createFsStore({ root: path, modes: configFileModes(loaded) }), path }, { signal: this.interrupt.signal });
    if (!this.jsonEnabled()) process.stdout.write(`Decrypted ${result.backup}: ${result.files} files, ${formatBytes(result.bytes)}, into ${result.destination}\n`);
    return result;
  }
}
