/** The JSON documents kept in storage (storage/json.ts): absent, round trip, and damaged. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/lib/errors.js';
import { readJson, writeJson } from '../../src/lib/storage/json.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';

let root: string;
let store: ObjectStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bloodraven-json-'));
  store = createFsStore({ root });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('stored JSON', () => {
  it('reads an absent document as null', async () => {
    expect(await readJson(store, 'binlogs/manifest-nowhere.json')).toBeNull();
  });

  it('round-trips, pretty-printed with a final newline', async () => {
    await writeJson(store, 'a/doc.json', { keyId: 'k', n: [1, 2] });
    expect(await readJson(store, 'a/doc.json')).toEqual({ keyId: 'k', n: [1, 2] });
    expect((await store.get('a/doc.json')).toString()).toBe('{\n  "keyId": "k",\n  "n": [\n    1,\n    2\n  ]\n}\n');
  });

  it('names a damaged document instead of throwing a bare SyntaxError', async () => {
    await writeFile(join(root, 'encryption.json'), '{"keyId": "k", "kdf": {');
    const err = await readJson(store, 'encryption.json').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('STORED_FILE_UNREADABLE');
    expect((err as AppError).message).toContain(`${root}/encryption.json is not valid JSON`);
  });
});
