/**
 * The CheckRequest decoder the server uses: the protobuf wire format read straight into the object
 * shape @grpc/proto-loader gives with llm-authz's options (proto.ts PROTO_LOADER_OPTIONS: field
 * names as in the .proto, bytes as Buffers, no defaults, plain objects for maps, `kind` on
 * google.protobuf.Value), for the fields request-context.ts reads; every other field is skipped
 * unread. It spends about a third less CPU and allocation per Check than protobufjs decoding the
 * whole message through the Envoy protos (bench/proto-h2/RESULTS.md).
 *
 * The contract, tested against proto-loader's decoding on generated and mutated requests
 * (test/unit/check-request-decoder.test.ts): parseCheckRequest gives the same RequestContext from
 * either decoding whenever both decode the message. A malformed message (truncated field, varint
 * too long, field number 0, group wire types, a declared field with another wire type, a field
 * running past its message) throws; the server answers it with INTERNAL, as it does a message
 * proto-loader cannot decode. Field numbers are Envoy's
 * (envoy/service/auth/v3/{external_auth,attribute_context}.proto, envoy/config/core/v3/
 * {address,base}.proto) and Google's (struct.proto); the test's generated requests set every field
 * read here, so a wrong number shows as a different RequestContext.
 */

import { ProtoReader as Reader } from '../core/proto-reader.ts';

type Obj = Record<string, unknown>;

/**
 * The fields each message declares in the protos, field number to wire type (0 varint, 1 64-bit,
 * 2 length-delimited), read here or not. A declared field arriving with another wire type is
 * refused (ProtoReader.skipField): protobufjs reads a field by its declared type whatever the wire says, so
 * it and a decoder that skipped the field by its wire type would see different requests.
 * test/unit/check-request-decoder.test.ts checks these tables against the loaded Envoy protos.
 */
export const DECLARED_FIELDS = {
  'envoy.service.auth.v3.CheckRequest': { 1: 2 },
  'envoy.service.auth.v3.AttributeContext': { 1: 2, 2: 2, 4: 2, 10: 2, 11: 2, 12: 2, 13: 2 },
  'envoy.service.auth.v3.AttributeContext.Peer': { 1: 2, 2: 2, 3: 2, 4: 2, 5: 2 },
  'envoy.service.auth.v3.AttributeContext.Request': { 1: 2, 2: 2 },
  'envoy.service.auth.v3.AttributeContext.HttpRequest': { 1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 2, 9: 0, 10: 2, 11: 2, 12: 2, 13: 2 },
  'envoy.service.auth.v3.AttributeContext.TLSSession': { 1: 2 },
  'envoy.config.core.v3.Address': { 1: 2, 2: 2, 3: 2 },
  'envoy.config.core.v3.SocketAddress': { 1: 0, 2: 2, 3: 0, 4: 2, 5: 2, 6: 0 },
  'envoy.config.core.v3.HeaderMap': { 1: 2 },
  'envoy.config.core.v3.HeaderValue': { 1: 2, 2: 2, 3: 2 },
  'envoy.config.core.v3.Metadata': { 1: 2, 2: 2 },
  'google.protobuf.Struct': { 1: 2 },
  'google.protobuf.Value': { 1: 0, 2: 1, 3: 2, 4: 0, 5: 2, 6: 2 },
  'google.protobuf.ListValue': { 1: 2 },
  /** A map entry: key (1) and value (2), both length-delimited in every map read here. */
  'map entry': { 1: 2, 2: 2 },
} as const satisfies Record<string, Readonly<Record<number, 0 | 1 | 2>>>;

/** A declared-fields table as an array by field number (-1: not declared). */
function wires(t: Readonly<Record<number, number>>): readonly number[] {
  const a: number[] = new Array<number>(32).fill(-1);
  for (const [n, w] of Object.entries(t)) a[Number(n)] = w;
  return a;
}
const CHECK_REQUEST = wires(DECLARED_FIELDS['envoy.service.auth.v3.CheckRequest']);
const ATTRIBUTES = wires(DECLARED_FIELDS['envoy.service.auth.v3.AttributeContext']);
const PEER = wires(DECLARED_FIELDS['envoy.service.auth.v3.AttributeContext.Peer']);
const REQUEST = wires(DECLARED_FIELDS['envoy.service.auth.v3.AttributeContext.Request']);
const HTTP = wires(DECLARED_FIELDS['envoy.service.auth.v3.AttributeContext.HttpRequest']);
const TLS = wires(DECLARED_FIELDS['envoy.service.auth.v3.AttributeContext.TLSSession']);
const ADDRESS = wires(DECLARED_FIELDS['envoy.config.core.v3.Address']);
const SOCKET_ADDRESS = wires(DECLARED_FIELDS['envoy.config.core.v3.SocketAddress']);
const HEADER_MAP = wires(DECLARED_FIELDS['envoy.config.core.v3.HeaderMap']);
const HEADER_VALUE = wires(DECLARED_FIELDS['envoy.config.core.v3.HeaderValue']);
const METADATA = wires(DECLARED_FIELDS['envoy.config.core.v3.Metadata']);
const STRUCT = wires(DECLARED_FIELDS['google.protobuf.Struct']);
const VALUE = wires(DECLARED_FIELDS['google.protobuf.Value']);
const LIST = wires(DECLARED_FIELDS['google.protobuf.ListValue']);
const ENTRY = wires(DECLARED_FIELDS['map entry']);
const STRING_ENTRY = ENTRY;

// Tags (field number << 3 | wire type) read below: 2 = length-delimited, 0 = varint, 1 = 64-bit.
const LEN = (n: number): number => (n << 3) | 2;
const VARINT = (n: number): number => n << 3;

/** The object at `o[key]`, made on first use (a map field's entries are collected into it). */
function child(o: Obj, key: string): Obj {
  const existing = o[key];
  if (existing !== undefined) return existing as Obj;
  const made: Obj = {};
  o[key] = made;
  return made;
}

/** A map<string, string> entry (key 1, value 2) ending at `end`, put into `into`. */
function stringEntry(r: Reader, end: number, into: Obj): void {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) key = r.string();
    else if (t === LEN(2)) value = r.string();
    else r.skipField(t, STRING_ENTRY);
  }
  r.ended(end);
  into[key] = value;
}

function socketAddress(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(2)) o['address'] = r.string();
    else if (t === VARINT(3)) {
      o['port_value'] = r.varint() >>> 0;
      o['port_specifier'] = 'port_value';
    } else r.skipField(t, SOCKET_ADDRESS);
  }
  r.ended(end);
  return o;
}

function address(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) {
      o['socket_address'] = socketAddress(r, r.end());
      o['address'] = 'socket_address';
    } else r.skipField(t, ADDRESS);
  }
  r.ended(end);
  return o;
}

function peer(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) o['address'] = address(r, r.end());
    else if (t === LEN(2)) o['service'] = r.string();
    else if (t === LEN(3)) stringEntry(r, r.end(), child(o, 'labels'));
    else if (t === LEN(4)) o['principal'] = r.string();
    else if (t === LEN(5)) o['certificate'] = r.string();
    else r.skipField(t, PEER);
  }
  r.ended(end);
  return o;
}

function headerValue(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) o['key'] = r.string();
    else if (t === LEN(2)) o['value'] = r.string();
    else if (t === LEN(3)) o['raw_value'] = r.bytes();
    else r.skipField(t, HEADER_VALUE);
  }
  r.ended(end);
  return o;
}

const HTTP_STRINGS: Readonly<Record<number, string>> = {
  [LEN(1)]: 'id',
  [LEN(2)]: 'method',
  [LEN(4)]: 'path',
  [LEN(5)]: 'host',
  [LEN(6)]: 'scheme',
  [LEN(7)]: 'query',
  [LEN(8)]: 'fragment',
  [LEN(10)]: 'protocol',
  [LEN(11)]: 'body',
};

function http(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    const name = HTTP_STRINGS[t];
    if (name !== undefined) o[name] = r.string();
    else if (t === LEN(3)) stringEntry(r, r.end(), child(o, 'headers'));
    else if (t === LEN(12)) o['raw_body'] = r.bytes();
    else if (t === LEN(13)) {
      const headers: Obj[] = [];
      const mapEnd = r.end();
      while (r.pos < mapEnd) {
        const ht = r.tag();
        if (ht === LEN(1)) headers.push(headerValue(r, r.end()));
        else r.skipField(ht, HEADER_MAP);
      }
      r.ended(mapEnd);
      o['header_map'] = { headers };
    } else r.skipField(t, HTTP);
  }
  r.ended(end);
  return o;
}

function request(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(2)) o['http'] = http(r, r.end());
    else r.skipField(t, REQUEST);
  }
  r.ended(end);
  return o;
}

function value(r: Reader, end: number, depth: number): Obj {
  if (depth > 100) throw new Error('Struct nested too deeply');
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === VARINT(1)) {
      r.varint();
      o['nullValue'] = 'NULL_VALUE';
      o['kind'] = 'nullValue';
    } else if (t === ((2 << 3) | 1)) {
      o['numberValue'] = r.double();
      o['kind'] = 'numberValue';
    } else if (t === LEN(3)) {
      o['stringValue'] = r.string();
      o['kind'] = 'stringValue';
    } else if (t === VARINT(4)) {
      o['boolValue'] = r.varint() !== 0;
      o['kind'] = 'boolValue';
    } else if (t === LEN(5)) {
      o['structValue'] = struct(r, r.end(), depth + 1);
      o['kind'] = 'structValue';
    } else if (t === LEN(6)) {
      const values: Obj[] = [];
      const listEnd = r.end();
      while (r.pos < listEnd) {
        const lt = r.tag();
        if (lt === LEN(1)) values.push(value(r, r.end(), depth + 1));
        else r.skipField(lt, LIST);
      }
      r.ended(listEnd);
      o['listValue'] = { values };
      o['kind'] = 'listValue';
    } else r.skipField(t, VALUE);
  }
  r.ended(end);
  return o;
}

/** A map<string, message> ending at `end` (entries: key 1, value 2), each value read by `read` up to its end. */
function messageMap(r: Reader, end: number, declared: readonly number[], read: (valueEnd: number) => Obj): Obj {
  const out: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t !== LEN(1)) {
      r.skipField(t, declared);
      continue;
    }
    const entryEnd = r.end();
    let key = '';
    let v: Obj = {};
    while (r.pos < entryEnd) {
      const et = r.tag();
      if (et === LEN(1)) key = r.string();
      else if (et === LEN(2)) v = read(r.end());
      else r.skipField(et, ENTRY);
    }
    r.ended(entryEnd);
    out[key] = v;
  }
  r.ended(end);
  return out;
}

function struct(r: Reader, end: number, depth: number): Obj {
  return { fields: messageMap(r, end, STRUCT, (valueEnd) => value(r, valueEnd, depth)) };
}

function metadata(r: Reader, end: number): Obj {
  return { filter_metadata: messageMap(r, end, METADATA, (valueEnd) => struct(r, valueEnd, 0)) };
}

function attributes(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) o['source'] = peer(r, r.end());
    else if (t === LEN(2)) o['destination'] = peer(r, r.end());
    else if (t === LEN(4)) o['request'] = request(r, r.end());
    else if (t === LEN(10)) stringEntry(r, r.end(), child(o, 'context_extensions'));
    else if (t === LEN(11)) o['metadata_context'] = metadata(r, r.end());
    else if (t === LEN(12)) {
      const tls: Obj = {};
      const tlsEnd = r.end();
      while (r.pos < tlsEnd) {
        const tt = r.tag();
        if (tt === LEN(1)) tls['sni'] = r.string();
        else r.skipField(tt, TLS);
      }
      r.ended(tlsEnd);
      o['tls_session'] = tls;
    } else r.skipField(t, ATTRIBUTES);
  }
  r.ended(end);
  return o;
}

/** envoy.service.auth.v3.CheckRequest (attributes = 1), as proto-loader objects for the fields llm-authz reads. */
export function decodeCheckRequest(buf: Buffer): Obj {
  const r = new Reader(buf);
  const o: Obj = {};
  while (r.pos < buf.length) {
    const t = r.tag();
    if (t === LEN(1)) o['attributes'] = attributes(r, r.end());
    else r.skipField(t, CHECK_REQUEST);
  }
  if (r.pos !== buf.length) throw new Error('truncated message');
  return o;
}
