/**
 * The CEL policy engine at request time: default deny, deny wins, obligations, evaluation
 * errors fail closed, the declared types of the variables, the custom functions, shadow mode.
 */
import { parse, plan } from '@bufbuild/cel';
import { RE2JS } from '@bufbuild/re2';
import { describe, expect, it, vi } from 'vitest';
import { policyEnv, RegexCache } from '../../src/policy/functions.ts';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet } from '../../src/policy/policy-set.ts';
import { evaluatePolicySet } from '../../src/policy/evaluate.ts';
import { LIMITS } from '../../src/policy/vars.ts';
import { policyDir, SECRETS, unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function setOf(rules: string) {
  return compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n${rules}` }], { providers });
}

function input(o: { identity?: Record<string, unknown>; request?: Record<string, unknown>; llm?: Record<string, unknown> } = {}) {
  return decisionInputOf(
    decisionFixture.parse({
      identity: { workload: 'spiffe://demo.example/ns/apps/sa/chat-app', ...o.identity },
      request: o.request ?? {},
      llm: { model: 'gpt-4o-mini', ...o.llm },
    }),
    providers,
  );
}

function decide(rules: string, o: Parameters<typeof input>[0] = {}, now = NOW) {
  const set = setOf(rules);
  return { set, ...evaluatePolicySet(set, input(o), now) };
}

describe('combining rules', () => {
  it('denies by default when no rule matches', () => {
    const { decision, set } = decide(`  - {id: other, effect: allow, when: 'identity.workload == "x"'}\n`);
    expect(decision).toMatchObject({ effect: 'deny', reason: 'denied_by_default', rule: undefined, matchedRules: [], policyVersion: set.version });
  });

  it('denies an unknown API path no rule allows as unknown_api (404), and lets a rule allow or deny it', () => {
    const base = input({ request: { path: '/v1/assistants' } });
    const unknown = { ...base, llm: { ...base.llm, operation: 'unknown' as const, schema: 'unknown' } };
    const run = (rules: string) => evaluatePolicySet(setOf(rules), unknown, NOW).decision;
    expect(run(`  - {id: other, effect: allow, when: 'llm.operation == "chat"'}\n`)).toMatchObject({ effect: 'deny', reason: 'unknown_api', rule: undefined });
    expect(evaluatePolicySet(compilePolicySet('mem', [], { providers }), unknown, NOW).decision).toMatchObject({ effect: 'deny', reason: 'unknown_api' });
    expect(run(`  - {id: d, effect: deny, reason: model_not_allowed, when: "true"}\n`)).toMatchObject({ effect: 'deny', reason: 'model_not_allowed', rule: 'd' });
    expect(run(`  - {id: a, effect: allow, when: 'llm.operation == "unknown"'}\n`)).toMatchObject({ effect: 'allow', rule: 'a' });
  });

  it('an empty policy set denies everything', () => {
    const set = compilePolicySet('mem', [], { providers });
    expect(evaluatePolicySet(set, input(), NOW).decision).toMatchObject({ effect: 'deny', reason: 'denied_by_default' });
  });

  it('a matching deny wins over matching allows, and every match is recorded', () => {
    const { decision, results } = decide(`  - {id: a1, effect: allow, when: "true"}
  - {id: d1, effect: deny, reason: model_not_allowed, when: 'llm.model == "gpt-4o-mini"'}
  - {id: a2, effect: allow, when: "true"}
  - {id: d2, effect: deny, when: "true"}
`);
    expect(decision).toMatchObject({ effect: 'deny', reason: 'model_not_allowed', rule: 'd1', matchedRules: ['a1', 'd1', 'a2', 'd2'] });
    expect(results.map((r) => r.outcome)).toEqual(['matched', 'matched', 'matched', 'matched']);
  });

  it('the first matching allow decides and its obligations apply', () => {
    const { decision } = decide(`  - id: team
    effect: allow
    when: "true"
    obligations: {provider: openai-team, credential: openai-batch, headers: {x-team: research}}
  - {id: later, effect: allow, when: "true"}
`);
    expect(decision).toMatchObject({ effect: 'allow', reason: 'allowed', rule: 'team', matchedRules: ['team', 'later'] });
    expect(decision.obligations?.provider.name).toBe('openai-team');
    expect(decision.obligations?.credential).toBe(SECRETS.batch);
    expect(decision.obligations?.headers).toEqual([['x-team', 'research']]);
  });

  it("without a provider obligation the provider serving the request's API is used", () => {
    const { decision } = decide(`  - {id: any, effect: allow, when: "true"}\n`, { llm: { api: 'anthropic', model: 'claude-3-5-haiku-latest' } });
    expect(decision.obligations?.provider.name).toBe('anthropic');
    expect(decision.obligations?.credential).toBeUndefined();
  });

  it("denies when the obligation's provider does not speak the request's API", () => {
    const { decision } = decide(`  - {id: to-team, effect: allow, when: "true", obligations: {provider: openai-team}}\n`, { llm: { api: 'anthropic', model: 'claude-x' } });
    expect(decision).toMatchObject({ effect: 'deny', reason: 'provider_unavailable', rule: 'to-team' });
  });

  it('a max_tokens obligation denies above the cap and when no limit is set', () => {
    const rules = `  - {id: capped, effect: allow, when: "true", obligations: {max_tokens: 100}}\n`;
    expect(decide(rules, { llm: { max_tokens: 100 } }).decision.effect).toBe('allow');
    expect(decide(rules, { llm: { max_tokens: 101 } }).decision).toMatchObject({ effect: 'deny', reason: 'max_tokens_exceeded', rule: 'capped' });
    expect(decide(rules).decision).toMatchObject({ effect: 'deny', reason: 'max_tokens_exceeded' });
  });
});

describe('evaluation errors fail closed', () => {
  it('a rule that errors makes the decision a deny with policy_error, naming the rule', () => {
    const { decision, results } = decide(`  - {id: ok, effect: allow, when: "true"}
  - {id: missing-header, effect: deny, when: 'request.headers["x-tenant"] == "blocked"'}
`);
    expect(decision).toMatchObject({ effect: 'deny', reason: 'policy_error', rule: 'missing-header', matchedRules: ['ok'] });
    expect(results[1]).toMatchObject({ outcome: 'error' });
  });

  it('an absent optional field errors unless guarded with has()', () => {
    expect(decide(`  - {id: cap, effect: allow, when: "llm.max_tokens < 10"}\n`).decision.reason).toBe('policy_error');
    expect(decide(`  - {id: cap, effect: allow, when: "!has(llm.max_tokens) || llm.max_tokens < 10"}\n`).decision.effect).toBe('allow');
  });
});

describe('the check deadline', () => {
  it('past the deadline, evaluation stops between rules with a timeout deny', () => {
    const set = setOf(`  - {id: first, effect: allow, when: "true"}\n  - {id: second, effect: deny, when: "false"}\n`);
    const late = evaluatePolicySet(set, { ...input(), deadline: performance.now() - 1 }, NOW);
    expect(late.decision).toMatchObject({ effect: 'deny', reason: 'timeout' });
    expect(late.results).toHaveLength(0);
    const inTime = evaluatePolicySet(set, { ...input(), deadline: performance.now() + 60_000 }, NOW);
    expect(inTime.decision).toMatchObject({ effect: 'allow', rule: 'first' });
  });
});

describe('variables have their declared types', () => {
  it('JSON numbers are CEL ints where the field is an int', () => {
    const r = decide(`  - {id: ints, effect: allow, when: "llm.max_tokens == 100 && llm.message_count + 1 == 3 && llm.input_bytes > 0 && request.source.port == 40000"}\n`, {
      llm: { max_tokens: 100, message_count: 2, input_bytes: 10 },
    });
    expect(r.decision.effect).toBe('allow');
    expect(
      decide(
        `  - {id: types, effect: allow, when: "type(llm.max_tokens) == int && type(llm.stream) == bool && type(llm.model) == string && type(llm.tools) == list && type(now) == google.protobuf.Timestamp"}\n`,
        { llm: { max_tokens: 5 } },
      ).decision.effect,
    ).toBe('allow');
  });

  it('identity, request and llm fields are all present', () => {
    const { decision } = decide(
      `  - id: all
    effect: allow
    when: >
      identity.workload.endsWith("chat-app") && identity.agent == "bot" && identity.user == "alice"
      && identity.method == "api_key" && identity.credential_id == "k1" && identity.issuer == ""
      && identity.scopes.models == ["gpt-*"] && !has(identity.scopes.providers) && size(identity.claims) == 0
      && request.method == "POST" && request.path == "/v1/chat/completions" && request.headers["x-team"] == "a"
      && !("authorization" in request.headers) && !("api-key" in request.headers) && !("x-goog-api-key" in request.headers) && !("x-llm-authz-on-behalf-of" in request.headers)
      && request.source.principal == "spiffe://demo.example/p"
      && request.sni == "llm.example" && request.context_extensions["route"] == "r1"
      && llm.provider == "openai" && llm.api == "openai" && llm.schema == "openai.chat_completions"
      && llm.operation == "chat" && llm.model == "gpt-4o-mini" && !llm.stream && llm.tools == ["search"]
`,
      {
        identity: { agent: 'bot', user: 'alice', credential_id: 'k1', scopes: { models: ['gpt-*'] } },
        request: {
          headers: { 'x-team': 'a', authorization: 'Bearer secret', 'api-key': 'azure-secret', 'x-goog-api-key': 'gemini-secret', 'x-llm-authz-on-behalf-of': 'eyJ.user.token' },
          source: { principal: 'spiffe://demo.example/p' },
          sni: 'llm.example',
          context_extensions: { route: 'r1' },
        },
        llm: { tools: ['search'] },
      },
    );
    expect(decision).toMatchObject({ effect: 'allow', rule: 'all' });
  });

  it('records the variables the rules read, builds only those, and a comprehension variable is not one', () => {
    const set = setOf(`  - {id: a, effect: allow, when: 'llm.tools.all(t, t != "shell") && identity.workload != ""'}
  - {id: b, effect: deny, when: '[1, 2].exists(request, request > 5)'}
`);
    expect([...(set.variables ?? [])].sort()).toEqual(['identity', 'llm']);
    expect(evaluatePolicySet(set, input({ llm: { tools: ['search'] } }), NOW).decision).toMatchObject({ effect: 'allow', rule: 'a' });
    const all = setOf(`  - {id: h, effect: allow, when: 'request.headers["x-team"] == "a" && now > timestamp("2026-01-01T00:00:00Z")'}\n`);
    expect([...(all.variables ?? [])].sort()).toEqual(['now', 'request']);
    expect(evaluatePolicySet(all, input({ request: { headers: { 'x-team': 'a' } } }), NOW).decision).toMatchObject({ effect: 'allow', rule: 'h' });
  });

  it('now is the clock the engine is given', () => {
    const rules = `  - {id: office-hours, effect: allow, when: 'now.getHours("UTC") >= 8 && now.getHours("UTC") < 18 && now > timestamp("2026-01-01T00:00:00Z")'}\n`;
    expect(decide(rules, {}, Date.parse('2026-03-01T09:00:00Z')).decision.effect).toBe('allow');
    expect(decide(rules, {}, Date.parse('2026-03-01T20:00:00Z')).decision.effect).toBe('deny');
  });

  it('request strings and lists are bounded before evaluation', () => {
    const long = 'x'.repeat(LIMITS.maxString + 100);
    const tools = Array.from({ length: LIMITS.maxList + 10 }, (_, i) => `t${i}`);
    const { decision } = decide(`  - {id: bounded, effect: allow, when: 'size(request.headers["x-long"]) == ${LIMITS.maxString} && size(llm.tools) == ${LIMITS.maxList}'}\n`, {
      request: { headers: { 'x-long': long } },
      llm: { tools },
    });
    expect(decision.effect).toBe('allow');
    // A short list keeps its entries, each cut to the string bound.
    const short = decide(`  - {id: bounded, effect: allow, when: 'size(llm.tools) == 2 && llm.tools.all(t, size(t) <= ${LIMITS.maxString})'}\n`, { llm: { tools: [long, 'b'] } });
    expect(short.decision.effect).toBe('allow');
  });
});

describe('functions', () => {
  it('SPIFFE helpers, glob, globAny and the strings extension', () => {
    const { decision } = decide(
      `  - id: fns
    effect: allow
    when: >
      identity.workload.spiffeTrustDomain() == "demo.example"
      && identity.workload.spiffePath() == "/ns/apps/sa/chat-app"
      && "not-spiffe".spiffeTrustDomain() == ""
      && llm.model.glob("gpt-4o*") && !llm.model.glob("gpt-4")
      && llm.model.globAny(["claude-*", "gpt-*-mini"])
      && llm.model.upperAscii() == "GPT-4O-MINI" && llm.model.split("-").size() == 3
      && llm.model.matches("^gpt-4o") && strings.quote(llm.model) == '"gpt-4o-mini"'
`,
    );
    expect(decision).toMatchObject({ effect: 'allow', rule: 'fns' });
  });

  it('constant regular expressions are compiled once, at load', () => {
    const compile = vi.spyOn(RE2JS, 'compile');
    try {
      const set = setOf(`  - {id: re, effect: allow, when: 'llm.model.matches("^gpt-4o-(mini|nano)$") && !llm.model.matches("^o1")'}\n`);
      // Loading compiled both patterns, once each.
      expect(compile.mock.calls.map((c) => c[0]).sort()).toEqual(['^gpt-4o-(mini|nano)$', '^o1']);
      compile.mockClear();
      for (let i = 0; i < 3; i++) {
        expect(evaluatePolicySet(set, input(), NOW).decision.effect).toBe('allow');
        expect(evaluatePolicySet(set, input({ llm: { model: 'gpt-4o' } }), NOW).decision.effect).toBe('deny');
      }
      // Evaluating compiled nothing.
      expect(compile).not.toHaveBeenCalled();
    } finally {
      compile.mockRestore();
    }
  });

  it('matches goes through the regex cache: one compilation per pattern', () => {
    const cache = new RegexCache();
    const compile = vi.spyOn(RE2JS, 'compile');
    const program = plan(policyEnv(cache), parse('s.matches(p)'));
    for (let i = 0; i < 5; i++) {
      expect(program({ s: 'gpt-4o-mini', p: '^gpt-4o' })).toBe(true);
      expect(program({ s: 'claude', p: '^gpt-4o' })).toBe(false);
    }
    expect(compile).toHaveBeenCalledTimes(1);
    expect(cache.size).toBe(1);
    compile.mockRestore();
  });
});

describe('shadow mode', () => {
  const enforced = policyDir();
  const shadow = policyDir();
  enforced.write({ 'p.yaml': `rules:\n  - {id: allow-all, effect: allow, when: "true"}\n` });
  shadow.write({ 'p.yaml': `rules:\n  - {id: deny-mini, effect: deny, when: 'llm.model == "gpt-4o-mini"'}\n  - {id: allow-rest, effect: allow, when: "true"}\n` });

  it("records the shadow set's would-be decision and never changes the answer", () => {
    const engine = createPolicyEngine({ dir: enforced.dir, shadowDir: shadow.dir, providers, watch: false });
    const d = engine.decide(input());
    expect(d).toMatchObject({ effect: 'allow', rule: 'allow-all' });
    expect(d.shadow).toMatchObject({ effect: 'deny', reason: 'denied_by_policy', rule: 'deny-mini', disagrees: true, policyVersion: engine.status().shadowVersion });
    const agree = engine.decide(input({ llm: { model: 'gpt-4.1' } }));
    expect(agree.effect).toBe('allow');
    expect(agree.shadow).toMatchObject({ effect: 'allow', rule: 'allow-rest', disagrees: false });
    engine.close();
  });
});

describe('path parameters in policies (Vertex AI project and location)', () => {
  const rules = `  - {id: vertex-prod-only, effect: deny, reason: denied_by_policy, when: 'llm.api == "vertex-ai" && llm.path_params["project"] != "acme-prod"'}
  - {id: eu-only, effect: deny, reason: denied_by_policy, when: 'llm.api == "vertex-ai" && !llm.path_params["location"].startsWith("europe-")'}
  - {id: any, effect: allow, when: "true"}
`;
  const vertex = (project: string, location: string) => ({ llm: { api: 'vertex-ai', model: 'gemini-2.5-flash', path_params: { project, location } } });

  it('a rule reads the project and the location from the path', () => {
    // Allowed by the rules (no Vertex AI provider is configured here, so nothing serves it).
    expect(decide(rules, vertex('acme-prod', 'europe-west4')).decision).toMatchObject({ rule: 'any', matchedRules: ['any'], reason: 'provider_unavailable' });
    expect(decide(rules, vertex('someone-else', 'europe-west4')).decision).toMatchObject({ effect: 'deny', rule: 'vertex-prod-only' });
    expect(decide(rules, vertex('acme-prod', 'us-central1')).decision).toMatchObject({ effect: 'deny', rule: 'eu-only' });
  });

  it('the fixture path carries them, and other APIs have none', () => {
    const i = input(vertex('acme-prod', 'europe-west4'));
    expect(i.ctx.path).toBe('/v1/projects/acme-prod/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent');
    expect(decide(`  - {id: none, effect: allow, when: 'size(llm.path_params) == 0'}\n`).decision).toMatchObject({ effect: 'allow' });
    // Guarded by the API, a rule about Vertex AI projects does not fail on other APIs' requests.
    expect(decide(rules).decision).toMatchObject({ effect: 'allow', rule: 'any' });
  });
});
