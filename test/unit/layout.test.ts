/**
 * The folder tree reads top to bottom (README "Architecture"): each folder of src/ imports only
 * from the folders below it, and nothing shipped imports the dev stack, tests or benchmarks.
 * (Import cycles between files are checked by `npm run cycles`, in the test command.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';

/** The folders of src/, bottom first; a folder may import from itself and the folders before it. */
const LAYERS = [
  'core',
  'apis',
  'telemetry',
  'envoy',
  'providers',
  'config',
  'identity',
  'llm',
  'policy',
  'quota',
  'audit',
  'inventory',
  'pipeline',
  'server',
  'inject',
  'cli',
] as const;

/** Imports that point upwards on purpose, with the reason. */
const ALLOWED_UP: ReadonlyMap<string, string> = new Map([
  // The config schema is composed of each area's own schema section.
  ['config/schema.ts -> identity', 'the identity section of the config schema'],
  ['config/schema.ts -> policy', 'the policy section of the config schema'],
  ['config/schema.ts -> quota', 'the quotas section of the config schema'],
  ['config/load.ts -> quota', 'quota names and CEL subject keys checked at load, with their positions'],
  // The request context is read by every phase; the response is written from the decision.
  ['envoy/response.ts -> policy', 'the decision obligations the response carries out'],
  ['envoy/response.ts -> providers', 'the provider runtime whose credential is attached'],
]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)[^'"]*from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) => path.resolve(path.dirname(file), m[1] ?? ''));
}

const SRC = path.join(ROOT, 'src');

/** Every import of src/ that goes to a higher folder, as `folder/file.ts -> folder`, without the allowed ones. */
function upwardImports(root: string, layers: readonly string[]): string[] {
  const out: string[] = [];
  for (const file of files(root)) {
    const rel = path.relative(root, file);
    const from = layers.indexOf(rel.split(path.sep)[0] ?? '');
    for (const target of imports(file)) {
      const to = path.relative(root, target).split(path.sep)[0] ?? '';
      const key = `${rel} -> ${to}`;
      if (layers.indexOf(to) > from && !ALLOWED_UP.has(key)) out.push(key);
    }
  }
  return out;
}

describe('src/ layering', () => {
  it('every folder of src/ has its place in the order', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !(LAYERS as readonly string[]).includes(f))).toEqual([]);
  });

  it('no folder imports from a folder above it (core imports no phase, the profiles import only core)', () => {
    expect(upwardImports(SRC, LAYERS)).toEqual([]);
  });

  it('the check can fail: with the order reversed, upward imports are found', () => {
    expect(upwardImports(SRC, [...LAYERS].reverse()).length).toBeGreaterThan(50);
  });

  it('nothing in src/ imports the dev stack, tests, benchmarks or scripts', () => {
    const outside = files(SRC).flatMap((f) =>
      imports(f)
        .filter((t) => !t.startsWith(SRC + path.sep))
        .map((t) => `${path.relative(ROOT, f)} -> ${path.relative(ROOT, t)}`),
    );
    expect(outside).toEqual([]);
  });
});
