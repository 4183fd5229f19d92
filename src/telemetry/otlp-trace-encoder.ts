/**
 * The span exporters' request encoding (OTLP ExportTraceServiceRequest, protobuf): the bytes of
 * otlp-transformer's ProtobufTraceSerializer, field for field and in its order, with what repeats
 * from span to span encoded once. A Check span carries about 35 attributes whose keys never change
 * and whose string values mostly repeat (workloads, models, providers, rules, reason codes); the
 * library encodes every key and value twice per export (a size pass, then the write), which was
 * 7% of serve's CPU under load (bench/profile.ts). Here an attribute whose value is a short string
 * is copied from its encoded KeyValue message (src/core/encoded-pairs.ts, bounded); anything else
 * is encoded as the library does. The response side is the library's.
 */
import type { Attributes, AttributeValue, HrTime, Link, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { IExportTraceServiceResponse, ISerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import { Buffer } from 'node:buffer';
import { copyBytes, EncodedPairs, hasRoom } from '../core/encoded-pairs.ts';

/** Distinct keys cached (pairs, and keys alone). */
const MAX_KEYS = 256;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE = 0x100;
const SPAN_FLAGS_CONTEXT_IS_REMOTE = 0x200;

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

function varintSize(v: number): number {
  if (v < 0) return 10;
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v <= 0xffffffff) return 5;
  let n = 5;
  let high = Math.floor(v / 0x100000000);
  while (high > 0) {
    n++;
    high >>>= 7;
  }
  return Math.min(n, 10);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return c - 55;
}

/** A growing protobuf writer over one Buffer, reused across exports. */
class Writer {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    const b = this.buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 127) {
        b[this.pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      b[this.pos++] = v;
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 0x100000000) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 0x100000000) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      b[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    b[this.pos++] = low & 127;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** An HrTime as fixed64 nanoseconds (common-serializer's writeHrTimeAsFixed64, exactly). */
  hrTime(t: HrTime): void {
    const seconds = t[0];
    const nanos = t[1];
    const lower16 = (seconds & 0xffff) * 1e9;
    const upper = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (lower16 >>> 0) + (((upper & 0xffff) * 0x10000) >>> 0) + nanos;
    const high = (Math.floor(lower16 / 0x100000000) + ((upper / 0x10000) >>> 0) + Math.floor(low / 0x100000000)) >>> 0;
    this.ensure(8);
    this.buf.writeUInt32LE(low >>> 0, this.pos);
    this.buf.writeUInt32LE(high, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(s: string): void {
    const len = s.length;
    if (len < 64) {
      // Short ASCII (names, keys, ids) byte by byte: cheaper than two calls into the runtime.
      let ascii = true;
      for (let i = 0; i < len; i++) {
        if (s.charCodeAt(i) > 127) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.ensure(len + 1);
        const b = this.buf;
        b[this.pos++] = len;
        for (let i = 0; i < len; i++) b[this.pos++] = s.charCodeAt(i);
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }

  bytes(u: Uint8Array): void {
    this.varint(u.length);
    this.ensure(u.length);
    this.buf.set(u, this.pos);
    this.pos += u.length;
  }

  /** A hex id as length-delimited bytes (the library's hexToBinary, without the array). */
  hex(s: string): void {
    const n = s.length >> 1;
    this.varint(n);
    this.ensure(n);
    const b = this.buf;
    for (let i = 0; i < n; i++) b[this.pos++] = (hexValue(s.charCodeAt(2 * i)) << 4) | hexValue(s.charCodeAt(2 * i + 1));
  }

  raw(u: Uint8Array): void {
    this.ensure(u.length);
    this.pos = copyBytes(this.buf, this.pos, u);
  }

  /** Reserves one byte for a length; finish() writes it, moving the message when it needs more. */
  start(): number {
    this.ensure(1);
    return this.pos++;
  }

  finish(at: number): void {
    const length = this.pos - at - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    let v = length;
    let p = at;
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[p] = v;
  }
}

/** Encodes ExportTraceServiceRequests; one per exporter (its writer and cache are its own). */
export class TraceRequestEncoder {
  readonly #w = new Writer(16 * 1024);
  /** key -> short string value -> the KeyValue message, length-prefixed. */
  readonly #pairs = new EncodedPairs(MAX_KEYS);
  /** key -> its KeyValue key field (for values not cached: numbers, long strings, lists). */
  readonly #keys = new Map<string, Buffer>();

  encode(spans: readonly ReadableSpan[]): Uint8Array {
    const w = this.#w;
    w.pos = 0;
    for (const [resource, scopes] of group(spans)) {
      w.tag(1, WIRE_LEN);
      const rs = w.start();
      this.#resource(resource);
      for (const [scope, list] of scopes) {
        w.tag(2, WIRE_LEN);
        this.#scopeSpans(scope, list);
      }
      if (resource.schemaUrl) {
        w.tag(3, WIRE_LEN);
        w.string(resource.schemaUrl);
      }
      w.finish(rs);
    }
    // A copy: the writer's buffer is reused by the next export while this one may be in flight.
    return Uint8Array.prototype.slice.call(w.buf, 0, w.pos);
  }

  #resource(resource: Resource): void {
    const w = this.#w;
    w.tag(1, WIRE_LEN);
    const at = w.start();
    if (resource.attributes) this.#attributes(resource.attributes, 1);
    w.tag(2, WIRE_VARINT);
    w.varint(0);
    w.finish(at);
  }

  #scopeSpans(scope: InstrumentationScope, spans: readonly ReadableSpan[]): void {
    const w = this.#w;
    const at = w.start();
    w.tag(1, WIRE_LEN);
    const sc = w.start();
    w.tag(1, WIRE_LEN);
    w.string(scope.name);
    if (scope.version) {
      w.tag(2, WIRE_LEN);
      w.string(scope.version);
    }
    const scoped = scope as InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number };
    if (scoped.attributes) this.#attributes(scoped.attributes, 3);
    if (scoped.droppedAttributesCount) {
      w.tag(4, WIRE_VARINT);
      w.varint(scoped.droppedAttributesCount);
    }
    w.finish(sc);
    for (const span of spans) {
      w.tag(2, WIRE_LEN);
      this.#span(span);
    }
    if (scope.schemaUrl) {
      w.tag(3, WIRE_LEN);
      w.string(scope.schemaUrl);
    }
    w.finish(at);
  }

  #span(span: ReadableSpan): void {
    const w = this.#w;
    const at = w.start();
    const ctx = span.spanContext();
    w.tag(1, WIRE_LEN);
    w.hex(ctx.traceId);
    w.tag(2, WIRE_LEN);
    w.hex(ctx.spanId);
    const traceState = ctx.traceState?.serialize();
    if (traceState) {
      w.tag(3, WIRE_LEN);
      w.string(traceState);
    }
    const parent = span.parentSpanContext;
    if (parent?.spanId) {
      w.tag(4, WIRE_LEN);
      w.hex(parent.spanId);
    }
    w.tag(5, WIRE_LEN);
    w.string(span.name);
    const kind = span.kind == null ? 0 : span.kind + 1;
    if (kind !== 0) {
      w.tag(6, WIRE_VARINT);
      w.varint(kind);
    }
    w.tag(7, WIRE_FIXED64);
    w.hrTime(span.startTime);
    w.tag(8, WIRE_FIXED64);
    w.hrTime(span.endTime);
    if (span.attributes) this.#attributes(span.attributes, 9);
    w.tag(10, WIRE_VARINT);
    w.varint(span.droppedAttributesCount);
    for (const event of span.events) {
      w.tag(11, WIRE_LEN);
      this.#event(event);
    }
    w.tag(12, WIRE_VARINT);
    w.varint(span.droppedEventsCount);
    for (const link of span.links) {
      w.tag(13, WIRE_LEN);
      this.#link(link);
    }
    w.tag(14, WIRE_VARINT);
    w.varint(span.droppedLinksCount);
    w.tag(15, WIRE_LEN);
    this.#status(span.status);
    const flags = spanFlags(ctx.traceFlags, parent?.isRemote);
    if (flags) {
      w.tag(16, WIRE_FIXED32);
      w.fixed32(flags);
    }
    w.finish(at);
  }

  #event(event: TimedEvent): void {
    const w = this.#w;
    const at = w.start();
    w.tag(1, WIRE_FIXED64);
    w.hrTime(event.time);
    w.tag(2, WIRE_LEN);
    w.string(event.name);
    if (event.attributes) this.#attributes(event.attributes, 3);
    w.tag(4, WIRE_VARINT);
    w.varint(event.droppedAttributesCount || 0);
    w.finish(at);
  }

  #link(link: Link): void {
    const w = this.#w;
    const at = w.start();
    const c = link.context;
    w.tag(1, WIRE_LEN);
    w.hex(c.traceId);
    w.tag(2, WIRE_LEN);
    w.hex(c.spanId);
    const traceState = c.traceState?.serialize();
    if (traceState) {
      w.tag(3, WIRE_LEN);
      w.string(traceState);
    }
    if (link.attributes) this.#attributes(link.attributes, 4);
    w.tag(5, WIRE_VARINT);
    w.varint(link.droppedAttributesCount || 0);
    const flags = spanFlags(c.traceFlags, c.isRemote);
    if (flags) {
      w.tag(6, WIRE_FIXED32);
      w.fixed32(flags);
    }
    w.finish(at);
  }

  #status(status: SpanStatus): void {
    const w = this.#w;
    const at = w.start();
    if (status.message) {
      w.tag(2, WIRE_LEN);
      w.string(status.message);
    }
    w.tag(3, WIRE_VARINT);
    w.varint(status.code);
    w.finish(at);
  }

  #attributes(attributes: Attributes, field: number): void {
    for (const key in attributes) {
      if (!Object.hasOwn(attributes, key)) continue;
      const value = attributes[key];
      this.#w.tag(field, WIRE_LEN);
      if (typeof value === 'string') this.#stringPair(key, value);
      else this.#pair(key, value);
    }
  }

  /** A KeyValue with a string value: from the cache, else encoded and (within its bounds) kept. */
  #stringPair(key: string, value: string): void {
    const w = this.#w;
    const values = this.#pairs.values(key, value);
    const hit = values?.get(value);
    if (hit !== undefined) {
      w.raw(hit);
      return;
    }
    const from = w.pos;
    this.#pair(key, value);
    if (values !== undefined && hasRoom(values)) values.set(value, Buffer.from(w.buf.subarray(from, w.pos)));
  }

  /** A KeyValue's key field, from the cache of encoded keys when it is there. */
  #key(key: string): void {
    const w = this.#w;
    const hit = this.#keys.get(key);
    if (hit !== undefined) {
      w.raw(hit);
      return;
    }
    const from = w.pos;
    w.tag(1, WIRE_LEN);
    w.string(key);
    if (this.#keys.size < MAX_KEYS) this.#keys.set(key, Buffer.from(w.buf.subarray(from, w.pos)));
  }

  /** A KeyValue message, length-prefixed (common-serializer's writeKeyValue). */
  #pair(key: string, value: AttributeValue | undefined): void {
    const w = this.#w;
    const kv = w.start();
    this.#key(key);
    w.tag(2, WIRE_LEN);
    const v = w.start();
    this.#anyValue(value);
    w.finish(v);
    w.finish(kv);
  }

  /** An AnyValue's fields (common-serializer's writeAnyValue). */
  #anyValue(value: unknown): void {
    const w = this.#w;
    const t = typeof value;
    if (t === 'string') {
      w.tag(1, WIRE_LEN);
      w.string(value as string);
    } else if (t === 'boolean') {
      w.tag(2, WIRE_VARINT);
      w.varint(value ? 1 : 0);
    } else if (t === 'number') {
      const n = value as number;
      if (Number.isInteger(n) && n >= MIN_INT64 && n < MAX_INT64) {
        w.tag(3, WIRE_VARINT);
        w.varint(n);
      } else {
        w.tag(4, WIRE_FIXED64);
        w.double(n);
      }
    } else if (value instanceof Uint8Array) {
      w.tag(7, WIRE_LEN);
      w.bytes(value);
    } else if (Array.isArray(value)) {
      w.tag(5, WIRE_LEN);
      const list = w.start();
      for (const item of value) {
        w.tag(1, WIRE_LEN);
        const at = w.start();
        this.#anyValue(item);
        w.finish(at);
      }
      w.finish(list);
    } else if (t === 'object' && value != null) {
      w.tag(6, WIRE_LEN);
      const list = w.start();
      const obj = value as Record<string, unknown>;
      for (const k in obj) {
        if (!Object.hasOwn(obj, k)) continue;
        w.tag(1, WIRE_LEN);
        const kv = w.start();
        w.tag(1, WIRE_LEN);
        w.string(k);
        w.tag(2, WIRE_LEN);
        const at = w.start();
        this.#anyValue(obj[k]);
        w.finish(at);
        w.finish(kv);
      }
      w.finish(list);
    }
  }
}

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  let flags = (traceFlags & 0xff) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE;
  if (isRemote) flags |= SPAN_FLAGS_CONTEXT_IS_REMOTE;
  return flags;
}

/** Spans by resource, then by instrumentation scope, by identity (the library's grouping). */
function group(spans: readonly ReadableSpan[]): Map<Resource, Map<InstrumentationScope, ReadableSpan[]>> {
  const byResource = new Map<Resource, Map<InstrumentationScope, ReadableSpan[]>>();
  for (const span of spans) {
    let scopes = byResource.get(span.resource);
    if (!scopes) {
      scopes = new Map();
      byResource.set(span.resource, scopes);
    }
    let list = scopes.get(span.instrumentationScope);
    if (!list) {
      list = [];
      scopes.set(span.instrumentationScope, list);
    }
    list.push(span);
  }
  return byResource;
}

/**
 * The span exporters' serializer: requests encoded here, responses decoded by `library` (the
 * library's ProtobufTraceSerializer, passed in so that nothing here loads the library at start).
 */
export function createTraceSerializer(library: ISerializer<ReadableSpan[], IExportTraceServiceResponse>): ISerializer<ReadableSpan[], IExportTraceServiceResponse> {
  const encoder = new TraceRequestEncoder();
  return {
    serializeRequest: (spans) => encoder.encode(spans),
    deserializeResponse: (data) => library.deserializeResponse(data),
  };
}
