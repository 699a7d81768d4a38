/**
 * writeFileAtomically (status --html): a regular file is replaced whole; anything else in the way
 * (a symbolic link, a device, a folder) is refused and left as it was, and so are an empty path
 * and a path ending in a slash.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomically } from '../../src/lib/atomic-file.js';
import { privateModes } from '../../src/lib/file-modes.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bloodraven-atomic-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomically', () => {
  it('replaces a regular file whole, 0600', async () => {
    const file = join(dir, 'page.html');
    await writeFile(file, 'old');
    await writeFileAtomically(file, 'new', privateModes);
    expect(await readFile(file, 'utf8')).toBe('new');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('refuses a symbolic link, a pipe and a folder in the way, leaving each as it was', async () => {
    const target = join(dir, 'target.txt');
    await writeFile(target, 'keep');
    const link = join(dir, 'link.html');
    await symlink(target, link);
    await expect(writeFileAtomically(link, 'x', privateModes)).rejects.toThrow(`cannot write ${link}: it is a symbolic link, which is never replaced`);
    expect(await readlink(link)).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('keep');

    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(writeFileAtomically(fifo, 'x', privateModes)).rejects.toThrow(/it is not a regular file \(a device, a pipe or a socket\)/);
    expect((await stat(fifo)).isFIFO()).toBe(true);

    const folder = join(dir, 'folder');
    await mkdir(folder);
    await expect(writeFileAtomically(folder, 'x', privateModes)).rejects.toThrow(/it is a folder, which is never replaced/);
  });

  it('says a folder that exists but takes no new file (/proc) does, not that it is missing', async () => {
    await expect(writeFileAtomically('/proc/bloodraven-status.html', 'x', privateModes)).rejects.toThrow('cannot write /proc/bloodraven-status.html: files cannot be created in /proc');
  });

  it('refuses an empty path and one ending in a slash, saying what it wants', async () => {
    await expect(writeFileAtomically('', 'x', privateModes)).rejects.toThrow('cannot write "": give the path of a file');
    await expect(writeFileAtomically(`${dir}/`, 'x', privateModes)).rejects.toThrow(`cannot write "${dir}/": give the path of a file, not a folder`);
  });
});
