/**
 * Starts a worker thread on a module of this package. Built, the module is the compiled
 * `dist/…/x.js` beside the caller. Run from source (the tests, through vitest), the caller is a
 * `.ts` file and there is no `.js` beside it: the worker then runs the TypeScript file itself,
 * with Node's own type transform and a resolve hook that maps the sources' `./x.js` imports to
 * `./x.ts`, so the tests exercise the same code the CLI runs.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * In a worker run from source: `./x.js` and `../x.js` imported from a `.ts` file resolve to the
 * `.ts` file when no `.js` exists (tsc's NodeNext convention, which Node itself does not follow).
 */
const sourceResolveHook = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, next) {
    if (/^\\.\\.?\\//.test(specifier) && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      try {
        return next(specifier, context);
      } catch {
        return next(specifier.slice(0, -3) + '.ts', context);
      }
    }
    return next(specifier, context);
  },
});
`;

/**
 * A Worker on `relativePath` (written as the compiled file, `./x.js`) resolved against
 * `callerUrl` (the caller's `import.meta.url`).
 */
export function startWorker(callerUrl: string, relativePath: string, options: WorkerOptions = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(relativePath, callerUrl), options);
  const source = new URL(relativePath.replace(/\.js$/, '.ts'), callerUrl);
  const execArgv = [
    ...(options.execArgv ?? []),
    '--experimental-transform-types',
    '--disable-warning=ExperimentalWarning',
    '--import',
    `data:text/javascript,${encodeURIComponent(sourceResolveHook)}`,
  ];
  return new Worker(source, { ...options, execArgv });
}
