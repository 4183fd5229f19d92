/**
 * Every code block of README and docs/ is extracted and run: config snippets are loaded by the
 * config loader, policy snippets compiled, JSON parsed, and every llm-authz command line is
 * checked against the command's own options, policy test suites run against the example set.
 * (Envoy snippets: README's is run through the real
 * Envoy by test/e2e/byo-envoy.test.ts; the Envoy files by test/e2e/envoy-configs.test.ts.)
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { compilePolicySet } from '../../src/policy/policy-set.ts';
import { loadRuntime } from '../../src/pipeline/runtime.ts';
import { ROOT } from '../../devstack/tools.ts';

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly text: string;
}

const FILES = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

function codeBlocks(file: string, text: string): Block[] {
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ file, line: text.slice(0, m.index).split('\n').length, lang: m[1] ?? '', text: m[2] ?? '' }));
}

const blocks = FILES.flatMap((f) => codeBlocks(f, readFileSync(path.join(ROOT, f), 'utf8')));
const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));
const name = (b: Block): string => `${b.file}:${b.line} (${b.lang})`;

/** The providers and credentials of the policy examples, for policy snippets that name them. */
const examples = loadRuntime('examples/policies/llm-authz.yaml', { watchPolicies: false });

function kind(b: Block): 'config' | 'policy' | 'suite' | 'envoy' | 'json' | 'sh' | 'diagram' | 'unknown' {
  if (b.lang === 'json') return 'json';
  if (b.lang === 'sh') return 'sh';
  if (b.lang === '') return 'diagram';
  if (b.lang !== 'yaml') return 'unknown';
  const doc = parse(b.text) as Record<string, unknown> | null;
  const keys = Object.keys(doc ?? {});
  if (keys.includes('static_resources')) return 'envoy';
  if (keys.includes('rules')) return 'policy';
  if (keys.includes('cases')) return 'suite';
  if (keys.length > 0 && keys.every((k) => CONFIG_KEYS.has(k))) return 'config';
  return 'unknown';
}

describe('code blocks of README and docs/', () => {
  it('finds them, and knows what each is', () => {
    expect(blocks.length).toBeGreaterThan(15);
    expect(blocks.filter((b) => kind(b) === 'unknown').map(name)).toEqual([]);
  });

  it.each(blocks.filter((b) => kind(b) === 'config').map((b) => [name(b), b] as const))('%s: a config snippet loads', (_n, b) => {
    expect(() => parseConfigText(b.text, name(b))).not.toThrow();
  });

  it.each(blocks.filter((b) => kind(b) === 'policy').map((b) => [name(b), b] as const))('%s: a policy snippet compiles', (_n, b) => {
    expect(() => compilePolicySet('docs', [{ name: 'snippet.yaml', text: b.text }], { providers: examples.providers })).not.toThrow();
  });

  /** Runs `llm-authz ARGS`; the exit code and what it wrote. */
  async function cli(args: string[]): Promise<{ code: number; text: string }> {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const err = new PassThrough();
    err.on('data', (c: Buffer) => chunks.push(c.toString()));
    const code = await main(args, out, err);
    return { code, text: chunks.join('') };
  }

  /** A policy test suite snippet, run by `llm-authz test` against examples/policies (its config and rules). */
  async function runSuiteSnippet(text: string): Promise<{ code: number; text: string }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-doc-suite-'));
    mkdirSync(path.join(dir, 'tests'));
    writeFileSync(path.join(dir, 'tests', 'snippet.yaml'), text);
    return cli(['test', dir, '--config', path.join(ROOT, 'examples/policies/llm-authz.yaml')]);
  }

  it.each(blocks.filter((b) => kind(b) === 'suite').map((b) => [name(b), b] as const))('%s: a policy test suite passes against examples/policies', async (_n, b) => {
    const r = await runSuiteSnippet(b.text);
    expect(r.code, r.text).toBe(0);
  });

  it('can fail: a broken snippet of each kind is caught', async () => {
    expect(() => parseConfigText('server:\n  listn: 127.0.0.1:9001\n', 'broken.yaml')).toThrow(/unknown key 'listn'/);
    expect(() =>
      compilePolicySet('docs', [{ name: 'snippet.yaml', text: 'rules:\n  - {id: b, effect: allow, when: "llm.modell == 1"}\n' }], { providers: examples.providers }),
    ).toThrow();
    expect(() => JSON.parse('{"error":')).toThrow();
    // A command line's flags are looked up in its command's --help (as above): a misspelt one is not there.
    const serveHelp = (await cli(['serve', '--help'])).text;
    expect(serveHelp).toContain('--listen');
    expect(serveHelp).not.toContain('--listn');
    const suite = blocks.find((b) => kind(b) === 'suite');
    expect(suite, 'a suite snippet').toBeDefined();
    const wrong = await runSuiteSnippet(suite!.text.replace('effect: allow', 'effect: deny'));
    expect(wrong.code, wrong.text).toBe(1);
  });

  it.each(blocks.filter((b) => kind(b) === 'json').map((b) => [name(b), b] as const))('%s: a JSON snippet parses (an abridged sample says so with …)', (_n, b) => {
    if (b.text.includes('…')) return;
    expect(() => JSON.parse(b.text)).not.toThrow();
  });

  const commandLines = blocks
    .filter((b) => kind(b) === 'sh')
    .flatMap((b) =>
      b.text
        .replace(/\\\n\s*/g, ' ')
        .split('\n')
        .map((l) => [name(b), l.replace(/\s+#.*$/, '').trim()] as const),
    )
    .filter(([, l]) => /^(node bin\/llm-authz\.js|llm-authz) /.test(l));

  it('has llm-authz command lines to check', () => {
    expect(commandLines.length).toBeGreaterThan(5);
  });

  it.each(commandLines)('%s: `%s` names a command and only options it takes', async (_n, line) => {
    const args = line
      .replace(/^(node bin\/llm-authz\.js|llm-authz) /, '')
      .replace(/\[([^\]]*)\]/g, '$1')
      .split(/\s+/)
      .filter((a) => a !== '' && !/^[|]$/.test(a));
    const out = new PassThrough();
    const err = new PassThrough();
    const e: string[] = [];
    err.on('data', (c: Buffer) => e.push(c.toString()));
    // --help after the arguments: the command's own parser must accept every flag before it.
    const code = await main([...args.filter((a) => !/^[A-Z]+$/.test(a)), '--help'], out, err);
    expect(code, e.join('')).toBe(0);
    const help = await (async () => {
      const o = new PassThrough();
      const chunks: string[] = [];
      o.on('data', (c: Buffer) => chunks.push(c.toString()));
      await main([args[0] ?? '', '--help'], o, new PassThrough());
      return chunks.join('');
    })();
    for (const flag of args.filter((a) => a.startsWith('--'))) expect(help, `${flag} in '${args[0]} --help'`).toContain(flag);
  });
});
