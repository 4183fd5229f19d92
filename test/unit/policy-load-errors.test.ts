/**
 * Golden files: each folder under test/fixtures/policies/broken is a policy set with mistakes;
 * expected-errors.txt lists every problem with its file:line:col, all reported at once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePolicySet, loadPolicySet, PolicyLoadError } from '../../src/policy/policy-set.ts';

const BASE = 'test/fixtures/policies/broken';
const providers = { byName: new Map(), credentials: new Map(), defaultByApi: new Map(), list: [], close: () => undefined };

describe('policy sets with mistakes are rejected whole, every problem with file:line:col', () => {
  const cases = readdirSync(BASE).sort();
  it('has the golden cases the acceptance names', () => {
    for (const c of ['unknown-variable', 'unknown-field', 'unknown-function', 'wrong-type', 'non-bool', 'duplicate-id', 'bad-yaml', 'syntax-error']) {
      expect(cases).toContain(c);
    }
  });
  for (const c of cases) {
    it(c, () => {
      const dir = path.join(BASE, c);
      const expected = readFileSync(path.join(dir, 'expected-errors.txt'), 'utf8').trimEnd().split('\n');
      let problems: readonly string[] | undefined;
      try {
        loadPolicySet(dir, { providers, reservedHeaders: ['x-llm-authz-route'] });
      } catch (err) {
        expect(err).toBeInstanceOf(PolicyLoadError);
        problems = (err as PolicyLoadError).problems;
      }
      expect(problems).toEqual(expected);
    });
  }

  it('reports all problems of all files at once', () => {
    const expected = readFileSync(path.join(BASE, 'accumulate', 'expected-errors.txt'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(expected.length).toBeGreaterThanOrEqual(6);
    expect(new Set(expected.map((l) => l.split(':')[0]))).toEqual(new Set([`${BASE}/accumulate/a.yaml`, `${BASE}/accumulate/b.yaml`]));
  });

  it('bounds expression size and nesting at load', () => {
    const problemsOf = (when: string): readonly string[] => {
      try {
        compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n  - id: r\n    effect: deny\n    when: ${JSON.stringify(when)}\n` }], { providers });
        return [];
      } catch (err) {
        return (err as PolicyLoadError).problems;
      }
    };
    expect(problemsOf(`${'llm.stream && ('.repeat(40)}llm.stream${')'.repeat(40)}`)).toEqual([
      expect.stringMatching(/^mem\/p\.yaml:4:\d+: rules\[0\]\.when: the expression is nested more than 32 levels deep$/),
    ]);
    expect(problemsOf(`${'('.repeat(2040)}true${')'.repeat(2040)}`)).toEqual(['mem/p.yaml:4:12: rules[0].when: the expression is nested too deeply to parse']);
    expect(problemsOf(`llm.model == "${'x'.repeat(5000)}"`)).toEqual(['mem/p.yaml:4:11: rules[0].when: expected at most 4096 characters']);
  });
});
