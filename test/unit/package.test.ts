/**
 * What ships: `npm pack` holds only the service (the CLI, its build, the Envoy templates), and
 * the container image is built from exactly that package. A shipped template that names a
 * repository script (scripts/render-gateway.ts) says that the package does not hold it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';

const SHIPPED = /^(bin|dist|proto|envoy|schema)\/|^(package\.json|README\.md|LICENSE)$/;
const DEV_ONLY = /(^|\/)(devstack|test|tests|bench|examples|scripts)\//;

function packedFiles(): string[] {
  // --ignore-scripts: list what the package holds without prepack rebuilding dist/ under other tests.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  return (pack?.files ?? []).map((f) => f.path);
}

describe('npm pack', () => {
  const files = packedFiles();

  it('holds the CLI, its build and the Envoy templates', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/llm-authz.js',
        'dist/bundle/main.js',
        'dist/cli/main.js',
        'dist/pipeline/check.js',
        'dist/apis/index.js',
        'proto/envoy-api.json',
        'envoy/gateway.yaml',
        'package.json',
      ]),
    );
  });

  it('bin/llm-authz.js runs the bundle (scripts/bundle.ts), whose chunks are all packed with their source maps', () => {
    expect(readFileSync(path.join(ROOT, 'bin/llm-authz.js'), 'utf8')).toMatch(/from '\.\.\/dist\/bundle\/main\.js'/);
    const chunks = files.filter((f) => f.startsWith('dist/bundle/') && f.endsWith('.js'));
    expect(chunks.length).toBeGreaterThan(10);
    expect(files.filter((f) => f.startsWith('dist/bundle/') && !f.endsWith('.js') && !f.endsWith('.js.map'))).toEqual([]);
    // Every chunk of compiled code has its map (rolldown's own runtime chunk has no source).
    expect(chunks.filter((f) => !files.includes(`${f}.map`) && !/\/rolldown-runtime-[\w-]+\.js$/.test(f))).toEqual([]);
  });

  it('holds no dev-stack, test, bench, example or script file', () => {
    expect(files.filter((f) => !SHIPPED.test(f))).toEqual([]);
    expect(files.filter((f) => DEV_ONLY.test(f))).toEqual([]);
  });

  it('the check can fail: a dev-stack or test path is caught', () => {
    for (const f of ['devstack/stack.ts', 'dist/devstack/demo.js', 'test/unit/x.test.ts', 'bench/run.ts', 'examples/quickstart/llm-authz.yaml']) {
      expect(!SHIPPED.test(f) || DEV_ONLY.test(f), f).toBe(true);
    }
  });

  it('a shipped Envoy template that names a repository script says the package does not hold it', () => {
    const unshipped = (text: string): string[] => [...text.matchAll(/\bscripts\/[\w.-]+/g)].map((m) => m[0]).filter((f) => !files.includes(f));
    const saysSo = (text: string): boolean => /not in the npm package/.test(text);
    const templates = files.filter((f) => f.startsWith('envoy/') && f.endsWith('.yaml'));
    expect(templates.length).toBeGreaterThan(0);
    const naming = templates.filter((f) => unshipped(readFileSync(path.join(ROOT, f), 'utf8')).length > 0);
    expect(naming.length).toBeGreaterThan(0);
    expect(naming.filter((f) => !saysSo(readFileSync(path.join(ROOT, f), 'utf8')))).toEqual([]);
    // The check can fail: a comment that names the script alone is caught.
    const bare = '# `node scripts/render-gateway.ts --providers openai` leaves out what is not named\n';
    expect(unshipped(bare).length > 0 && !saysSo(bare)).toBe(true);
  });

  it('the shipped CLI imports nothing outside the package', () => {
    const imports = files
      .filter((f) => f.endsWith('.js'))
      .flatMap((f) =>
        [...readFileSync(path.join(ROOT, f), 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) =>
          path.normalize(path.join(path.dirname(f), m[1] ?? '')),
        ),
      );
    expect(imports.length).toBeGreaterThan(100);
    expect(imports.filter((p) => !files.includes(p))).toEqual([]);
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  const copies = (stage: string): string[][] => [...stage.matchAll(/^COPY\s+(.+)$/gm)].map((m) => (m[1] ?? '').trim().split(/\s+/));

  it('builds the image from the packed package: the build stage copies only what npm pack and its build read', () => {
    const build = stages[0] ?? '';
    expect(build).toMatch(/npm pack/);
    const sources = copies(build).flatMap((args) => args.slice(0, -1));
    const allowed = new Set([
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src',
      'bin',
      'proto',
      'envoy',
      'schema',
      'README.md',
      'scripts/bundle.ts',
    ]);
    expect(sources.filter((s) => !allowed.has(s))).toEqual([]);
  });

  it('the final stage copies only the unpacked package (with its production dependencies)', () => {
    const final = stages.at(-1) ?? '';
    expect(copies(final)).toEqual([['--from=build', '/app', './']]);
  });
});
