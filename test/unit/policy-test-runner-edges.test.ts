/**
 * `llm-authz test`: a case whose expectation the decision does not meet must fail, and a suite
 * folder that cannot be run must be refused. Covers cases no unit test decided: a wrong deciding
 * rule, `rule: null`, wrong matched rules (order aside), wrong reason or provider, the case and
 * suite clocks, a case naming its provider, the false part printed for a rule that did not match, `.yml` suites and files
 * that are not suites, and the refusals (no suites, no policy section, invalid YAML, schema
 * problems, an unknown provider in a case).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runTests } from '../../src/cli/test.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-test-runner-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CONFIG = `providers:
  - {name: openai, api: openai}
  - {name: openai-b, api: openai, models: ["b-*"]}
policy: {dir: policies}
`;

const RULES = `rules:
  - {id: chat-before-june, effect: allow, when: 'llm.model == "gpt-4o-mini" && now < timestamp("2026-06-01T00:00:00Z")'}
  - {id: also-chat, effect: allow, when: 'llm.model == "gpt-4o-mini"'}
  - {id: no-o3, effect: deny, reason: model_not_allowed, when: 'llm.model == "o3"'}
`;

let n = 0;
/** A folder with the config, the rules above and the given suite files; returns `llm-authz test`'s exit code and output. */
async function run(suites: Record<string, string> | null, o: { config?: string | null; rules?: string } = {}): Promise<{ code: number; out: string; err: string }> {
  const dir = path.join(tmp, `t${n++}`);
  mkdirSync(path.join(dir, 'policies'), { recursive: true });
  if (suites !== null) mkdirSync(path.join(dir, 'tests'), { recursive: true });
  if (o.config !== null) writeFileSync(path.join(dir, 'llm-authz.yaml'), o.config ?? CONFIG);
  writeFileSync(path.join(dir, 'policies', 'rules.yaml'), o.rules ?? RULES);
  for (const [name, text] of Object.entries(suites ?? {})) writeFileSync(path.join(dir, 'tests', name), text);
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: string[] = [];
  const errChunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  err.on('data', (c: Buffer) => errChunks.push(c.toString()));
  const code = await runTests(dir, undefined, out, err);
  return { code, out: chunks.join(''), err: errChunks.join('') };
}

/** One suite with one case: identity wl-a, the given llm and expect. */
function suite(llm: string, expectation: string, extra = '', suiteNow = ''): string {
  return `suite: s\n${suiteNow}cases:\n  - name: c\n${extra}    identity: {workload: wl-a}\n    request: {}\n    llm: ${llm}\n    expect: ${expectation}\n`;
}

const CHAT = '{model: gpt-4o-mini}';

describe('a case whose expectation is not met fails', () => {
  it('the right expectations pass (the cases below differ from this one in one expectation each)', async () => {
    const r = await run({ 's.yaml': suite(CHAT, '{effect: allow, rule: chat-before-june, reason: allowed, provider: openai, matched: [also-chat, chat-before-june]}') });
    expect(r.out).toContain('PASS s / c (allow by chat-before-june, allowed)');
    expect(r.code).toBe(0);
  });

  const wrong: [string, string, string][] = [
    ['another deciding rule', '{effect: allow, rule: also-chat}', 'expected rule "also-chat", got "chat-before-june"'],
    ['rule: null (the default) when a rule decided', '{effect: allow, rule: null}', 'expected rule null, got "chat-before-june"'],
    ['another reason', '{effect: allow, reason: denied_by_default}', 'expected reason "denied_by_default", got "allowed"'],
    ['another provider', '{effect: allow, provider: openai-b}', 'expected provider "openai-b", got "openai"'],
    ['fewer matched rules', '{effect: allow, matched: [chat-before-june]}', 'expected matched rules ["chat-before-june"], got ["chat-before-june","also-chat"]'],
  ];
  for (const [name, expectation, failure] of wrong) {
    it(name, async () => {
      const r = await run({ 's.yaml': suite(CHAT, expectation) });
      expect(r.out).toContain('FAIL s / c (');
      expect(r.out).toContain(`     ${failure}\n`);
      expect(r.out).toMatch(/^0 passed, 1 failed$/m);
      expect(r.code).toBe(1);
    });
  }

  it('rule: null passes on a default deny', async () => {
    const r = await run({ 's.yaml': suite('{model: gpt-4.1}', '{effect: deny, rule: null, reason: denied_by_default, matched: []}') });
    expect(r.out).toContain('PASS s / c (deny by (default), denied_by_default)');
    expect(r.code).toBe(0);
  });

  it('a failing case prints the part of each unmatched rule that was false', async () => {
    const r = await run({ 's.yaml': suite('{model: gpt-4.1}', '{effect: allow}') });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/ allow chat-before-june\s+not matched: false at llm\.model == "gpt-4o-mini"\n/);
  });
});

describe('the request a case stands for', () => {
  it('a case may name the provider the LLM phase selected; its body counts as complete', async () => {
    const rules = `rules:\n  - {id: complete, effect: allow, when: 'llm.body_complete'}\n`;
    const named = await run({ 's.yaml': suite('{model: gpt-4o-mini, provider: openai-b}', '{effect: allow, rule: complete, provider: openai-b}') }, { rules });
    expect(named.out).toContain('PASS s / c (allow by complete, allowed)');
    expect(named.code).toBe(0);
    const selected = await run({ 's.yaml': suite(CHAT, '{effect: allow, rule: complete, provider: openai}') }, { rules });
    expect(selected.code).toBe(0);
  });
});

describe('the clock a case sees', () => {
  it('a case without a clock in a suite without one sees the default (2026-01-01)', async () => {
    const r = await run({ 's.yaml': suite(CHAT, '{effect: allow, rule: chat-before-june}') });
    expect(r.code).toBe(0);
  });

  it("the suite's clock applies to its cases, and a case's own clock wins over it", async () => {
    const july = 'now: "2026-07-01T00:00:00Z"\n';
    const bySuite = await run({ 's.yaml': suite(CHAT, '{effect: allow, rule: also-chat}', '', july) });
    expect(bySuite.out).toContain('PASS s / c (allow by also-chat, allowed)');
    const byCase = await run({ 's.yaml': suite(CHAT, '{effect: allow, rule: chat-before-june}', '    now: "2026-03-01T00:00:00Z"\n', july) });
    expect(byCase.out).toContain('PASS s / c (allow by chat-before-june, allowed)');
    expect(byCase.code).toBe(0);
  });
});

describe('which files are suites', () => {
  it('*.yaml and *.yml suites run in name order (not the order the folder lists them); other files are not suites', async () => {
    const named = (name: string) => suite(CHAT, '{effect: allow}').replace('suite: s', `suite: ${name}`);
    // Written neither in name order nor in its reverse.
    const r = await run({
      'b.yml': named('b'),
      'a.yaml': named('a'),
      'c.yaml': named('c'),
      'd.yaml.orig': 'not a suite: [',
      'notes.txt': 'not a suite: [',
    });
    expect(r.err).toBe('');
    expect(r.out.split('\n').filter((l) => l.startsWith('PASS'))).toEqual([
      'PASS a / c (allow by chat-before-june, allowed)',
      'PASS b / c (allow by chat-before-june, allowed)',
      'PASS c / c (allow by chat-before-june, allowed)',
    ]);
    expect(r.code).toBe(0);
  });
});

describe('suites that cannot run are refused (exit 2)', () => {
  it('no suite files, or no tests folder at all', async () => {
    for (const suites of [{ 'readme.txt': 'x' }, null]) {
      const r = await run(suites);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/tests: no test suites \(\*\.yaml\) found\n$/);
    }
  });

  it('a config without a policy: section', async () => {
    const r = await run({ 's.yaml': suite(CHAT, '{effect: allow}') }, { config: 'providers:\n  - {name: openai, api: openai}\n' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/llm-authz\.yaml: the config has no policy: section, so there is no policy set to test\n$/);
  });

  it('a suite that is not YAML, one that breaks the schema, and a case naming an unknown provider; the other suites still run', async () => {
    const r = await run({
      '1-yaml.yaml': 'suite: [\n',
      '2-schema.yaml': 'suite: s2\ncases: []\nextra: 1\n',
      '3-provider.yaml': suite('{model: gpt-4o-mini, provider: nowhere}', '{effect: allow}').replace('suite: s', 'suite: s3'),
      '4-good.yaml': suite(CHAT, '{effect: allow}'),
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain('1-yaml.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]\n');
    // Every problem of a suite on its own line.
    expect(r.err).toMatch(/2-schema\.yaml:2:8: cases: Too small: expected array to have >=1 items\n/);
    expect(r.err).toMatch(/2-schema\.yaml:1:1: \(top level\): Unrecognized key: "extra"\n/);
    expect(r.err).toMatch(/3-provider\.yaml:3:5: llm\.provider: unknown provider 'nowhere' \(not in the config\)\n/);
    expect(r.out).toContain('PASS s / c');
    expect(r.out).toMatch(/^1 passed, 0 failed, 3 suite file\(s\) invalid$/m);
  });
});
