/**
 * "Why not" explanations (`llm-authz check`, `llm-authz test`): cases no unit test decided. How a
 * `when` is split at its top-level `&&` (not inside strings, escaped quotes, lists, maps or calls),
 * which part is named as false (a part that errors is named with "(error)"), and which rule
 * results carry no such part: matched rules, rules that failed, rules of a single part, and
 * expressions whose parts do not stand alone.
 */
import { describe, expect, it } from 'vitest';
import { evaluatePolicySet, type RuleResult } from '../../src/policy/evaluate.ts';
import { decisionFixture, decisionInputOf } from '../../src/policy/fixture.ts';
import { compilePolicySet } from '../../src/policy/policy-set.ts';
import { conjuncts } from '../../src/policy/why-not.ts';
import { unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const NOW = Date.parse('2026-03-01T09:00:00Z');

describe('conjuncts', () => {
  it('splits at top-level && only', () => {
    expect(conjuncts('a==1&&b==2')).toEqual(['a==1', 'b==2']);
    expect(conjuncts(' a == 1 &&  b == 2 && c ')).toEqual(['a == 1', 'b == 2', 'c']);
    expect(conjuncts("x == 'p && q' && y")).toEqual(["x == 'p && q'", 'y']);
    expect(conjuncts('x == "p \\" && q" && y')).toEqual(['x == "p \\" && q"', 'y']);
    expect(conjuncts('[a && b][0] && y')).toEqual(['[a && b][0]', 'y']);
    expect(conjuncts('{"k": a && b}["k"] && y')).toEqual(['{"k": a && b}["k"]', 'y']);
    expect(conjuncts('f(a && b) && y')).toEqual(['f(a && b)', 'y']);
    expect(conjuncts('a || b')).toEqual(['a || b']);
  });
});

/** Each rule's result for the default request (model gpt-4o-mini), with explanations. */
function results(rules: string): readonly RuleResult[] {
  const set = compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n${rules}` }], { providers });
  const input = decisionInputOf(decisionFixture.parse({ identity: { workload: 'wl-a' }, request: {}, llm: { model: 'gpt-4o-mini' } }), providers);
  return evaluatePolicySet(set, input, NOW, { whyNot: true }).results;
}

describe('the false part of a rule that did not match', () => {
  it('names the first part that is not true, an erroring one with "(error)"', () => {
    const [first, erring] = results(
      `  - {id: r1, effect: allow, when: 'llm.model == "gpt-4o-mini" && llm.stream && llm.model == "x"'}\n` +
        `  - {id: r2, effect: allow, when: '[1][5] == 1 && llm.model == "x"'}\n`,
    );
    expect(first).toStrictEqual({ id: 'r1', effect: 'allow', outcome: 'not_matched', falseAt: 'llm.stream' });
    expect(erring).toStrictEqual({ id: 'r2', effect: 'allow', outcome: 'not_matched', falseAt: '[1][5] == 1 (error)' });
  });

  it('names nothing for a rule of one part, or whose parts do not parse alone', () => {
    const [single, ternary] = results(
      `  - {id: one, effect: allow, when: 'llm.model == "x"'}\n` + `  - {id: tern, effect: allow, when: 'llm.model == "x" ? true && false : false && false'}\n`,
    );
    expect(single).toStrictEqual({ id: 'one', effect: 'allow', outcome: 'not_matched' });
    expect(ternary).toStrictEqual({ id: 'tern', effect: 'allow', outcome: 'not_matched' });
  });

  it('names nothing on matched rules or on rules that failed to evaluate', () => {
    const [matched, failed] = results(`  - {id: yes, effect: allow, when: 'llm.model == "gpt-4o-mini" && true'}\n` + `  - {id: err, effect: deny, when: '[1][5] == 1 && true'}\n`);
    expect(matched).toStrictEqual({ id: 'yes', effect: 'allow', outcome: 'matched' });
    expect(failed?.outcome).toBe('error');
    expect(failed).not.toHaveProperty('falseAt');
  });
});
