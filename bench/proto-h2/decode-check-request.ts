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
  /** The bytes of a length-delimited field, without copying. */
  bytes(): Buffer {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new Error('truncated field');
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }
  string(): string {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new Error('truncated field');
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
      case 2: {
        const len = this.varint();
        this.pos += len;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
}

type Obj = Record<string, unknown>;

/** Calls `field(number, wire, reader)` for each field of the message in `buf`. */
function each(buf: Buffer, field: (n: number, wire: number, r: Reader) => boolean): void {
  const r = new Reader(buf);
  while (r.pos < buf.length) {
    const tag = r.varint();
    const n = tag >>> 3;
    const wire = tag & 7;
    if (n === 0) throw new Error('field number 0');
    if (!field(n, wire, r)) r.skip(wire);
  }
}

/** A map<string, string> entry (key 1, value 2). */
function stringEntry(buf: Buffer, into: Obj): void {
  let key = '';
  let value = '';
  each(buf, (n, w, r) => {
    if (w !== 2) return false;
    if (n === 1) key = r.string();
    else if (n === 2) value = r.string();
    else return false;
    return true;
  });
  into[key] = value;
}

function socketAddress(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (n === 2 && w === 2) o['address'] = r.string();
    else if (n === 3 && w === 0) {
      o['port_value'] = r.varint() >>> 0;
      o['port_specifier'] = 'port_value';
    } else return false;
    return true;
  });
  return o;
}

function address(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (n !== 1 || w !== 2) return false;
    o['socket_address'] = socketAddress(r.bytes());
    o['address'] = 'socket_address';
    return true;
  });
  return o;
}

function peer(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (w !== 2) return false;
    if (n === 1) o['address'] = address(r.bytes());
    else if (n === 2) o['service'] = r.string();
    else if (n === 3) stringEntry(r.bytes(), (o['labels'] ??= {}) as Obj);
    else if (n === 4) o['principal'] = r.string();
    else if (n === 5) o['certificate'] = r.string();
    else return false;
    return true;
  });
  return o;
}

function headerValue(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (w !== 2) return false;
    if (n === 1) o['key'] = r.string();
    else if (n === 2) o['value'] = r.string();
    else if (n === 3) o['raw_value'] = r.bytes();
    else return false;
    return true;
  });
  return o;
}

function http(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (n === 9 && w === 0) {
      o['size'] = String(r.varint());
      return true;
    }
    if (w !== 2) return false;
    switch (n) {
      case 1:
        o['id'] = r.string();
        break;
      case 2:
        o['method'] = r.string();
        break;
      case 3:
        stringEntry(r.bytes(), (o['headers'] ??= {}) as Obj);
        break;
      case 4:
        o['path'] = r.string();
        break;
      case 5:
        o['host'] = r.string();
        break;
      case 6:
        o['scheme'] = r.string();
        break;
      case 7:
        o['query'] = r.string();
        break;
      case 8:
        o['fragment'] = r.string();
        break;
      case 10:
        o['protocol'] = r.string();
        break;
      case 11:
        o['body'] = r.string();
        break;
      case 12:
        o['raw_body'] = r.bytes();
        break;
      case 13: {
        const headers: Obj[] = [];
        each(r.bytes(), (hn, hw, hr) => {
          if (hn !== 1 || hw !== 2) return false;
          headers.push(headerValue(hr.bytes()));
          return true;
        });
        o['header_map'] = { headers };
        break;
      }
      default:
        return false;
    }
    return true;
  });
  return o;
}

function request(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (n !== 2 || w !== 2) return false;
    o['http'] = http(r.bytes());
    return true;
  });
  return o;
}

function value(buf: Buffer, depth: number): Obj {
  if (depth > 100) throw new Error('Struct nested too deeply');
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (n === 1 && w === 0) {
      r.varint();
      o['nullValue'] = 'NULL_VALUE';
      o['kind'] = 'nullValue';
    } else if (n === 2 && w === 1) {
      o['numberValue'] = r.double();
      o['kind'] = 'numberValue';
    } else if (n === 3 && w === 2) {
      o['stringValue'] = r.string();
      o['kind'] = 'stringValue';
    } else if (n === 4 && w === 0) {
      o['boolValue'] = r.varint() !== 0;
      o['kind'] = 'boolValue';
    } else if (n === 5 && w === 2) {
      o['structValue'] = struct(r.bytes(), depth + 1);
      o['kind'] = 'structValue';
    } else if (n === 6 && w === 2) {
      const values: Obj[] = [];
      each(r.bytes(), (ln, lw, lr) => {
        if (ln !== 1 || lw !== 2) return false;
        values.push(value(lr.bytes(), depth + 1));
        return true;
      });
      o['listValue'] = { values };
      o['kind'] = 'listValue';
    } else return false;
    return true;
  });
  return o;
}

function struct(buf: Buffer, depth: number): Obj {
  const fields: Obj = {};
  each(buf, (n, w, r) => {
    if (n !== 1 || w !== 2) return false;
    let key = '';
    let v: Obj = {};
    each(r.bytes(), (en, ew, er) => {
      if (ew !== 2) return false;
      if (en === 1) key = er.string();
      else if (en === 2) v = value(er.bytes(), depth);
      else return false;
      return true;
    });
    fields[key] = v;
    return true;
  });
  return { fields };
}

function metadata(buf: Buffer): Obj {
  const filter: Obj = {};
  each(buf, (n, w, r) => {
    if (n !== 1 || w !== 2) return false;
    let key = '';
    let v: Obj = {};
    each(r.bytes(), (en, ew, er) => {
      if (ew !== 2) return false;
      if (en === 1) key = er.string();
      else if (en === 2) v = struct(er.bytes(), 0);
      else return false;
      return true;
    });
    filter[key] = v;
    return true;
  });
  return { filter_metadata: filter };
}

function attributes(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (w !== 2) return false;
    switch (n) {
      case 1:
        o['source'] = peer(r.bytes());
        break;
      case 2:
        o['destination'] = peer(r.bytes());
        break;
      case 4:
        o['request'] = request(r.bytes());
        break;
      case 10:
        stringEntry(r.bytes(), (o['context_extensions'] ??= {}) as Obj);
        break;
      case 11:
        o['metadata_context'] = metadata(r.bytes());
        break;
      case 12: {
        const tls: Obj = {};
        each(r.bytes(), (tn, tw, tr) => {
          if (tn !== 1 || tw !== 2) return false;
          tls['sni'] = tr.string();
          return true;
        });
        o['tls_session'] = tls;
        break;
      }
      default:
        return false;
    }
    return true;
  });
  return o;
}

/** envoy.service.auth.v3.CheckRequest (attributes = 1), as proto-loader objects for the fields llm-authz reads. */
export function decodeCheckRequest(buf: Buffer): Obj {
  const o: Obj = {};
  each(buf, (n, w, r) => {
    if (n !== 1 || w !== 2) return false;
    o['attributes'] = attributes(r.bytes());
    return true;
  });
  return o;
}
