/**
 * Reads a Dockerfile and a .dockerignore well enough to check them statically, since nothing on
 * these machines can build an image. Covers the syntax our own files use: comments, parser
 * directives, backslash continuations, global ARGs, stages, exec (JSON) and shell forms. Heredocs
 * and a changed escape character are not handled (our Dockerfile has neither).
 */

/** One instruction; `args` is everything after the keyword, continuations joined with a space. */
export interface DockerInstruction {
  readonly keyword: string;
  readonly args: string;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

/** A build stage: its FROM image (ARGs not substituted), its `AS` name, its instructions. */
export interface DockerStage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: readonly DockerInstruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM, with their defaults (undefined when none). */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
  readonly stages: readonly DockerStage[];
}

/** Parses `text`; throws on an instruction before the first FROM other than ARG. */
export function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string | undefined>();
  const stages: { from: string; name?: string; instructions: DockerInstruction[] }[] = [];
  for (const instruction of instructions(text)) {
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      stages.push(as?.toUpperCase() === 'AS' && name ? { from, name, instructions: [] } : { from, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage) stage.instructions.push(instruction);
    else if (instruction.keyword === 'ARG') {
      const [key = '', value] = splitOnce(instruction.args, /=/);
      globalArgs.set(key, value);
    } else throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
  }
  return { globalArgs, stages };
}

/** The exec form's words (`["a", "b"]`), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trimStart().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === 'string')) throw new Error(`not a JSON array of strings: ${args}`);
  return parsed;
}

/** KEY=value pairs of an ENV instruction (unquoted values only, as ours are). */
export function envPairs(args: string): Map<string, string> {
  return new Map(
    args.split(/\s+/).map((pair) => {
      const [key, value] = splitOnce(pair, /=/);
      return [key, value ?? ''];
    }),
  );
}

/**
 * Whether `path` (relative to the build context, "/"-separated) is sent to the builder under
 * these .dockerignore lines: the last matching pattern decides, "!" re-includes. Supports the
 * forms our file uses — a lone "*" and plain names (which cover everything beneath them) — and
 * throws on any other glob so that a check never passes by misreading a pattern.
 */
export function inBuildContext(dockerignore: string, path: string): boolean {
  let included = true;
  for (const raw of dockerignore.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    if (pattern !== '*' && /[*?[\]\\]/.test(pattern)) throw new Error(`.dockerignore pattern not supported by this check: ${line}`);
    const matches = pattern === '*' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) included = negated;
  }
  return included;
}

function* instructions(text: string): Generator<DockerInstruction> {
  const lines = text.split('\n');
  let pending: { line: number; parts: string[] } | undefined;
  for (const [index, raw] of lines.entries()) {
    const trimmed = raw.trim();
    // Comment lines are dropped, inside a continuation too (as BuildKit does).
    if (trimmed.startsWith('#')) continue;
    if (!pending && trimmed === '') continue;
    const continues = trimmed.endsWith('\\');
    const part = continues ? trimmed.slice(0, -1).trim() : trimmed;
    if (pending) pending.parts.push(part);
    else pending = { line: index + 1, parts: [part] };
    if (continues) continue;
    const joined = pending.parts.filter((p) => p !== '').join(' ');
    const [keyword = '', args = ''] = splitOnce(joined, /\s+/);
    yield { keyword: keyword.toUpperCase(), args, line: pending.line };
    pending = undefined;
  }
  if (pending) throw new Error(`line ${pending.line}: the file ends inside a continuation`);
}

/** `text` cut at the first match of `separator`: [before, after], or [text, undefined] without one. */
function splitOnce(text: string, separator: RegExp): [string, string | undefined] {
  const match = separator.exec(text);
  return match ? [text.slice(0, match.index), text.slice(match.index + match[0].length)] : [text, undefined];
}
