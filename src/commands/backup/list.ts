import { BaseCommand } from '../../cli/base-command.js';
import { age, durationOf, listedBackup, sizeOf, verificationLabel, type ListedBackup } from '../../cli/catalog-view.js';
import { renderTable } from '../../cli/table.js';
import { listBackups } from '../../lib/catalog/catalog.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { createProfileStore } from '../../lib/deps.js';

export default class BackupList extends BaseCommand {
  static override summary = "List the backups in a profile's storage, newest first.";

  static override description = `Reads the catalog kept in the profile's storage itself: every attempt's record. A backup is Succeeded only when its dump is complete (@.done.json); a Running record whose process is gone, or a dump that never finished, is listed as Failed with the reason.

VERIFIED is how the backup's last verification (bloodraven verify, or the daemon's scheduled verification) ended: yes (it passed), FAILED (a file, object or table did not match, or the restore failed), or no (never verified).

SIZE is a backup's size; for a failed one, what its folder still holds ("0 B left" once a failed backup removed its data, more where a killed run left files: deleting the folder frees them).

With --json: an array of the backup records, newest first, each with its real phase, failureReason, verified (true when its last verification passed), verification ("passed", "failed" or null), verifiedAt (when it last ran, or null), and heldBytes (the bytes its folder holds now, its record aside).

A PVC storage path that does not exist, or is a file, is an error naming the path and its config field (backup.profiles[N].storage.pvc.path), never "No backups": a missing folder is most often a mistyped path (backup now creates it with the profile's first backup).

Exit codes: 0 listed, 1 the storage could not be read, 2 bad usage or configuration.`;

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --profile offsite --json'];

  static override enableJsonFlag = true;

  async run(): Promise<ListedBackup[]> {
    const { flags } = await this.parse(BackupList);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const store = await createProfileStore(loaded, loaded.profile, this.logger);
    const now = new Date();
    const entries = await listBackups(store, { now, signal: this.interrupt.signal });
    if (!this.jsonEnabled()) {
      if (entries.length === 0) process.stdout.write(`No backups in ${store.location}\n`);
      else {
        process.stdout.write(`Backups of profile ${loaded.profile.name} in ${store.location}\n`);
        process.stdout.write(
          renderTable(
            ['NAME', 'PHASE', 'STARTED', 'DURATION', 'SIZE', 'VERIFIED'],
            entries.map((e) => [e.name, e.phase, age(e.startedAt, now), durationOf(e), sizeOf(e), verificationLabel(e.verification)]),
          ),
        );
        for (const e of entries.filter((x) => x.failure)) process.stdout.write(`  ${e.name}: ${e.failure ?? ''}\n`);
      }
    }
    return entries.map(listedBackup);
  }
}
