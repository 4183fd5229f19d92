/**
 * The CLI as shipped: dist/bundle/, one minified ES module per command (rolldown; each command's
 * code loads when it runs, as from dist/cli/main.js), built from tsc's dist/ by `npm run build`.
 * bin/llm-authz.js runs it. Against dist/cli/main.js, serve's idle RSS with the benchmark config
 * was about 8 MiB smaller (bench/idle-rss.ts): one module instead of about 880 (their source,
 * kept by V8 for lazy compilation, minified; no module records; no path resolution per module,
 * which was hot enough at start to bring in V8's optimising compiler).
 *
 * The dependencies stay installed (node_modules): some read files next to their own code (the
 * health and channelz .proto files, pino's transport workers), so in the bundle `__dirname` and
 * `__filename` of a package's module are its own directory and file in node_modules, found at
 * run time; and `require` is defined in each chunk, for the modules that look up optional
 * dependencies through `eval('require')` (protobufjs finds `long` and `buffer` that way).
 *   node scripts/bundle.ts
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'rolldown';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE_DIR = 'dist/bundle';

/** At the top of each chunk: `require`, and where a package's module lives in node_modules. */
const BANNER = `import { createRequire as __llaCreateRequire } from 'node:module';
const require = __llaCreateRequire(import.meta.url);
function __llaPackagePath(pkg, file) {
  const main = require.resolve(pkg);
  const at = main.lastIndexOf('/node_modules/' + pkg + '/');
  if (at < 0) throw new Error('llm-authz: ' + pkg + ' is not in a node_modules directory');
  return main.slice(0, at + 15 + pkg.length) + '/' + file;
}`;

/** `__dirname` and `__filename` in a dependency's module: its place in node_modules, at run time. */
function packagePaths(): Plugin {
  return {
    name: 'package-paths',
    transform(code, id) {
      if (!code.includes('__dirname') && !code.includes('__filename')) return null;
      const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(id);
      if (m === null) return null;
      const [, pkg, file] = m as unknown as [string, string, string];
      const dir = path.posix.dirname(file);
      // On the module's first line, so the source map's lines stay right.
      return `var __dirname = __llaPackagePath(${JSON.stringify(pkg)}, ${JSON.stringify(dir)}), __filename = __llaPackagePath(${JSON.stringify(pkg)}, ${JSON.stringify(file)}); ${code}`;
    },
  };
}

export async function bundle(): Promise<void> {
  await bundleEntries(path.join(ROOT, 'dist/cli/main.js'), path.join(ROOT, BUNDLE_DIR));
}

/**
 * Entry modules bundled as the CLI is, into `out` (emptied first). `out` must be inside the
 * project: the chunks find the dependencies' own files in its node_modules at run time.
 */
export async function bundleEntries(input: string | Record<string, string>, out: string): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  await build({
    input,
    platform: 'node',
    plugins: [packagePaths()],
    logLevel: 'warn',
    // The plugin above edits dependencies' modules within their lines (no line added or
    // removed), so the source maps keep every line; only columns on the edited lines move.
    onLog(level, log, handler) {
      if (log.code !== 'SOURCEMAP_BROKEN') handler(level, log);
    },
    // Minified: about 1.5 MiB less idle RSS than with names kept, 3 MiB less than unminified (V8
    // keeps the source for lazy compilation). The maps (dist/bundle/*.map, not read unless Node
    // runs with --enable-source-maps) turn a stack trace back into src/ lines.
    output: { dir: out, format: 'esm', minify: true, sourcemap: true, postBanner: BANNER },
  });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  await bundle();
  process.stdout.write(`${BUNDLE_DIR}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
