/**
 * A CEL expression outside a policy file (a quota's subject key) and the policy functions, cases
 * no unit test decided: syntax errors, problems and a wrong result type refused at load, `quota`
 * not readable while quotas are computed, the values of the variables an expression reads; the
 * SPIFFE ID helpers on IDs without a path, without a trust domain or not SPIFFE at all, globAny
 * on a list that matches nothing or holds a non-string, and the bound of the regex cache.
 */
import { describe, expect, it } from 'vitest';
import { T } from '../../src/policy/cel-types.ts';
import { compileExpression } from '../../src/policy/expression.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { RegexCache } from '../../src/policy/functions.ts';
import { unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

function input(workload = 'spiffe://demo.example/ns/apps/sa/chat-app') {
  return decisionInputOf(decisionFixture.parse({ identity: { workload, user: 'alice' }, request: {}, llm: { model: 'gpt-4o-mini' } }), providers);
}

/** The value of `text` (an expression of type `result`) for a request from `workload`. */
function evaluated(text: string, workload?: string, result = T.string): unknown {
  const c = compileExpression(text, result);
  if (!c.ok) throw new Error(`does not compile: ${JSON.stringify(c.problems)}`);
  return c.evaluate(input(workload), NOW);
}

function problemsOf(text: string, result = T.string) {
  const c = compileExpression(text, result);
  return c.ok ? [] : c.problems;
}

describe('an expression outside a policy file', () => {
  it('a syntax error is one problem naming it', () => {
    expect(problemsOf('identity.')).toEqual([{ offset: 0, message: 'syntax error: found . but expecting end of input' }]);
    expect(problemsOf('llm.model +')).toEqual([{ offset: 0, message: 'syntax error: found + but expecting end of input' }]);
    // The parser's `<input>:line:column: ` prefix is dropped for any line and column.
    expect(problemsOf(`${'\n'.repeat(11)}          identity.`)).toEqual([{ offset: 0, message: 'syntax error: found . but expecting end of input' }]);
  });

  it("the checker's problems are returned as they are, with their offsets", () => {
    expect(problemsOf('identity.user == 1')).toEqual([{ offset: 14, message: 'cannot compare a string with an int' }]);
    expect(problemsOf('identiy.user')).toEqual([{ offset: 0, message: "unknown variable 'identiy' (did you mean 'identity'?)" }]);
  });

  it('a value of the wrong type is refused, named with its article', () => {
    expect(problemsOf('size(llm.model)')).toEqual([{ offset: 0, message: 'the expression is an int, not a string' }]);
    expect(problemsOf('[llm.model]')).toEqual([{ offset: 0, message: 'the expression is a list(string), not a string' }]);
    expect(problemsOf('llm.message_count', T.uint)).toEqual([{ offset: 0, message: 'the expression is an int, not a uint' }]);
    expect(problemsOf('1u')).toEqual([{ offset: 0, message: 'the expression is a uint, not a string' }]);
    expect(problemsOf('llm.model', T.int)).toEqual([{ offset: 0, message: 'the expression is a string, not an int' }]);
  });

  it('quota is not readable (it is being computed), and not offered as a suggestion', () => {
    expect(problemsOf(`quota['a'].tokens`)).toEqual([{ offset: 0, message: "unknown variable 'quota'" }]);
    expect(problemsOf('quot')).toEqual([{ offset: 0, message: "unknown variable 'quot'" }]);
  });

  it('evaluates to the values of the variables it reads', () => {
    expect(evaluated(`identity.user + '/' + llm.model + '/' + request.method`)).toBe('alice/gpt-4o-mini/POST');
    expect(evaluated('identity.workload')).toBe('spiffe://demo.example/ns/apps/sa/chat-app');
    expect(evaluated('string(now)')).toBe('2026-03-01T09:00:00Z');
  });

  it('an evaluation error gives undefined', () => {
    expect(evaluated('llm.tools[5]')).toBeUndefined();
  });
});

describe('SPIFFE ID helpers', () => {
  it.each([
    ['spiffe://Demo.Example/ns/apps', 'demo.example', '/ns/apps'],
    ['spiffe://Demo.Example', 'demo.example', ''],
    ['spiffe://demo.example/', 'demo.example', '/'],
    ['spiffe:///ns/apps', '', ''],
    ['https://demo.example/ns/apps', '', ''],
  ])('%s: trust domain %j, path %j', (id, domain, path) => {
    expect(evaluated('identity.workload.spiffeTrustDomain()', id)).toBe(domain);
    expect(evaluated('identity.workload.spiffePath()', id)).toBe(path);
  });
});

describe('globAny', () => {
  it('is false when no pattern matches, and skips entries that are not strings', () => {
    expect(evaluated(`llm.model.globAny(['claude-*', 'gpt-3*'])`, undefined, T.bool)).toBe(false);
    expect(evaluated(`llm.model.globAny(['gpt-4o-*'])`, undefined, T.bool)).toBe(true);
    expect(evaluated(`llm.model.globAny([1, 'gpt-*'])`, undefined, T.bool)).toBe(true);
    expect(evaluated(`llm.model.globAny([dyn(1)])`, undefined, T.bool)).toBe(false);
  });
});

describe('the regex cache', () => {
  it('holds at most its bound: reaching it starts over', () => {
    const cache = new RegexCache(2);
    cache.compile('a');
    cache.compile('b');
    expect(cache.size).toBe(2);
    cache.compile('a');
    expect(cache.size).toBe(2);
    const c = cache.compile('c');
    expect(cache.size).toBe(1);
    expect(c.test('xcx')).toBe(true);
  });
});
