/** docs/policies.md documents every variable the checker declares, with its type. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { typeName, type FieldDecl } from '../../src/policy/cel-types.ts';
import { VARIABLES } from '../../src/policy/vars.ts';

function leaves(prefix: string, f: FieldDecl): [string, string][] {
  if (f.type.kind === 'object') return Object.entries(f.type.fields).flatMap(([k, v]) => leaves(`${prefix}.${k}`, v));
  return [[prefix, typeName(f.type)]];
}

describe('docs/policies.md', () => {
  const doc = readFileSync('docs/policies.md', 'utf8');
  const all = Object.entries(VARIABLES).flatMap(([k, v]) => (k === 'now' ? [] : leaves(k, v)));
  it.each(all)('documents %s as %s', (name, type) => {
    expect(doc).toContain(`| \`${name}\` | ${type} |`);
  });
});
