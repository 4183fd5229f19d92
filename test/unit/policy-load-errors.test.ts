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
  it('(test table) has the golden cases the acceptance names', () => {
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

  it.each(['accumulate', 'accumulate-kinds'])('reports all problems of all files at once, in file order (%s)', (c) => {
    const dir = path.join(BASE, c);
    const files = readdirSync(dir)
      .filter((n) => n.endsWith('.yaml'))
      .sort();
    expect(files.length, 'the fixture has several files').toBeGreaterThanOrEqual(2);
    let problems: readonly string[] = [];
    try {
      loadPolicySet(dir, { providers, reservedHeaders: ['x-llm-authz-route'] });
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyLoadError);
      problems = (err as PolicyLoadError).problems;
    }
    // Every file of the fixture has a problem, and each is reported: loading goes on past a bad file.
    const fileOf = (p: string): string => path.basename(p.split(':')[0] ?? '');
    expect([...new Set(problems.map(fileOf))]).toEqual(files);
    expect(problems.length).toBeGreaterThan(files.length);
  });

  it('(test table) accumulate-kinds has a YAML error, a schema error and CEL/obligation errors, each in its own file', () => {
    const expected = readFileSync(path.join(BASE, 'accumulate-kinds', 'expected-errors.txt'), 'utf8');
    expect(expected).toMatch(/a\.yaml:\d+:\d+: Map keys must be unique/);
    expect(expected).toMatch(/b\.yaml:\d+:\d+: rules\[0\]\.effect: /);
    expect(expected).toMatch(/c\.yaml:\d+:\d+: rules\[0\]\.when: unknown field/);
    expect(expected).toMatch(/d\.yaml:\d+:\d+: rules\[0\]\.id: duplicate rule id 'shared'/);
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
