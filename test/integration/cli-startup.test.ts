/**
 * What the built CLI answers without running a command (issue 12, start-up): `--version`, `--help`
 * and each topic's and command's `--help`, read from the oclif.manifest.json `npm run build`
 * writes, so no command module is imported for them. Checked here: the answers are right (every
 * command in src/commands listed), no command module is loaded for them, and the manifest matches
 * the built commands (scripts/gen-manifest.js --check, which also catches a stale copy); and where
 * bin/run.js keeps Node's compiled-code cache. The time
 * these take is measured by `npm run bench -- --only startup`, not asserted.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBin } from '../support/cli.js';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; oclif: { topics: Record<string, { description: string }> } };

/** Command ids from the source tree, as oclif names them: src/commands/backup/list.ts is `backup list`. */
function sourceCommands(dir = join(root, 'src', 'commands'), prefix: string[] = []): string[][] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceCommands(join(dir, e.name), [...prefix, e.name]) : e.name.endsWith('.ts') ? [[...prefix, e.name.slice(0, -'.ts'.length)]] : [],
  );
}
const commands = sourceCommands();
const topLevel = commands.filter((c) => c.length === 1).map((c) => c[0] ?? '');
const topics = [...new Set(commands.filter((c) => c.length > 1).map((c) => c[0] ?? ''))];

// Loaded before bin/run.js: reports every module under dist/commands that Node loads.
const reportCommandImports = `data:text/javascript,${encodeURIComponent(
  `import { registerHooks } from 'node:module';
registerHooks({ load(url, context, next) { if (url.includes('/dist/commands/')) process.stderr.write('imported ' + url + '\\n'); return next(url, context); } });`,
)}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI with `nodeArgs` before bin/run.js (a command run by Node's own flags). */
function run(args: string[], nodeArgs: string[] = [], command = [cliBin], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...nodeArgs, ...command, ...args], { cwd: root, encoding: 'utf8', env }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

/** The lines of a help section (`TOPICS`, `COMMANDS`, ...) whose names start at column 3. */
function sectionNames(help: string, heading: string): string[] {
  const section = new RegExp(`^${heading}\\n((?:  .*\\n?|\\n(?=  ))*)`, 'm').exec(help)?.[1] ?? '';
  return [...section.matchAll(/^ {2}(\S+(?: \S+)*?)(?: {2,}|$)/gm)].map((m) => m[1] ?? '');
}

describe('the built CLI without running a command', () => {
  it('answers --version with its name, package version, platform and Node', async () => {
    const r = await run(['--version']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`bloodraven/${pkg.version} ${process.platform}-${process.arch} node-${process.version}`);
  });

  it('lists every topic and every top-level command of src/commands in --help, with the topics’ descriptions', async () => {
    expect(topics.length).toBeGreaterThan(3);
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(sectionNames(r.stdout, 'TOPICS').sort()).toEqual([...topics].sort());
    expect(sectionNames(r.stdout, 'COMMANDS').sort()).toEqual([...topLevel].sort());
    for (const [topic, { description }] of Object.entries(pkg.oclif.topics)) {
      expect(topics, `package.json names topic ${topic}`).toContain(topic);
      // Help wraps at 80 columns: compare the first words.
      expect(r.stdout, topic).toContain(description.split(' ').slice(0, 5).join(' '));
    }
  });

  it('lists each topic’s commands in `<topic> --help`, and shows each command’s usage in `<command> --help`', async () => {
    for (const topic of topics) {
      const r = await run([topic, '--help']);
      expect(r.code, topic).toBe(0);
      const listed = sectionNames(r.stdout, 'COMMANDS');
      const expected = commands.filter((c) => c.length > 1 && c[0] === topic).map((c) => c.join(' '));
      expect(listed.filter((l) => l.startsWith(`${topic} `)).sort(), topic).toEqual(expected.sort());
    }
    const helps = await Promise.all(commands.map((c) => run([...c, '--help'])));
    helps.forEach((r, i) => {
      const id = commands[i]?.join(' ') ?? '';
      expect(r.code, id).toBe(0);
      expect(r.stdout, id).toMatch(new RegExp(`^USAGE\\n {2}\\$ bloodraven ${id}( |$)`, 'm'));
    });
  });

  it('imports no command module for --version, --help and a command’s --help, and does import one to run it', async () => {
    for (const args of [['--version'], ['--help'], ['backup', '--help'], ['backup', 'list', '--help']]) {
      const r = await run(args, ['--import', reportCommandImports]);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stderr, args.join(' ')).not.toMatch(/^imported /m);
    }
    // The hook does see a command when one runs (here refused for its missing config).
    const ran = await run(['backup', 'list', '--config', join(root, 'no-such-config.yaml')], ['--import', reportCommandImports]);
    expect(ran.stderr).toMatch(/^imported file:.*\/dist\/commands\/backup\/list\.js$/m);
  });
});

describe('the compiled-code cache of bin/run.js', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'bloodraven-home-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });
  const env = (vars: Record<string, string>): NodeJS.ProcessEnv => {
    const { NODE_COMPILE_CACHE: _cache, XDG_CACHE_HOME: _xdg, HOME: _home, ...rest } = process.env;
    return { ...rest, ...vars };
  };

  it('is kept in the user’s cache folder (XDG_CACHE_HOME, else ~/.cache), and never creates a missing HOME', async () => {
    expect((await run(['--version'], [], [cliBin], env({ HOME: home }))).code).toBe(0);
    const cached = await readdir(join(home, '.cache', 'bloodraven', 'node-compile-cache'));
    // One folder per Node version and flags, holding the compiled modules.
    expect(cached.length).toBe(1);
    expect((await readdir(join(home, '.cache', 'bloodraven', 'node-compile-cache', cached[0] ?? ''))).length).toBeGreaterThan(20);

    const xdg = join(home, 'xdg');
    await mkdir(xdg);
    expect((await run(['--version'], [], [cliBin], env({ HOME: home, XDG_CACHE_HOME: xdg }))).code).toBe(0);
    expect(await readdir(join(xdg, 'bloodraven'))).toEqual(['node-compile-cache']);

    const missing = join(home, 'no-such-home');
    const r = await run(['--version'], [], [cliBin], env({ HOME: missing }));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^bloodraven\//);
    expect(existsSync(missing)).toBe(false);
  });
});

describe('oclif.manifest.json', () => {
  const check = join(root, 'scripts', 'gen-manifest.js');
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'bloodraven-manifest-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('holds exactly the commands of src/commands, as the build wrote them', async () => {
    const manifest = JSON.parse(await readFile(join(root, 'oclif.manifest.json'), 'utf8')) as { version: string; commands: Record<string, unknown> };
    expect(manifest.version).toBe(pkg.version);
    expect(Object.keys(manifest.commands).sort()).toEqual(commands.map((c) => c.join(':')).sort());
    const r = await run(['--check'], [], [check]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('is reported stale when a command is missing or its flags differ from the built command', async () => {
    const manifest = JSON.parse(await readFile(join(root, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, { flags: Record<string, { description?: string }> }>;
    };
    delete manifest.commands.prune;
    const list = manifest.commands['backup:list'];
    expect(list?.flags.profile).toBeDefined();
    if (list?.flags.profile) list.flags.profile.description = 'an older description';
    const stale = join(work, 'oclif.manifest.json');
    await writeFile(stale, JSON.stringify(manifest));
    const r = await run(['--check', stale], [], [check]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('prune: missing');
    expect(r.stderr).toContain('backup:list: differs from the built command');
    expect(r.stderr).not.toContain('backup:now');
  });
});
