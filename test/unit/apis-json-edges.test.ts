/**
 * The JSON scanner and the typed field reads of a request body at their edges
 * (src/apis/bodies/json-scan.ts, json-view.ts, fields.ts): the cases a mutation run of
 * `npm run mutate` showed no unit test deciding. Every JSON whitespace character and none other,
 * escaped quotes and backslashes in skipped text (where a key could hide), the nesting bound at
 * its edge, the first of several repeated keys, the integer, number, string and model-name bounds
 * at their edges, and the detail each refusal gives.
 */
import { describe, expect, it } from 'vitest';
import { arrayElements, kindOf, MAX_DEPTH, objectMembers, skipValue, skipValueCounting, wholeValue } from '../../src/apis/bodies/json-scan.ts';
import { MAX_MODEL_LENGTH } from '../../src/apis/bodies/fields.ts';
import { MAX_FIELD_STRING } from '../../src/apis/bodies/json-view.ts';
import { understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };
const chatText = (body: string) => understand(ctxOf({ headers: json, body }));
const chat = (extra: Record<string, unknown>) => chatText(JSON.stringify({ model: 'm', messages: [], ...extra }));
const malformed = (detail: string) => ({ ok: false, reason: 'malformed_body', detail });
const refused = (detail: string) => ({ ok: false, reason: 'invalid_field', detail });
const whole = (s: string) => ({ start: 0, end: s.length });

describe('whitespace', () => {
  it('is space, tab, line feed and carriage return, around every token', () => {
    const body = '\t\r\n {\t"model"\r:\n"m"\t,\r\n"messages"\t:\r[\t1\r,\n{\t}\r]\n,"stream"\t:\rtrue\n}\t\r\n ';
    expect(chatText(body)).toMatchObject({ ok: true, value: { model: 'm', messageCount: 2, stream: true } });
  });

  it.each([
    ['form feed', '\f'],
    ['vertical tab', '\v'],
    ['NUL', '\u0000'],
    ['no-break space', '\u00a0'],
  ])('%s is not whitespace', (_name, c) => {
    expect(chatText(`{"model":"m",${c}"messages":[]}`)).toMatchObject({ ok: false, reason: 'malformed_body' });
    expect(chatText(`{"model":"m","messages":[${c}]}`)).toMatchObject({ ok: false, reason: 'malformed_body' });
    expect(wholeValue(`${c}{}`).ok).toBe(false);
  });
});

describe('strings skipped without decoding', () => {
  it('end at the first quote not escaped, however many backslashes come before it', () => {
    // A key written inside prompt text is text: the model is the top-level one.
    const hidden = '{"messages":[{"content":"a \\"model\\":\\"x\\", \\\\\\"model\\\\\\": \\\\"}],"model":"m"}';
    expect(JSON.parse(hidden)).toEqual({ messages: [{ content: 'a "model":"x", \\"model\\": \\' }], model: 'm' });
    expect(chatText(hidden)).toMatchObject({ ok: true, value: { model: 'm', messageCount: 1 } });
    // A string ending in an escaped backslash ends at its quote: the key after it is seen.
    const afterBackslash = '{"messages":[{"content":"\\\\"}],"model":"m","model":"n"}';
    expect(chatText(afterBackslash)).toMatchObject({ ok: false, reason: 'ambiguous_model' });
  });

  it('report an unterminated string', () => {
    expect(chatText('{"model":"m","messages":[{"content":"a\\"}]}')).toMatchObject(malformed('unterminated string'));
    expect(chatText('{"model":"m","messages":[],"x\\":1}')).toMatchObject(malformed('unterminated string'));
    expect(chatText('"abc')).toMatchObject(malformed('unterminated string'));
  });
});

describe('nesting', () => {
  const nested = (n: number) => `{"model":"m","messages":${'['.repeat(n)}${']'.repeat(n)}}`;
  it(`is read to ${MAX_DEPTH} levels in a member of the body, and refused one deeper`, () => {
    expect(chatText(nested(MAX_DEPTH))).toMatchObject({ ok: true, value: { messageCount: 1 } });
    expect(chatText(nested(MAX_DEPTH + 1))).toMatchObject(malformed(`nesting deeper than ${MAX_DEPTH}`));
    const deep = '['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1);
    expect(skipValue(deep, 0)).toEqual({ ok: false, error: 'nesting deeper than 128' });
    expect(skipValue(`${'{"a":'.repeat(MAX_DEPTH + 1)}1${'}'.repeat(MAX_DEPTH + 1)}`, 0)).toEqual({ ok: false, error: 'nesting deeper than 128' });
  });

  it('counts the direct elements of an array or object, not the nested ones', () => {
    expect(skipValueCounting(' [[1,2],{"a":[3]},4] ', 0)).toEqual({ ok: true, value: { end: 20, count: 3 } });
    expect(skipValueCounting('{"a":{"b":1,"c":2},"d":[]}', 0)).toEqual({ ok: true, value: { end: 26, count: 2 } });
    expect(skipValueCounting('"x"', 0)).toEqual({ ok: true, value: { end: 3, count: 0 } });
    expect(skipValueCounting('[]', 0)).toEqual({ ok: true, value: { end: 2, count: 0 } });
  });
});

describe('structure errors name what was wrong and where', () => {
  it.each([
    ['{"a":1,}', 'expected a string key'],
    ['{1:2}', 'expected a string key'],
    ['{"a" 1}', 'expected a colon'],
    ['{"a":1', 'unexpected end of data'],
    ['{"a":1 2}', 'unexpected character at offset 7'],
    ['{"a":tru}', 'unexpected character at offset 5'],
    ['{"a":1}}', 'unexpected data after the JSON value at offset 7'],
    ['{"\\x":1}', 'invalid string escape in a key'],
    ['{"a":{"b" 1}}', 'expected a string key and a colon'],
    ['{"a":{"b":1,}}', 'expected a string key and a colon'],
    ['{"a":{1:1}}', 'expected a string key and a colon'],
    ['{"a":{"b:1}}', 'expected a string key and a colon'],
    ['{"a":{1":2}}', 'expected a string key and a colon'],
    ['{"a":{"b":1,"c:1}}', 'expected a string key and a colon'],
    ['{"a":{"b":1', 'unexpected end of data'],
    ['{"a":[1 2]}', 'unexpected character at offset 8'],
    ['{"a":[1}', 'unexpected character at offset 7'],
    ['{"a":{"b":1]}', 'unexpected character at offset 11'],
    // A value expected where the text ends: its end, not a character, is what is wrong.
    ['[1,', 'unexpected end of data'],
    ['{"model":"m","messages":[', 'unexpected end of data'],
    ['{"a":', 'unexpected end of data'],
    ['{"a":[1,]}', 'unexpected character at offset 8'],
    ['  [1]  x', 'unexpected data after the JSON value at offset 5'],
  ])('%s: %s', (body, detail) => {
    expect(chatText(body)).toMatchObject(malformed(detail));
  });

  it('a whole value other than an object is a wrong field, not a malformed body', () => {
    expect(chatText(' [1] ')).toMatchObject(refused('the body must be a JSON object'));
    expect(chatText('null')).toMatchObject(refused('the body must be a JSON object'));
  });

  it('an empty object is read as one without members', () => {
    expect(chatText(' { } ')).toMatchObject(refused("'messages' is required"));
    expect(chatText('{"model":"m","messages":[],"tools":[{ }]}')).toMatchObject(refused("'tools[0].function' is required"));
  });

  it('a whole value is found with its span, without the space around it', () => {
    expect(wholeValue(' [1] ')).toEqual({ ok: true, value: { start: 1, end: 4 } });
  });

  it('space after the body is not trailing data', () => {
    expect(chatText('{"model":"m","messages":[]} \r\n\t')).toMatchObject({ ok: true });
  });

  it('the scanner refuses a value that is not the kind asked for', () => {
    expect(objectMembers('[1]', whole('[1]'))).toEqual({ ok: false, error: 'expected an object' });
    expect(arrayElements('{}', whole('{}'))).toEqual({ ok: false, error: 'expected an array' });
    expect(arrayElements(' [ 1 , "]" , {} ] ', whole(' [ 1 , "]" , {} ] '))).toEqual({
      ok: true,
      value: [
        { start: 3, end: 4 },
        { start: 7, end: 10 },
        { start: 13, end: 15 },
      ],
    });
    expect(arrayElements('[1 2]', whole('[1 2]'))).toEqual({ ok: false, error: 'unexpected character at offset 3' });
    expect(arrayElements('[1', whole('[1'))).toEqual({ ok: false, error: 'unexpected end of data' });
    expect(arrayElements('[1,}', whole('[1,}'))).toEqual({ ok: false, error: 'unexpected character at offset 3' });
    expect(objectMembers('{"a":1 "b":2}', whole('{"a":1 "b":2}'))).toEqual({ ok: false, error: 'unexpected character at offset 7' });
    expect(objectMembers('{"a:1}', whole('{"a:1}'))).toEqual({ ok: false, error: 'unterminated string' });
    expect(objectMembers('{"a":[}', whole('{"a":[}'))).toEqual({ ok: false, error: 'unexpected character at offset 6' });
  });

  it('kinds are told by the first character', () => {
    const s = '[{},[],"s",1,-1,true,false,null]';
    const r = arrayElements(s, whole(s));
    expect(r.ok && r.value.map((e) => kindOf(s, e))).toEqual(['object', 'array', 'string', 'number', 'number', 'boolean', 'boolean', 'null']);
  });
});

describe('an object opened below the body', () => {
  it('whose key the body scan skipped but cannot decode (an invalid escape) is refused, named by its path', () => {
    expect(chatText('{"model":"m","messages":[],"tools":[{"\\x":1}]}')).toMatchObject(refused("'tools[0]' must be an object"));
    expect(chatText('{"model":"m","messages":[],"tool_choice":{"\\x":1}}')).toMatchObject(refused("'tool_choice' must be an object"));
    // The check can fail: the same objects with a decodable key are read.
    expect(chatText('{"model":"m","messages":[],"tools":[{"type":"function","\\n":1,"function":{"name":"a"}}]}')).toMatchObject({ ok: true, value: { tools: ['a'] } });
  });
});

describe('repeated keys', () => {
  it('names the first key given twice', () => {
    const s = '{"a":1,"b":2,"b":3,"a":4}';
    expect(objectMembers(s, whole(s))).toMatchObject({ ok: true, value: { duplicate: 'b' } });
    expect(chatText('{"model":"m","messages":[],"b":2,"b":3,"messages":[]}')).toMatchObject({ ok: false, reason: 'ambiguous_field', detail: "'b' appears more than once" });
  });

  it('a key repeated in an element of a list is named with its index', () => {
    expect(chatText('{"model":"m","messages":[],"tools":[{"type":"function","type":"web_search","function":{"name":"a"}}]}')).toMatchObject({
      ok: false,
      reason: 'ambiguous_field',
      detail: "'tools[0].type' appears more than once",
    });
  });

  it('a model key repeated inside a nested object is an ambiguous field, not an ambiguous model', () => {
    expect(chatText('{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"a","model":"x","model":"y"}}]}')).toMatchObject({
      ok: false,
      reason: 'ambiguous_field',
      detail: "'tools[0].function.model' appears more than once",
    });
    expect(chatText('{"model":"m","messages":[],"model":"n"}')).toMatchObject({ ok: false, reason: 'ambiguous_model', detail: "'model' appears more than once" });
  });
});

describe('typed reads', () => {
  it('a positive integer: 1 and the largest safe integer are; 0, a fraction, an exponent and beyond 2^53 are not', () => {
    expect(chat({ max_tokens: 1 })).toMatchObject({ ok: true, value: { maxTokens: 1 } });
    expect(chat({ max_tokens: Number.MAX_SAFE_INTEGER })).toMatchObject({ ok: true, value: { maxTokens: Number.MAX_SAFE_INTEGER } });
    for (const v of ['0', '-1', '1.0', '1E3', '1e3', '2E+2', '9007199254740993', '"5"']) {
      const detail = v === '"5"' ? "'max_tokens' must be a number" : "'max_tokens' must be a positive integer";
      expect(chatText(`{"model":"m","messages":[],"max_tokens":${v}}`), v).toMatchObject(refused(detail));
    }
  });

  it('a number must be finite', () => {
    expect(chatText('{"model":"m","messages":[],"temperature":1e999}')).toMatchObject(refused("'temperature' must be a finite number"));
    expect(chatText('{"model":"m","messages":[],"temperature":-0.5e1}')).toMatchObject({ ok: true, value: { temperature: -5 } });
    // Every JSON number form: several fraction and exponent digits, a signed exponent.
    for (const [text, v] of [
      ['0.125', 0.125],
      ['10.75', 10.75],
      ['1.5E+2', 150],
      ['25e-2', 0.25],
      ['-0', -0],
    ] as const) {
      expect(chatText(`{"model":"m","messages":[],"temperature":${text}}`), text).toMatchObject({ ok: true, value: { temperature: v } });
    }
    for (const text of ['01', '1.', '.5', '1e', '+1', '-', '1e+']) {
      expect(chatText(`{"model":"m","messages":[],"temperature":${text}}`), text).toMatchObject({ ok: false, reason: 'malformed_body' });
    }
  });

  it('a boolean is true or false', () => {
    expect(chat({ stream: false })).toMatchObject({ ok: true, value: { stream: false } });
    expect(chat({ stream: true })).toMatchObject({ ok: true, value: { stream: true } });
    expect(chat({ stream: 0 })).toMatchObject(refused("'stream' must be a boolean"));
  });

  it(`a string field holds at most ${MAX_FIELD_STRING} characters, once decoded, and valid escapes`, () => {
    expect(chat({ user: 'u'.repeat(MAX_FIELD_STRING) })).toMatchObject({ ok: true, value: { endUser: 'u'.repeat(MAX_FIELD_STRING) } });
    expect(chat({ user: 'u'.repeat(MAX_FIELD_STRING + 1) })).toMatchObject(refused("'user' is longer than 512 characters"));
    expect(chatText(`{"model":"m","messages":[],"user":"${'\\u0075'.repeat(MAX_FIELD_STRING)}"}`)).toMatchObject({ ok: true, value: { endUser: 'u'.repeat(MAX_FIELD_STRING) } });
    expect(chatText('{"model":"\\x","messages":[]}')).toMatchObject(refused("'model' must be a valid string"));
    expect(chatText('{"model":"m","messages":[],"user":"\\u12"}')).toMatchObject(refused("'user' must be a valid string"));
  });

  it('a null member is absent, also in nested objects', () => {
    expect(chat({ tools: [{ type: null, function: { name: 'a' } }] })).toMatchObject({ ok: true, value: { tools: ['a'] } });
  });
});

describe('model names', () => {
  const detail = `'model' must be a non-empty model name of at most ${MAX_MODEL_LENGTH} characters`;
  it(`are non-empty, at most ${MAX_MODEL_LENGTH} characters, without control characters`, () => {
    expect(chat({ model: 'm'.repeat(MAX_MODEL_LENGTH) })).toMatchObject({ ok: true, value: { model: 'm'.repeat(MAX_MODEL_LENGTH) } });
    expect(chat({ model: 'a b~é' })).toMatchObject({ ok: true, value: { model: 'a b~é' } });
    for (const m of ['', 'm'.repeat(MAX_MODEL_LENGTH + 1), 'a\u0000b', 'a\u001fb', 'a\nb', 'a\u007fb']) {
      expect(chat({ model: m }), JSON.stringify(m)).toMatchObject(refused(detail));
    }
  });
});
