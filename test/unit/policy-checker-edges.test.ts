/**
 * The load-time checker of `when` expressions at its edges, cases no unit test decided: selecting
 * from maps and scalars, map and list literals, comprehensions over lists, maps and declared
 * objects, the operand types of !, &&, ?:, !=, [] and in, calls with the wrong arity or receiver,
 * result types of functions, and which comparisons are allowed. Each refusal is asserted with the
 * exact text and line:column the policy author reads.
 */
import { describe, expect, it } from 'vitest';
import { compilePolicySet, PolicyLoadError } from '../../src/policy/policy-set.ts';
import { unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();

/** The problems of a one-rule policy set whose `when` is `expr` ([] when it loads). */
function problemsOf(expr: string): readonly string[] {
  try {
    compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n  - {id: r, effect: allow, when: ${JSON.stringify(expr)}}\n` }], { providers });
    return [];
  } catch (err) {
    if (err instanceof PolicyLoadError) return err.problems;
    throw err;
  }
}

/** The expression text starts at column 35 of line 2; a field selection is placed at its dot. */
const at = (col: number, message: string): string => `mem/p.yaml:2:${col}: rules[0].when: ${message}`;

describe('refused at load, with the place and the reason', () => {
  it.each([
    // variables and field selection
    [`identiy.user == 'a'`, at(35, `unknown variable 'identiy' (did you mean 'identity'?)`)],
    [`{1: 'a'}.x == 'a'`, at(43, `cannot select 'x' of map(int, string)`)],
    [`llm.model.x == 'a'`, at(44, `cannot select field 'x' of a string`)],
    [`google.protobuf.Duration{seconds: 1} == duration('1s')`, at(35, 'message construction (google.protobuf.Duration) is not supported in policies')],
    // map literals: key and value types
    [`{'a': 1}['a'] == 'x'`, at(49, 'cannot compare an int with a string')],
    [`{1: 'a'}['k'] == 'a'`, at(43, 'a key of map(int, string) cannot be a string')],
    // comprehensions: what is iterated, and the type of the loop variable
    [`llm.model.all(c, true)`, at(38, 'cannot iterate over a string')],
    [`identity.scopes.exists(k, k == 1)`, at(63, 'cannot compare a string with an int')],
    [`request.headers.exists(k, k == 1)`, at(63, 'cannot compare a string with an int')],
    [`llm.tools.exists(t, t == 1)`, at(57, 'cannot compare a string with an int')],
    // logical operators and the conditional
    [`!llm.model`, at(39, 'operand of ! is a string, not a bool')],
    [`llm.model && true`, at(38, 'operand of && is a string, not a bool')],
    [`true || llm.stream || llm.model`, at(60, 'operand of || is a string, not a bool')],
    [`llm.model ? true : false`, at(38, 'the condition is a string, not a bool')],
    [`(true ? 1 : 2) == 'x'`, at(50, 'cannot compare an int with a string')],
    [`llm.model != 1`, at(45, 'cannot compare a string with an int')],
    // indexing
    [`llm.tools['a'] == 'x'`, at(44, 'a list index must be an int, not a string')],
    [`llm.tools[0] == 1`, at(48, 'cannot compare a string with an int')],
    [`request.headers[1] == 'a'`, at(50, 'a key of map(string, string) cannot be an int')],
    [`request.headers['a'] == 1`, at(56, 'cannot compare a string with an int')],
    [`identity.scopes[1] == 'a'`, at(50, 'a field name must be a string, not an int')],
    [`llm.model[0] == 'a'`, at(44, 'cannot index a string')],
    // membership
    [`1 in llm.tools`, at(37, 'an int is never in a list(string)')],
    [`1 in request.headers`, at(37, 'an int is never a key of map(string, string)')],
    [`'a' in llm.model`, at(39, `'in' needs a list or a map, not a string`)],
    // calls: arity, function or method, receiver type, result type
    [`llm.model.matches()`, at(44, `'matches' is not a method with 0 arguments`)],
    [`llm.model.startsWith()`, at(44, `'startsWith' is not a method with 0 arguments`)],
    [`size() == 1`, at(35, `'size' is not called as a function with 0 arguments`)],
    [`size(1, 2) == 1`, at(35, `'size' is not called as a function with 2 arguments`)],
    [`size('a', 'b', 'c') == 1`, at(35, `'size' is not called as a function with 3 arguments`)],
    [`startsWith(llm.model, 'a')`, at(35, `'startsWith' is not called as a function with 2 arguments`)],
    [`llm.tools.startsWith('a')`, at(44, `no overload of 'startsWith' takes list(string).startsWith(string)`)],
    [`size(1) == 1`, at(35, `no overload of 'size' takes size(int)`)],
    [`size(llm.model) == 'x'`, at(51, 'cannot compare an int with a string')],
    [`llm.model.startWith('a')`, at(44, `unknown function 'startWith' (did you mean 'startsWith'?)`)],
    [`startWith(llm.model, 'a')`, at(35, `unknown function 'startWith'`)],
    // a local variable hides a type's package and a function's namespace
    [`[1].exists(google, type(now) == google.protobuf.Timestamp)`, at(73, `cannot select field 'protobuf' of an int`)],
    [`['a'].exists(strings, strings.quote('x') == 'y')`, at(64, `unknown function 'quote'`)],
    // the types of constants
    [`true == 'a'`, at(40, 'cannot compare a bool with a string')],
    [`1u == 'a'`, at(38, 'cannot compare a uint with a string')],
    [`1.5 == 'a'`, at(39, 'cannot compare a double with a string')],
    [`b'a' == 'a'`, at(40, 'cannot compare a bytes with a string')],
    // list literals: a shared element type
    [`[1, 2][0] == 'x'`, at(45, 'cannot compare an int with a string')],
    // library types of function results
    [`duration('1s') == now`, at(50, 'cannot compare a duration with a timestamp')],
    [`timestamp('2026-01-01T00:00:00Z') == 1`, at(69, 'cannot compare a timestamp with an int')],
    // compound types compare by their parts
    [`request.headers == {'a': 1}`, at(51, 'cannot compare a map(string, string) with a map(string, int)')],
    [`request.headers == {1: 'a'}`, at(51, 'cannot compare a map(string, string) with a map(int, string)')],
    [`llm.tools == [1]`, at(45, 'cannot compare a list(string) with a list(int)')],
    // the names the messages give
    [`'a' in null`, at(39, `'in' needs a list or a map, not a null_type`)],
    [`llm.model.size(1) == 1`, at(44, `'size' is not a method with 1 argument`)],
    [`llm.model.matches(1)`, at(44, `no overload of 'matches' takes string.matches(int)`)],
    [`llm.model.matches(b'(')`, at(44, `no overload of 'matches' takes string.matches(bytes)`)],
  ])('%s', (expr, problem) => {
    expect(problemsOf(expr)).toEqual([problem]);
  });

  it('a uint is "a uint" where a whole expression is of the wrong type', () => {
    expect(problemsOf('1u')).toEqual(['mem/p.yaml:2:35: rules[0].when: the expression is a uint, not a bool']);
    expect(problemsOf('identity')).toEqual(['mem/p.yaml:2:35: rules[0].when: the expression is an identity, not a bool']);
  });

  it('a method of an unknown name on an unknown variable: both named, not taken for a namespace', () => {
    expect(problemsOf('foo.bar(1)')).toEqual([at(35, "unknown variable 'foo'"), at(38, "unknown function 'bar'")]);
  });
});

describe('accepted at load (each near a refusal above)', () => {
  it.each([
    `llm.model.startsWith('(')`, // only a constant pattern of matches() is compiled as a regular expression
    `llm.model.matches(llm.model)`,
    `llm.model == null`,
    `null != llm.model`,
    `llm.max_tokens == 1.0`,
    `1u == llm.message_count`,
    `dyn(llm.model) == 1`,
    `strings.quote(llm.model) == 'a'`,
    `'ab'.startsWith('a')`,
    `[1, 'a'][0] == 'x'`, // mixed elements: the element type is dyn
    `['a', 1][0] == 'x'`,
    `{'a': 1, 'b': 'x'}['a'] == 'x'`, // mixed values: the value type is dyn
    `{'a': 'x', 'b': 1}['a'] == 'x'`,
    `(true ? 1 : 'a') == 'x'`, // branches of different types: dyn
    `dyn(1) + dyn(2) == 'x'`, // several overloads match: their results joined
    `request.headers == {'a': 'b'}`,
    `llm.tools == ['a']`,
    `{'a': 1, 1: 2}[true] == 1`, // mixed keys: the key type is dyn
    `llm.tools[1.0] == 'a'`,
    `identity.scopes.exists(k, k == 'models')`,
    `request.headers.exists(k, k == 'x-team')`,
    `dyn(llm.model) && true`,
    `type(now) == google.protobuf.Timestamp`,
    `request.headers.x == 'a'`,
    `{'a': [1]}['a'][0] == 1`,
  ])('%s', (expr) => {
    expect(problemsOf(expr)).toEqual([]);
  });
});

describe('nesting is bounded through every kind of expression', () => {
  const NESTED = /^mem\/p\.yaml:2:\d+: rules\[0\]\.when: the expression is nested more than 32 levels deep$/;

  it('32 levels load, 33 do not', () => {
    // `a && (b && (...))`: the innermost `llm.stream` selects at depth k from `llm` at depth k + 1.
    const chain = (k: number): string => `${'llm.stream && ('.repeat(k)}llm.stream${')'.repeat(k)}`;
    expect(problemsOf(chain(31))).toEqual([]);
    expect(problemsOf(chain(32))).toEqual([expect.stringMatching(NESTED)]);
  });

  it.each([
    ['method receivers', `llm.model${'.lowerAscii()'.repeat(40)} == ''`],
    ['field selections', `dyn(llm)${'.a'.repeat(40)} == 1`],
    ['list literals', `${'['.repeat(40)}1${']'.repeat(40)} == []`],
    ['map literal values', `${"{'a': ".repeat(40)}1${'}'.repeat(40)} == {}`],
    ['map literal keys', `${'{'.repeat(40)}1${': 1}'.repeat(40)} == {}`],
    ['comprehension ranges', `[1]${'.map(a, 1)'.repeat(40)} == []`],
    ['comprehension steps', `${'[1].exists(a, '.repeat(40)}true${')'.repeat(40)}`],
  ])('%s', (_, expr) => {
    expect(problemsOf(expr)).toEqual([expect.stringMatching(NESTED)]);
  });
});
