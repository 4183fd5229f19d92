/**
 * ProcessingRequest -> event (src/envoy/processing-request.ts), for the cases a mutation run of
 * `npm run mutate` showed no unit test deciding: messages with parts missing or of the wrong type
 * read as empty (the outcome path never throws on them), the bounds on what is kept of the
 * response headers, and which of a repeated header and of raw_value/value is read.
 */
import { describe, expect, it } from 'vitest';
import { decisionMetadata, processingAttributes, processingEvent } from '../../src/envoy/processing-request.ts';

const headersMsg = (headers: unknown, endOfStream?: unknown) => ({ request: 'response_headers', response_headers: { headers: { headers }, end_of_stream: endOfStream } });
const headersOf = (raw: unknown): Map<string, string> => {
  const e = processingEvent(raw);
  if (e.kind !== 'headers') throw new Error(`not a headers event: ${e.kind}`);
  return e.headers as Map<string, string>;
};

describe('ProcessingRequest events', () => {
  it('reads messages with parts missing as empty, never throwing', () => {
    for (const raw of [undefined, null, 'x', {}, { request: 'request_headers' }]) expect(processingEvent(raw)).toEqual({ kind: 'other' });
    expect(processingEvent({ request: 'response_headers' })).toEqual({ kind: 'headers', headers: new Map(), endOfStream: false });
    expect(processingEvent({ request: 'response_headers', response_headers: { headers: null } })).toEqual({ kind: 'headers', headers: new Map(), endOfStream: false });
    expect(processingEvent(headersMsg('not a list'))).toMatchObject({ headers: new Map() });
    expect(processingEvent({ request: 'response_body' })).toEqual({ kind: 'body', body: Buffer.alloc(0), endOfStream: false });
    expect(processingEvent({ request: 'response_body', response_body: { body: 'text', end_of_stream: 'yes' } })).toEqual({
      kind: 'body',
      body: Buffer.alloc(0),
      endOfStream: false,
    });
    expect(processingEvent({ request: 'response_body', response_body: { body: Buffer.from('ab'), end_of_stream: true } })).toEqual({
      kind: 'body',
      body: Buffer.from('ab'),
      endOfStream: true,
    });
    expect(processingEvent({ request: 'response_trailers' })).toEqual({ kind: 'trailers' });
  });

  it('takes raw_value when it has bytes, else value; skips entries without a string key; keeps the first of a repeated header', () => {
    const h = headersOf(
      headersMsg(
        [
          { key: 'X-Raw', raw_value: Buffer.from('r') },
          { key: 'x-empty-raw', raw_value: Buffer.alloc(0), value: 'from-value' },
          { key: 'x-value', value: 'v' },
          { key: 'x-neither', value: 5 },
          { key: 7, value: 'no key' },
          { value: 'no key' },
          { key: 'x-raw', raw_value: Buffer.from('second') },
        ],
        true,
      ),
    );
    expect([...h]).toEqual([
      ['x-raw', 'r'],
      ['x-empty-raw', 'from-value'],
      ['x-value', 'v'],
      ['x-neither', ''],
    ]);
    expect(processingEvent(headersMsg([], true))).toMatchObject({ endOfStream: true });
  });

  it('keeps at most 128 headers and 1,024 bytes of a value', () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ key: `h${i}`, value: 'v' }));
    const h = headersOf(headersMsg(many));
    expect(h.size).toBe(128);
    expect(h.has('h127')).toBe(true);
    expect(h.has('h128')).toBe(false);
    const long = headersOf(
      headersMsg([
        { key: 'a', raw_value: Buffer.from('x'.repeat(5000)) },
        { key: 'b', value: 'y'.repeat(5000) },
      ]),
    );
    expect(long.get('a')).toHaveLength(1024);
    expect(long.get('b')).toHaveLength(1024);
  });
});

describe('metadata and attributes forwarded with a message', () => {
  it('reads the ext_authz namespace and the ext_proc attributes; empty when absent or of another namespace', () => {
    const struct = { fields: { decision_id: { stringValue: 'd-1' } } };
    expect(decisionMetadata({ metadata_context: { filter_metadata: { 'envoy.filters.http.ext_authz': struct } } })).toEqual({ decision_id: 'd-1' });
    expect(processingAttributes({ attributes: { 'envoy.filters.http.ext_proc': struct } })).toEqual({ decision_id: 'd-1' });
    for (const raw of [undefined, null, {}, { metadata_context: {} }, { metadata_context: { filter_metadata: { other: struct } } }]) expect(decisionMetadata(raw)).toEqual({});
    for (const raw of [undefined, null, {}, { attributes: { other: struct } }]) expect(processingAttributes(raw)).toEqual({});
  });
});
