/**
 * Loading a policy folder: cases no unit test decided. Which entries of the folder are policy
 * files (`*.yaml`, `*.yml`; not hidden files, backups or folders), the refusal of a folder that
 * cannot be read (at start and on reload), the load error's text, a credential obligation of a kind the provider does
 * not take, obligations on a deny rule, the config's routing header (which no rule may set), the
 * version's form, and the headers an allow carries.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { Secret } from '../../src/core/secret.ts';
import { createPolicy } from '../../src/policy/index.ts';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { evaluatePolicySet } from '../../src/policy/evaluate.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet, loadPolicySet, PolicyLoadError } from '../../src/policy/policy-set.ts';
import { AwsKeys } from '../../src/providers/aws-sigv4.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function input() {
  return decisionInputOf(decisionFixture.parse({ identity: { workload: 'wl-a' }, request: {}, llm: { model: 'gpt-4o-mini' } }), providers);
}

function problemsOf(f: () => unknown): readonly string[] {
  try {
    f();
  } catch (err) {
    if (err instanceof PolicyLoadError) return err.problems;
    throw err;
  }
  throw new Error('no PolicyLoadError');
}

describe('the files of a policy folder', () => {
  it('reads *.yaml and *.yml files; hidden files, backups, other files and folders are not policies', () => {
    const d = policyDir();
    const deny = (id: string) => `rules:\n  - {id: ${id}, effect: deny, when: "true"}\n`;
    d.write({
      'a.yaml': 'rules:\n  - {id: from-yaml, effect: allow, when: "false"}\n',
      'b.yml': 'rules:\n  - {id: from-yml, effect: allow, when: "false"}\n',
      '.hidden.yaml': deny('hidden'),
      'c.yaml.bak': deny('backup'),
      'd.yamlx': deny('yamlx'),
      'notes.txt': deny('text'),
    });
    mkdirSync(path.join(d.dir, 'sub.yaml'));
    const set = loadPolicySet(d.dir, { providers });
    expect(set.files).toEqual(['a.yaml', 'b.yml']);
    expect(set.rules.map((r) => r.id)).toEqual(['from-yaml', 'from-yml']);
  });

  it('a folder that cannot be read is refused at start, and on reload keeps the set in force', () => {
    const d = policyDir();
    const missing = path.join(d.dir, 'absent');
    expect(problemsOf(() => loadPolicySet(missing, { providers }))).toEqual([`${missing}: cannot read the folder: ENOENT`]);
    expect(problemsOf(() => createPolicyEngine({ dir: missing, providers, watch: false }))).toEqual([`${missing}: cannot read the folder: ENOENT`]);

    const sub = path.join(d.dir, 'live');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'a.yaml'), 'rules:\n  - {id: allow-all, effect: allow, when: "true"}\n');
    const engine = createPolicyEngine({ dir: sub, providers, watch: false, now: () => NOW });
    try {
      rmSync(sub, { recursive: true });
      expect(engine.reload()).toMatchObject({ ok: false, problems: [`${sub}: cannot read the folder: ENOENT`] });
      expect(engine.decide(input())).toMatchObject({ effect: 'allow', rule: 'allow-all' });
    } finally {
      engine.close();
    }
  });
});

describe('the load error', () => {
  it('prints every problem on its own indented line under the folder', () => {
    const d = policyDir();
    d.write({ 'a.yaml': 'rules:\n  - {id: x, effect: allow, when: "1 +"}\n  - {id: x, effect: allow, when: "true"}\n' });
    let err: unknown;
    try {
      loadPolicySet(d.dir, { providers });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyLoadError);
    const e = err as PolicyLoadError;
    expect(e.problems).toHaveLength(2);
    expect(e.name).toBe('PolicyLoadError');
    expect(e.message).toBe(`invalid policy set ${d.dir}:\n  ${e.problems[0]}\n  ${e.problems[1]}`);
  });
});

describe('obligations', () => {
  it('a credential of a kind the provider does not take is refused with its position', () => {
    const p = unitProviders();
    const credentials = p.credentials as Map<string, unknown>;
    credentials.set('aws-keys', new AwsKeys(new Secret('AKIAUNITTEST'), new Secret('unit-secret'), undefined));
    const text = 'rules:\n  - id: a\n    effect: allow\n    when: "true"\n    obligations: {provider: openai, credential: aws-keys}\n';
    expect(problemsOf(() => compilePolicySet('mem', [{ name: 'p.yaml', text }], { providers: p }))).toEqual([
      "mem/p.yaml:5:49: rules[0].obligations.credential: provider 'openai' (openai) takes no credential of kind aws",
    ]);
    // The same credential without a provider named: the check waits for the provider the request selects.
    const open = 'rules:\n  - {id: a, effect: allow, when: "true", obligations: {credential: openai-team}}\n';
    expect(compilePolicySet('mem', [{ name: 'p.yaml', text: open }], { providers: p }).rules).toHaveLength(1);
  });

  it('a deny rule carries no obligations', () => {
    const text = 'rules:\n  - {id: d, effect: deny, when: "true", obligations: {provider: openai}}\n';
    expect(problemsOf(() => compilePolicySet('mem', [{ name: 'p.yaml', text }], { providers }))).toEqual([
      'mem/p.yaml:2:54: rules[0].obligations: only allow rules carry obligations',
    ]);
  });

  it("the config's routing header is reserved: a rule that sets it does not load", () => {
    const d = policyDir();
    const config = (header: string) =>
      parseConfigText(`providers:\n  - {name: openai, api: openai}\nrouting: {header: ${header}}\npolicy: {dir: ${JSON.stringify(d.dir)}}\n`, 'unit.yaml');
    d.write({ 'a.yaml': 'rules:\n  - {id: a, effect: allow, when: "true", obligations: {headers: {x-unit-route: openai}}}\n' });
    const ctx = { source: 'unit.yaml', version: 'cfg', baseDir: '/' };
    expect(problemsOf(() => createPolicy(config('x-unit-route'), ctx, providers))).toEqual([
      `${path.join(d.dir, 'a.yaml')}:2:80: rules[0].obligations.headers: 'x-unit-route' is reserved and cannot be set by a rule`,
    ]);
    // The same rule under another routing header loads.
    const other = createPolicy(config('x-other-route'), ctx, providers);
    expect(other.engine?.status().rules).toBe(1);
    other.engine?.close();
  });

  it('an allow carries its headers only when the rule sets some', () => {
    const set = compilePolicySet(
      'mem',
      [{ name: 'p.yaml', text: 'rules:\n  - {id: plain, effect: allow, when: "true"}\n  - {id: team, effect: allow, when: "true", obligations: {headers: {x-team: a}}}\n' }],
      { providers },
    );
    expect(evaluatePolicySet(set, input(), NOW).decision.obligations?.headers).toBeUndefined();
    const teamOnly = { ...set, rules: set.rules.slice(1) };
    expect(evaluatePolicySet(teamOnly, input(), NOW).decision.obligations?.headers).toEqual([['x-team', 'a']]);
  });
});

describe('the version', () => {
  it('is 12 hex digits of the content hash, and changes with a file name or its bytes', () => {
    const v = (files: { name: string; text: string }[]) => compilePolicySet('mem', files, { providers }).version;
    const base = v([{ name: 'a.yaml', text: 'rules: []\n' }]);
    expect(base).toMatch(/^[0-9a-f]{12}$/);
    expect(v([{ name: 'b.yaml', text: 'rules: []\n' }])).not.toBe(base);
    expect(v([{ name: 'a.yaml', text: 'rules: [] \n' }])).not.toBe(base);
    expect(v([{ name: 'a.yaml', text: 'rules: []\n' }])).toBe(base);
  });
});
