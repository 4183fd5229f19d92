/**
 * Prototype (bench only): a CheckRequest decoder that does not load the Envoy protos. It reads the
 * wire format straight into the object shape @grpc/proto-loader gives with llm-authz's options
 * (src/envoy/proto.ts PROTO_LOADER_OPTIONS: field names as in the .proto, int64 as strings, bytes
 * as Buffers, no defaults, plain objects for maps, `kind` on google.protobuf.Value), for the fields
 * src/envoy/request-context.ts reads; every other field is skipped. Field numbers are Envoy's
 * (envoy/service/auth/v3/{external_auth,attribute_context}.proto, envoy/config/core/v3/
 * {address,base}.proto) and Google's (struct.proto). A malformed message throws.
 */

class Reader {
  pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      if (i < 8) result += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return result;
    }
    throw new Error('varint too long');
  }
  /** The end of a length-delimited field that starts here (its length read). */
  end(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new Error('truncated field');
    return end;
  }
  /** The bytes of a length-delimited field, without copying. */
  bytes(): Buffer {
    const end = this.end();
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }
  string(): string {
    const end = this.end();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }
  double(): number {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.end();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
  /** The next tag of a message ending at `end`: field number * 8 + wire type. */
  tag(): number {
    const t = this.varint();
    if (t >>> 3 === 0) throw new Error('field number 0');
    return t;
  }
}

type Obj = Record<string, unknown>;

// Tags (field number << 3 | wire type) read below: 2 = length-delimited, 0 = varint, 1 = 64-bit.
const LEN = (n: number): number => (n << 3) | 2;
const VARINT = (n: number): number => n << 3;

/** A map<string, string> entry (key 1, value 2) ending at `end`, put into `into`. */
function stringEntry(r: Reader, end: number, into: Obj): void {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) key = r.string();
    else if (t === LEN(2)) value = r.string();
    else r.skip(t & 7);
  }
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
    } else r.skip(t & 7);
  }
  return o;
}

function address(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) {
      o['socket_address'] = socketAddress(r, r.end());
      o['address'] = 'socket_address';
    } else r.skip(t & 7);
  }
  return o;
}

function peer(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) o['address'] = address(r, r.end());
    else if (t === LEN(2)) o['service'] = r.string();
    else if (t === LEN(3)) stringEntry(r, r.end(), (o['labels'] ??= {}) as Obj);
    else if (t === LEN(4)) o['principal'] = r.string();
    else if (t === LEN(5)) o['certificate'] = r.string();
    else r.skip(t & 7);
  }
  return o;
}

function headerValue(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) o['key'] = r.string();
    else if (t === LEN(2)) o['value'] = r.string();
    else if (t === LEN(3)) o['raw_value'] = r.bytes();
    else r.skip(t & 7);
  }
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
    else if (t === LEN(3)) stringEntry(r, r.end(), (o['headers'] ??= {}) as Obj);
    else if (t === VARINT(9)) o['size'] = String(r.varint());
    else if (t === LEN(12)) o['raw_body'] = r.bytes();
    else if (t === LEN(13)) {
      const headers: Obj[] = [];
      const mapEnd = r.end();
      while (r.pos < mapEnd) {
        const ht = r.tag();
        if (ht === LEN(1)) headers.push(headerValue(r, r.end()));
        else r.skip(ht & 7);
      }
      o['header_map'] = { headers };
    } else r.skip(t & 7);
  }
  return o;
}

function request(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(2)) o['http'] = http(r, r.end());
    else r.skip(t & 7);
  }
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
        else r.skip(lt & 7);
      }
      o['listValue'] = { values };
      o['kind'] = 'listValue';
    } else r.skip(t & 7);
  }
  return o;
}

function struct(r: Reader, end: number, depth: number): Obj {
  const fields: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t !== LEN(1)) {
      r.skip(t & 7);
      continue;
    }
    const entryEnd = r.end();
    let key = '';
    let v: Obj = {};
    while (r.pos < entryEnd) {
      const et = r.tag();
      if (et === LEN(1)) key = r.string();
      else if (et === LEN(2)) v = value(r, r.end(), depth);
      else r.skip(et & 7);
    }
    fields[key] = v;
  }
  return { fields };
}

function metadata(r: Reader, end: number): Obj {
  const filter: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t !== LEN(1)) {
      r.skip(t & 7);
      continue;
    }
    const entryEnd = r.end();
    let key = '';
    let v: Obj = {};
    while (r.pos < entryEnd) {
      const et = r.tag();
      if (et === LEN(1)) key = r.string();
      else if (et === LEN(2)) v = struct(r, r.end(), 0);
      else r.skip(et & 7);
    }
    filter[key] = v;
  }
  return { filter_metadata: filter };
}

function attributes(r: Reader, end: number): Obj {
  const o: Obj = {};
  while (r.pos < end) {
    const t = r.tag();
    if (t === LEN(1)) o['source'] = peer(r, r.end());
    else if (t === LEN(2)) o['destination'] = peer(r, r.end());
    else if (t === LEN(4)) o['request'] = request(r, r.end());
    else if (t === LEN(10)) stringEntry(r, r.end(), (o['context_extensions'] ??= {}) as Obj);
    else if (t === LEN(11)) o['metadata_context'] = metadata(r, r.end());
    else if (t === LEN(12)) {
      const tls: Obj = {};
      const tlsEnd = r.end();
      while (r.pos < tlsEnd) {
        const tt = r.tag();
        if (tt === LEN(1)) tls['sni'] = r.string();
        else r.skip(tt & 7);
      }
      o['tls_session'] = tls;
    } else r.skip(t & 7);
  }
  return o;
}

/** envoy.service.auth.v3.CheckRequest (attributes = 1), as proto-loader objects for the fields llm-authz reads. */
export function decodeCheckRequest(buf: Buffer): Obj {
  const r = new Reader(buf);
  const o: Obj = {};
  while (r.pos < buf.length) {
    const t = r.tag();
    if (t === LEN(1)) o['attributes'] = attributes(r, r.end());
    else r.skip(t & 7);
  }
  if (r.pos !== buf.length) throw new Error('truncated message');
  return o;
}
