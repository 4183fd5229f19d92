/**
 * The server side of one HTTP/2 connection (RFC 9113) over any byte stream (a TCP, Unix or TLS
 * socket): the connection preface, frames, both directions' flow control, HPACK header blocks
 * (./hpack.ts) and the streams' lifecycle. What a stream carries is the caller's: it gets each new
 * stream with its decoded headers, then the stream's bytes, its end and its close.
 *
 * Why not node:http2: Node turns every received header value into an external string, and V8
 * allocates external strings in the old generation, so each call left nine of them (and the
 * nghttp2 buffers they hold) for a full collection to finalize one by one inside its final
 * pause, with the finished Http2Stream objects held from native code past the scavenges (README
 * "Sizing": the pause, the promotion and the tail through Envoy, before and after).
 *
 * What it does not do: server push (never sent; a PUSH_PROMISE from a client is a connection
 * error), priorities (read and ignored), HTTP/1.1 upgrade (only the HTTP/2 preface is accepted).
 * Limits on a peer: frames up to 16 KiB (SETTINGS_MAX_FRAME_SIZE left at its default), a header
 * list up to 64 KiB, MAX_STREAMS concurrent streams (more are refused with REFUSED_STREAM), a
 * burst of RESET_BURST stream resets then RESET_RATE per second (the "rapid reset" attack: past
 * it, GOAWAY ENHANCE_YOUR_CALM, as nghttp2's own limit does), MAX_BUFFERED_OUT bytes written and
 * not yet taken by the socket (a peer that does not read is dropped). Any protocol error is a
 * GOAWAY with its code and the connection's end (a stream error on a closed stream, or one that
 * depends on itself, is taken as the connection's where the RFC allows it); a malformed request
 * (RFC 9113 section 8.1.1: its header fields or its content-length) is a RST_STREAM
 * PROTOCOL_ERROR and never reaches the owner; an exception in the frame handling destroys the
 * connection and never reaches the process. h2spec's cases all pass (test/e2e/h2spec.test.ts).
 */
import type { Duplex } from 'node:stream';
import { HpackDecoder, type HeaderSink } from './hpack.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;
const Setting = { HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5, MAX_HEADER_LIST_SIZE: 0x6 } as const;

/** Largest frame payload accepted (the protocol's default SETTINGS_MAX_FRAME_SIZE). */
export const MAX_FRAME_BYTES = 16384;
/** Largest decoded header list (names, values and 32 bytes per field, as HPACK counts). */
export const MAX_HEADER_LIST_BYTES = 64 * 1024;
/** Concurrent streams per connection (advertised in SETTINGS_MAX_CONCURRENT_STREAMS). */
export const MAX_STREAMS = 1000;
/** Stream resets from the peer: a burst this large, then RESET_RATE per second. */
export const RESET_BURST = 1000;
export const RESET_RATE = 33;
/** Bytes written to the socket and not yet sent: a peer past this is not reading, and is dropped. */
export const MAX_BUFFERED_OUT = 32 * 1024 * 1024;
const DEFAULT_WINDOW = 65535;
const MAX_WINDOW = 0x7fffffff;
/** Closed streams remembered, the most recent ones, for the frames that still arrive for them. */
export const CLOSED_REMEMBERED = 256;

/**
 * How a stream that is no longer open ended, which decides what a frame arriving for it is
 * (RFC 9113 section 5.1): after the peer's END_STREAM it may send no DATA or HEADERS on it (a
 * connection error), after its RST_STREAM none either (a stream error), but after our RST_STREAM
 * what it sent before it knew is ignored.
 */
const PEER_ENDED = 1;
const PEER_RESET = 2;
const WE_RESET = 3;

export interface ConnectionOptions {
  /** Our per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly streamWindowBytes: number;
  /** Our connection receive window (raised by a WINDOW_UPDATE right after SETTINGS). */
  readonly connectionWindowBytes: number;
  /** A connection without a stream this long gets a GOAWAY and is closed (none: kept open). */
  readonly maxConnectionIdleMs?: number | undefined;
}

/** What the owner of the streams is told. Callbacks run on the event loop, never re-entrantly. */
export interface StreamEvents {
  /** Bytes of the stream's DATA, as they arrive (a view into what the socket read). */
  data?: ((chunk: Buffer) => void) | undefined;
  /** The peer ended its side (END_STREAM). */
  end?: (() => void) | undefined;
  /** The stream is over (both sides done, reset by either side, or the connection gone); once. */
  close?: (() => void) | undefined;
}

/** One stream, as its owner sees it. */
export class Stream {
  readonly id: number;
  readonly conn: Connection;
  readonly events: StreamEvents = {};
  sendWindow: number;
  recvSinceUpdate = 0;
  remoteEnded = false;
  closed = false;
  /** The request's content-length (-1: none) and the DATA bytes received, which must match it. */
  contentLength = -1;
  dataBytes = 0;
  headersSent = false;
  /** Message bytes waiting for send window; trailers waiting for them. */
  pending: Buffer[] = [];
  pendingTrailers: Buffer | undefined;
  constructor(conn: Connection, id: number, sendWindow: number) {
    this.conn = conn;
    this.id = id;
    this.sendWindow = sendWindow;
  }

  /** Response headers (an HPACK block); `end` ends the stream with them (a trailers-only answer). */
  respond(block: Buffer, end: boolean): void {
    if (this.closed || this.headersSent) return;
    this.headersSent = true;
    this.conn.sendHeaders(this, block, end);
    if (end) this.conn.finish(this);
  }

  /** Bytes as DATA frames, within the peer's windows (queued until they open). */
  write(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    this.pending.push(data);
    this.conn.drain(this);
  }

  /** Trailers (an HPACK block) ending the stream, after the bytes written before. */
  trailers(block: Buffer): void {
    if (this.closed || this.pendingTrailers !== undefined) return;
    this.pendingTrailers = block;
    this.conn.drain(this);
  }

  /** Resets the stream (RST_STREAM with this code). */
  reset(code: number): void {
    if (this.closed) return;
    this.conn.rst(this.id, code);
    this.conn.closeStream(this);
  }
}

function frameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream >>> 0, at + 5);
}

/** One frame: header and payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  frameHeader(out, 0, payload.length, type, flags, stream);
  payload.copy(out, 9);
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** Fields HTTP/2 does not carry (RFC 9113 section 8.2.2); `te` may carry "trailers" only. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** A request's pseudo-header fields (RFC 9113 section 8.3.1; no extended CONNECT). */
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);
const UPPERCASE = /[A-Z]/;

/**
 * A decoded header block, checked as a request's header or trailer section (RFC 9113 section
 * 8.1.1): one that is malformed is `bad`, and its stream is reset with PROTOCOL_ERROR.
 */
class HeaderList implements HeaderSink {
  readonly headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  bad = false;
  private regular = false;
  private readonly trailers: boolean;
  constructor(trailers: boolean) {
    this.trailers = trailers;
  }
  field(name: string, value: string): void {
    if (name.charCodeAt(0) === 58) {
      // A request's own pseudo-header fields, each once, before the other fields; none in trailers.
      if (this.trailers || this.regular || !REQUEST_PSEUDO.has(name) || this.headers[name] !== undefined) this.bad = true;
      else this.headers[name] = value;
      return;
    }
    this.regular = true;
    if (UPPERCASE.test(name) || CONNECTION_SPECIFIC.has(name) || (name === 'te' && value !== 'trailers')) {
      this.bad = true;
      return;
    }
    const prev = this.headers[name];
    if (prev === undefined) this.headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else this.headers[name] = [prev, value];
  }
  /** The request's pseudo-header fields are all there: CONNECT has no :scheme or :path, any other method both, and a :path not empty. */
  complete(): boolean {
    const h = this.headers;
    if (h[':method'] === 'CONNECT') return h[':authority'] !== undefined && h[':scheme'] === undefined && h[':path'] === undefined;
    return h[':method'] !== undefined && h[':scheme'] !== undefined && h[':path'] !== undefined && h[':path'] !== '';
  }
}

/** A request's content-length: its value as a number, -1 without one, NaN when it is not one decimal number. */
function contentLength(v: string | string[] | undefined): number {
  if (v === undefined) return -1;
  return typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : Number.NaN;
}

const EMPTY = Buffer.alloc(0);

function flushConnection(c: Connection): void {
  c.flush();
}

export class Connection {
  readonly socket: Duplex;
  readonly streams = new Map<number, Stream>();
  /** The last CLOSED_REMEMBERED closed streams and how each ended (PEER_ENDED, PEER_RESET, WE_RESET). */
  private readonly closedStreams = new Map<number, number>();
  private readonly o: ConnectionOptions;
  private readonly onStream: (stream: Stream, headers: Record<string, string | string[]>) => void;
  private readonly onClosed: (c: Connection) => void;
  private readonly hpack = new HpackDecoder(4096);
  private buf: Buffer | undefined;
  private prefaceSeen = false;
  private lastStreamId = 0;
  private sendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MAX_FRAME_BYTES;
  private recvSinceUpdate = 0;
  private block: Buffer[] | undefined;
  private blockStream = 0;
  private blockEndStream = false;
  private blockBytes = 0;
  private resetTokens = RESET_BURST;
  private resetRefilledAt = Date.now();
  private goingAway = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private out: Buffer[] = [];
  private flushScheduled = false;

  constructor(socket: Duplex, o: ConnectionOptions, onStream: (stream: Stream, headers: Record<string, string | string[]>) => void, onClosed: (c: Connection) => void) {
    this.socket = socket;
    this.o = o;
    this.onStream = onStream;
    this.onClosed = onClosed;
    const settings = Buffer.allocUnsafe(18);
    settings.writeUInt16BE(Setting.MAX_CONCURRENT_STREAMS, 0);
    settings.writeUInt32BE(MAX_STREAMS, 2);
    settings.writeUInt16BE(Setting.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(o.streamWindowBytes, 8);
    settings.writeUInt16BE(Setting.MAX_HEADER_LIST_SIZE, 12);
    settings.writeUInt32BE(MAX_HEADER_LIST_BYTES, 14);
    this.write(frame(FrameType.SETTINGS, 0, 0, settings));
    if (o.connectionWindowBytes > DEFAULT_WINDOW) this.write(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(o.connectionWindowBytes - DEFAULT_WINDOW)));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onBytes(chunk);
      } catch {
        // A fault of ours on this peer's bytes ends this connection, never the process.
        this.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.onSocketClose());
    this.armIdle();
  }

  /** Queues bytes for the socket; everything queued in one event-loop turn goes in one write. */
  write(b: Buffer): void {
    this.out.push(b);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushConnection, this);
    }
  }

  flush(): void {
    this.flushScheduled = false;
    const out = this.out;
    this.out = [];
    if (out.length === 0 || this.socket.destroyed) return;
    this.socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    if (this.socket.writableLength > MAX_BUFFERED_OUT) this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** No new streams; the connection closes once its streams are done (graceful), or at once for an error code. */
  goAway(code: number): void {
    if (!this.goingAway) {
      this.goingAway = true;
      const p = Buffer.allocUnsafe(8);
      p.writeUInt32BE(this.lastStreamId, 0);
      p.writeUInt32BE(code, 4);
      this.write(frame(FrameType.GOAWAY, 0, 0, p));
    }
    if (code !== ErrorCode.NO_ERROR || this.streams.size === 0) this.end(code !== ErrorCode.NO_ERROR);
  }

  private end(error: boolean): void {
    this.flush();
    this.socket.end();
    // A peer that does not close its side in time is cut off.
    setTimeout(() => this.socket.destroy(), error ? 1000 : 5000).unref();
  }

  private armIdle(): void {
    const ms = this.o.maxConnectionIdleMs;
    if (ms === undefined || this.idleTimer !== undefined || this.goingAway) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.streams.size === 0) this.goAway(ErrorCode.NO_ERROR);
    }, ms);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  private onSocketClose(): void {
    this.disarmIdle();
    for (const s of [...this.streams.values()]) this.closeStream(s, true);
    this.onClosed(this);
  }

  private onBytes(chunk: Buffer): void {
    let b = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = undefined;
    if (!this.prefaceSeen) {
      const n = Math.min(b.length, PREFACE.length);
      if (!b.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        this.destroy();
        return;
      }
      if (b.length < PREFACE.length) {
        this.buf = b;
        return;
      }
      this.prefaceSeen = true;
      b = b.subarray(PREFACE.length);
    }
    let at = 0;
    while (b.length - at >= 9) {
      const length = ((b[at] as number) << 16) | ((b[at + 1] as number) << 8) | (b[at + 2] as number);
      if (length > MAX_FRAME_BYTES) {
        this.goAway(ErrorCode.FRAME_SIZE_ERROR);
        return;
      }
      if (b.length - at < 9 + length) break;
      const type = b[at + 3] as number;
      const flags = b[at + 4] as number;
      const id = b.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = b.subarray(at + 9, at + 9 + length);
      at += 9 + length;
      const err = this.onFrame(type, flags, id, payload);
      if (err !== ErrorCode.NO_ERROR) {
        this.goAway(err);
        return;
      }
      if (this.socket.destroyed) return;
    }
    // A partial frame waits for the rest (copied: the chunk's other bytes need not stay).
    if (at < b.length) this.buf = at === 0 ? b : Buffer.from(b.subarray(at));
  }

  /** NO_ERROR, or the connection error it is. */
  private onFrame(type: number, flags: number, id: number, payload: Buffer): number {
    // A header block in progress admits only its CONTINUATION frames.
    if (this.block !== undefined && (type !== FrameType.CONTINUATION || id !== this.blockStream)) return ErrorCode.PROTOCOL_ERROR;
    switch (type) {
      case FrameType.DATA:
        return this.onData(flags, id, payload);
      case FrameType.HEADERS: {
        if (id === 0) return ErrorCode.PROTOCOL_ERROR;
        let p = payload;
        if (flags & Flag.PADDED) {
          const pad = p.length > 0 ? (p[0] as number) : 0;
          if (p.length < 1 + pad) return ErrorCode.PROTOCOL_ERROR;
          p = p.subarray(1, p.length - pad);
        }
        if (flags & Flag.PRIORITY) {
          if (p.length < 5) return ErrorCode.FRAME_SIZE_ERROR;
          // A stream cannot depend on itself (RFC 9113 section 5.3.1; a stream error, taken as the connection's).
          if ((p.readUInt32BE(0) & 0x7fffffff) === id) return ErrorCode.PROTOCOL_ERROR;
          p = p.subarray(5);
        }
        this.blockStream = id;
        this.blockEndStream = (flags & Flag.END_STREAM) !== 0;
        if (flags & Flag.END_HEADERS) return this.onHeaderBlock(id, p, this.blockEndStream);
        this.block = [Buffer.from(p)];
        this.blockBytes = p.length;
        return ErrorCode.NO_ERROR;
      }
      case FrameType.CONTINUATION: {
        if (this.block === undefined) return ErrorCode.PROTOCOL_ERROR;
        this.block.push(Buffer.from(payload));
        this.blockBytes += payload.length;
        // Compressed, a header list is never larger than it decodes to (plus Huffman's 8/5): past that, a flood.
        if (this.blockBytes > 2 * MAX_HEADER_LIST_BYTES) return ErrorCode.ENHANCE_YOUR_CALM;
        if ((flags & Flag.END_HEADERS) === 0) return ErrorCode.NO_ERROR;
        const block = Buffer.concat(this.block, this.blockBytes);
        this.block = undefined;
        return this.onHeaderBlock(this.blockStream, block, this.blockEndStream);
      }
      case FrameType.PRIORITY:
        if (id === 0) return ErrorCode.PROTOCOL_ERROR;
        if (payload.length !== 5) return ErrorCode.FRAME_SIZE_ERROR;
        return (payload.readUInt32BE(0) & 0x7fffffff) === id ? ErrorCode.PROTOCOL_ERROR : ErrorCode.NO_ERROR;
      case FrameType.RST_STREAM: {
        if (id === 0) return ErrorCode.PROTOCOL_ERROR;
        if (payload.length !== 4) return ErrorCode.FRAME_SIZE_ERROR;
        if (id > this.lastStreamId) return ErrorCode.PROTOCOL_ERROR;
        if (!this.takeResetToken()) return ErrorCode.ENHANCE_YOUR_CALM;
        const s = this.streams.get(id);
        if (s !== undefined) this.closeStream(s, true);
        return ErrorCode.NO_ERROR;
      }
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        return ErrorCode.PROTOCOL_ERROR;
      case FrameType.PING:
        if (id !== 0) return ErrorCode.PROTOCOL_ERROR;
        if (payload.length !== 8) return ErrorCode.FRAME_SIZE_ERROR;
        if ((flags & Flag.ACK) === 0) this.write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return ErrorCode.NO_ERROR;
      case FrameType.GOAWAY:
        if (id !== 0) return ErrorCode.PROTOCOL_ERROR;
        // The peer opens no more streams: the ones in progress finish, then the connection ends.
        this.goingAway = true;
        if (this.streams.size === 0) this.end(false);
        return ErrorCode.NO_ERROR;
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) return ErrorCode.FRAME_SIZE_ERROR;
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          if (inc === 0) return ErrorCode.PROTOCOL_ERROR;
          this.sendWindow += inc;
          if (this.sendWindow > MAX_WINDOW) return ErrorCode.FLOW_CONTROL_ERROR;
          this.drainAll();
          return ErrorCode.NO_ERROR;
        }
        const s = this.streams.get(id);
        if (s === undefined) return id > this.lastStreamId ? ErrorCode.PROTOCOL_ERROR : ErrorCode.NO_ERROR;
        if (inc === 0 || s.sendWindow + inc > MAX_WINDOW) {
          s.reset(inc === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR);
          return ErrorCode.NO_ERROR;
        }
        s.sendWindow += inc;
        this.drain(s);
        return ErrorCode.NO_ERROR;
      }
      default:
        return ErrorCode.NO_ERROR; // unknown frame types are ignored (RFC 9113 section 4.1)
    }
  }

  private takeResetToken(): boolean {
    const now = Date.now();
    const refill = Math.floor(((now - this.resetRefilledAt) * RESET_RATE) / 1000);
    if (refill > 0) {
      this.resetTokens = Math.min(RESET_BURST, this.resetTokens + refill);
      this.resetRefilledAt = now;
    }
    if (this.resetTokens <= 0) return false;
    this.resetTokens--;
    return true;
  }

  private onSettings(flags: number, id: number, payload: Buffer): number {
    if (id !== 0) return ErrorCode.PROTOCOL_ERROR;
    if (flags & Flag.ACK) return payload.length === 0 ? ErrorCode.NO_ERROR : ErrorCode.FRAME_SIZE_ERROR;
    if (payload.length % 6 !== 0) return ErrorCode.FRAME_SIZE_ERROR;
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) return ErrorCode.FLOW_CONTROL_ERROR;
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) return ErrorCode.FLOW_CONTROL_ERROR;
        }
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < MAX_FRAME_BYTES || value > 16777215) return ErrorCode.PROTOCOL_ERROR;
        this.peerMaxFrame = value;
      } else if (key === Setting.ENABLE_PUSH && value > 1) return ErrorCode.PROTOCOL_ERROR;
      // HEADER_TABLE_SIZE bounds the peer's decoder, which our encoder never indexes into; the rest do not bind a server.
    }
    this.write(frame(FrameType.SETTINGS, Flag.ACK, 0, EMPTY));
    this.drainAll();
    return ErrorCode.NO_ERROR;
  }

  private onData(flags: number, id: number, payload: Buffer): number {
    if (id === 0) return ErrorCode.PROTOCOL_ERROR;
    // Flow control counts the whole payload, padding included; the window is given back as it is read.
    this.recvSinceUpdate += payload.length;
    if (this.recvSinceUpdate > this.o.connectionWindowBytes) return ErrorCode.FLOW_CONTROL_ERROR;
    if (this.recvSinceUpdate >= this.o.connectionWindowBytes / 2) {
      this.write(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(this.recvSinceUpdate)));
      this.recvSinceUpdate = 0;
    }
    let p = payload;
    if (flags & Flag.PADDED) {
      const pad = p.length > 0 ? (p[0] as number) : 0;
      if (p.length < 1 + pad) return ErrorCode.PROTOCOL_ERROR;
      p = p.subarray(1, p.length - pad);
    }
    const s = this.streams.get(id);
    if (s === undefined) return id > this.lastStreamId ? ErrorCode.PROTOCOL_ERROR : this.onClosedStream(id, false);
    // Half-closed (remote): a stream error.
    if (s.remoteEnded) {
      s.reset(ErrorCode.STREAM_CLOSED);
      return ErrorCode.NO_ERROR;
    }
    s.dataBytes += p.length;
    // A body longer than its content-length, or ending shorter, is a malformed request (RFC 9113 section 8.1.1).
    const end = (flags & Flag.END_STREAM) !== 0;
    if (s.contentLength >= 0 && (s.dataBytes > s.contentLength || (end && s.dataBytes !== s.contentLength))) {
      s.reset(ErrorCode.PROTOCOL_ERROR);
      return ErrorCode.NO_ERROR;
    }
    s.recvSinceUpdate += payload.length;
    if (s.recvSinceUpdate > this.o.streamWindowBytes) {
      s.reset(ErrorCode.FLOW_CONTROL_ERROR);
      return ErrorCode.NO_ERROR;
    }
    if (!end && s.recvSinceUpdate >= this.o.streamWindowBytes / 2) {
      this.write(frame(FrameType.WINDOW_UPDATE, 0, id, u32(s.recvSinceUpdate)));
      s.recvSinceUpdate = 0;
    }
    if (p.length > 0) s.events.data?.(p);
    if (end && !s.closed) {
      s.remoteEnded = true;
      s.events.end?.();
    }
    return ErrorCode.NO_ERROR;
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): number {
    const existing = this.streams.get(id);
    const list = new HeaderList(existing !== undefined || id <= this.lastStreamId);
    try {
      this.hpack.decode(block, list, MAX_HEADER_LIST_BYTES);
    } catch {
      // The decoder's table may now differ from the peer's: the connection cannot go on.
      return ErrorCode.COMPRESSION_ERROR;
    }
    // (Every block is decoded before it is judged, so that HPACK stays in step with the peer.)
    if (existing !== undefined) {
      // Trailers from the client: they end its side, after the whole body.
      if (existing.remoteEnded) {
        existing.reset(ErrorCode.STREAM_CLOSED);
        return ErrorCode.NO_ERROR;
      }
      if (!endStream) return ErrorCode.PROTOCOL_ERROR;
      if (list.bad || (existing.contentLength >= 0 && existing.dataBytes !== existing.contentLength)) {
        existing.reset(ErrorCode.PROTOCOL_ERROR);
        return ErrorCode.NO_ERROR;
      }
      existing.remoteEnded = true;
      existing.events.end?.();
      return ErrorCode.NO_ERROR;
    }
    if ((id & 1) === 0) return ErrorCode.PROTOCOL_ERROR;
    // A stream no longer open; else a new stream's id must be larger than every earlier one's.
    if (id <= this.lastStreamId) return this.onClosedStream(id, true);
    this.lastStreamId = id;
    if (this.goingAway || this.streams.size >= MAX_STREAMS) return this.refuse(id, ErrorCode.REFUSED_STREAM, endStream);
    const length = contentLength(list.headers['content-length']);
    if (list.bad || !list.complete() || Number.isNaN(length) || (endStream && length > 0)) return this.refuse(id, ErrorCode.PROTOCOL_ERROR, endStream);
    const s = new Stream(this, id, this.peerInitialWindow);
    s.contentLength = length;
    this.streams.set(id, s);
    this.disarmIdle();
    this.onStream(s, list.headers);
    if (endStream && !s.closed) {
      s.remoteEnded = true;
      s.events.end?.();
    }
    return ErrorCode.NO_ERROR;
  }

  /**
   * DATA or HEADERS for a stream no longer open (`id` at most the last opened): dropped when we
   * reset it (what the peer sent before it knew), a connection error STREAM_CLOSED after the
   * peer's own END_STREAM, a stream error STREAM_CLOSED after its RST_STREAM; for a stream never
   * opened (or no longer remembered), HEADERS are a connection error PROTOCOL_ERROR (an id below
   * an earlier one's) and DATA a stream error STREAM_CLOSED.
   */
  private onClosedStream(id: number, headers: boolean): number {
    const how = this.closedStreams.get(id);
    if (how === WE_RESET) return ErrorCode.NO_ERROR;
    if (how === PEER_ENDED) return ErrorCode.STREAM_CLOSED;
    if (how === undefined && headers) return ErrorCode.PROTOCOL_ERROR;
    this.rst(id, ErrorCode.STREAM_CLOSED);
    return ErrorCode.NO_ERROR;
  }

  /** Resets a new stream before it reaches the owner (refused, or a malformed request). */
  private refuse(id: number, code: number, endStream: boolean): number {
    this.rst(id, code);
    this.remember(id, endStream ? PEER_ENDED : WE_RESET);
    return ErrorCode.NO_ERROR;
  }

  rst(id: number, code: number): void {
    this.write(frame(FrameType.RST_STREAM, 0, id, u32(code)));
  }

  /** Our side is done (END_STREAM sent): the stream is over for us, and a client still sending is told to stop. */
  finish(s: Stream): void {
    if (s.closed) return;
    if (!s.remoteEnded) this.rst(s.id, ErrorCode.NO_ERROR);
    this.closeStream(s);
  }

  /**
   * The stream is over: reset by the peer (`peerReset`), or else ended by us, after the peer's
   * END_STREAM or with our RST_STREAM (remembered so for the frames that may still arrive).
   */
  closeStream(s: Stream, peerReset = false): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    this.remember(s.id, peerReset ? PEER_RESET : s.remoteEnded ? PEER_ENDED : WE_RESET);
    const close = s.events.close;
    s.events.data = s.events.end = s.events.close = undefined;
    s.pending = [];
    s.pendingTrailers = undefined;
    close?.();
    if (this.streams.size === 0) {
      if (this.goingAway) this.end(false);
      else this.armIdle();
    }
  }

  private remember(id: number, how: number): void {
    this.closedStreams.set(id, how);
    if (this.closedStreams.size > CLOSED_REMEMBERED) this.closedStreams.delete(this.closedStreams.keys().next().value as number);
  }

  sendHeaders(s: Stream, block: Buffer, end: boolean): void {
    // Larger than a frame: HEADERS, then CONTINUATION frames.
    let at = 0;
    let first = true;
    do {
      const n = Math.min(this.peerMaxFrame, block.length - at);
      const last = at + n >= block.length;
      const type = first ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? Flag.END_HEADERS : 0) | (first && end ? Flag.END_STREAM : 0);
      this.write(frame(type, flags, s.id, block.subarray(at, at + n)));
      at += n;
      first = false;
    } while (at < block.length);
  }

  private drainAll(): void {
    for (const s of [...this.streams.values()]) if (s.pending.length > 0 || s.pendingTrailers !== undefined) this.drain(s);
  }

  drain(s: Stream): void {
    while (s.pending.length > 0) {
      const data = s.pending[0] as Buffer;
      const room = Math.min(s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (room <= 0) return;
      const n = Math.min(room, data.length);
      const out = Buffer.allocUnsafe(9 + n);
      frameHeader(out, 0, n, FrameType.DATA, 0, s.id);
      data.copy(out, 9, 0, n);
      this.write(out);
      s.sendWindow -= n;
      this.sendWindow -= n;
      if (n === data.length) s.pending.shift();
      else s.pending[0] = data.subarray(n);
    }
    const trailers = s.pendingTrailers;
    if (trailers !== undefined) {
      s.pendingTrailers = undefined;
      this.sendHeaders(s, trailers, true);
      this.finish(s);
    }
  }
}
