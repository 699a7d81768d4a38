/**
 * Backup names and where backups live in a profile's storage: `<group>-<profile>-<UTC time>`,
 * one folder per backup, the backup record `bloodraven.json` beside MySQL Shell's `@.json`.
 */

export const recordFileName = 'bloodraven.json';
export const doneMarkerName = '@.done.json';
/** The result of `verify`, saved beside the backup. */
export const verificationFileName = 'verification.json';

/** A restore's resume log, beside the dump: one per target server. */
export function loadProgressFileName(target: string): string {
  return `load-progress.${target}.json`;
}

/**
 * Whether a file in a backup's folder is one bloodraven keeps about the backup (record,
 * verification, restore progress) rather than part of the dump. They hold no row data, stay
 * readable when the backup is encrypted, and are left out of a decrypted copy.
 */
export function isBookkeepingFile(name: string): boolean {
  return name === recordFileName || name === verificationFileName || /^load-progress\..*\.json$/.test(name);
}

/** `20261121-211300`: UTC, second precision, lowercase-safe (usable in Kubernetes names). */
export function nameTimestamp(d: Date): string {
  const iso = d.toISOString(); // 2026-11-21T21:13:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

export function backupName(group: string, profile: string, startedAt: Date): string {
  return `${group}-${profile}-${nameTimestamp(startedAt)}`;
}

/** The folder key of a backup inside its profile's store. */
export function backupPrefix(name: string): string {
  return `${name}/`;
}

/** A host name made into a group name: lowercase letters, digits and '-', at most 63. */
export function groupFromHostname(hostname: string): string {
  const cleaned = hostname
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return cleaned || 'mysql';
}
