/** The --stop-datetime / --exclude-gtids flags of the restore commands, and what they set up. */
import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import type { KeyEncryptionKey } from '../lib/crypto/keys.js';
import type { ObjectStore } from '../lib/storage/object-store.js';
import { parseGtid } from '../lib/pitr/gtid-space.js';
import { planFromStorage, type PitrLineKind, type PointInTimeRequest } from '../lib/pitr/point-in-time.js';
import { parseTargetTime } from '../lib/pitr/target-time.js';
import { nodeProcessRunner } from '../lib/process.js';

export const pointInTimeFlags = {
  'stop-datetime': Flags.string({
    description: 'Restore to this time: RFC 3339 (with or without a zone) or YYYY-MM-DD HH:MM:SS (UTC). Loads the newest complete backup whose proven coverage holds it (bloodraven pitr window), then replays the archived binlogs up to it; a time no backup covers is refused (exit 3).',
    helpGroup: 'POINT IN TIME',
  }),
  'exclude-gtids': Flags.string({
    multiple: true,
    description: 'Leave these transactions out of the replay (GTIDs, comma-separated or repeated).',
    dependsOn: ['stop-datetime'],
    helpGroup: 'POINT IN TIME',
  }),
  'binlogs-dir': Flags.string({
    description:
      'Replay the binlogs bloodraven pitr download put in this folder (<dir>/<site>/<file>) instead of fetching them; each is checked against the archive manifest (size, SHA-256) first, and a missing or different one refuses the restore (exit 3) with nothing changed.',
    dependsOn: ['stop-datetime'],
    helpGroup: 'POINT IN TIME',
  }),
};

/** Prints a BLOODRAVEN_PITR_* line: on stdout, or on stderr when stdout holds JSON. */
export function pitrLinePrinter(json: boolean): (kind: PitrLineKind, fields: Record<string, unknown>) => void {
  return (kind, fields) => (json ? process.stderr : process.stdout).write(`BLOODRAVEN_PITR_${kind} ${JSON.stringify(fields)}\n`);
}

/**
 * The plan of a point-in-time restore, made (and refused when out of reach) before anything is
 * touched. `backup` narrows the choice of dump to that backup.
 */
export async function pointInTimeRequest(
  flags: { 'stop-datetime'?: string | undefined; 'exclude-gtids'?: string[] | undefined; 'binlogs-dir'?: string | undefined },
  archive: { store: ObjectStore; kek: KeyEncryptionKey | null },
  backup: string | undefined,
  json: boolean,
  signal: AbortSignal,
): Promise<PointInTimeRequest | undefined> {
  if (flags['stop-datetime'] === undefined) return undefined;
  const { store, kek } = archive;
  const target = parseTargetTime(flags['stop-datetime']);
  const exclude = (flags['exclude-gtids'] ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean).map(parseGtid);
  const plan = await planFromStorage(store, target, backup === 'latest' ? undefined : backup, signal);
  const binlogsDir = flags['binlogs-dir'] === undefined ? {} : { binlogsDir: resolve(flags['binlogs-dir']) };
  return { target, exclude, store, kek, runner: nodeProcessRunner, plan, onLine: pitrLinePrinter(json), ...binlogsDir };
}
