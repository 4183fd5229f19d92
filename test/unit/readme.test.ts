/**
 * README stays the entry point: every reason code and every config key is findable from it
 * (the top two levels in README itself, deeper keys in README or a docs/*.md page it links).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { ROOT } from '../../devstack/tools.ts';
import { REASONS } from '../../src/core/reasons.ts';

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const LINKED_DOCS = [...README.matchAll(/\]\((docs\/[a-z-]+\.md)\)/g)].map((m) => m[1]!);
const DOCS = [...new Set(LINKED_DOCS)].map((f) => readFileSync(path.join(ROOT, f), 'utf8')).join('\n');

interface ZodLike {
  _zod?: { def?: { type?: string; innerType?: ZodLike; element?: ZodLike; shape?: Record<string, ZodLike> } };
}

function unwrap(s: ZodLike | undefined): ZodLike | undefined {
  let cur = s;
  while (cur?._zod?.def?.innerType) cur = cur._zod.def.innerType;
  return cur;
}

/** Every key path of the config schema (`identity.jwt.issuers`, `providers[].name`, ...). */
function keyPaths(schema: ZodLike | undefined, prefix: string, out: string[]): string[] {
  let s = unwrap(schema);
  let p = prefix;
  if (s?._zod?.def?.type === 'array') {
    s = unwrap(s._zod.def.element);
    p += '[]';
  }
  const shape = s?._zod?.def?.shape;
  if (shape === undefined) return out;
  for (const [k, v] of Object.entries(shape)) {
    const key = p === '' ? k : `${p}.${k}`;
    out.push(key);
    keyPaths(v, key, out);
  }
  return out;
}

describe('README', () => {
  it('links the area documentation', () => {
    expect(LINKED_DOCS).toEqual(expect.arrayContaining(['docs/identity.md', 'docs/policies.md', 'docs/llm-requests.md', 'docs/audit.md']));
  });

  it('lists every reason code of src/core/reasons.ts', () => {
    const missing = Object.keys(REASONS).filter((code) => !README.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('names every config key: the top two levels in README, deeper ones in README or a linked docs page', () => {
    const paths = keyPaths(configSchema as unknown as ZodLike, '', []);
    expect(paths).toContain('identity.jwt.issuers');
    const levels = (k: string): number => k.split('.').length;
    const missingTop = paths.filter((k) => levels(k) <= 2 && !README.includes(levels(k) === 1 ? `\`${k}` : k));
    expect(missingTop).toEqual([]);
    const leaf = (k: string): string => k.split('.').at(-1)!.replace('[]', '');
    const all = `${README}\n${DOCS}`;
    const named = (name: string): boolean => all.includes(`\`${name}\``) || all.includes(`.${name}\``) || all.includes(`${name}:`);
    const missingDeep = paths.filter((k) => levels(k) > 2 && !named(leaf(k)));
    expect(missingDeep).toEqual([]);
  });
});
