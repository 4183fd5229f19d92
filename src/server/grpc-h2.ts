/**
 * The gRPC server transport llm-authz listens with: gRPC over HTTP/2, on the HTTP/2 connection of
 * ./http2/connection.ts (framing, flow control, HPACK in JavaScript over a TCP, Unix or TLS
 * socket). It replaced a transport on node:http2 (whose received header strings and streams made
 * the full collections' pauses: README "Sizing"), which had replaced @grpc/grpc-js's server (20-30%
 * more CPU per Check, bench/proto-h2/RESULTS.md); grpc-js stays the client library (the OTLP
 * exporters, `llm-authz health`, the tests). What it implements of the gRPC HTTP/2 protocol, per stream:
 *   - POST only (else HTTP 405), content-type application/grpc[+proto|;...] (else HTTP 415), a
 *     known :path (else grpc-status 12 UNIMPLEMENTED);
 *   - length-prefixed messages (flag byte, 4-byte big-endian length, message). A compressed
 *     message (flag 1) is refused with 12 UNIMPLEMENTED and grpc-accept-encoding: identity (no
 *     compression is advertised, so a client sends none); a message over maxMessageBytes is
 *     refused with 8 RESOURCE_EXHAUSTED as soon as its length prefix says so; a unary call with no
 *     message, a truncated one or two is 13 INTERNAL;
 *   - grpc-timeout on unary calls: when it passes first the answer is 4 DEADLINE_EXCEEDED and the
 *     handler's late result is dropped;
 *   - answers: response headers, message frames, then trailers with grpc-status 0; an error is a
 *     trailers-only response with grpc-status and a percent-encoded grpc-message;
 *   - a call the client resets or whose connection goes before the answer: nothing is written.
 * Per connection: the receive windows (4 MiB per stream, 16 MiB per connection: a 1 MiB prompt
 * arrives without waiting for WINDOW_UPDATEs), max-connection-idle (a connection without a call
 * for that long gets a GOAWAY and is closed), and HTTP/2 PINGs answered (keepalive from the
 * client is allowed with or without calls); the HTTP/2 limits on a peer are connection.ts's.
 * Shutdown: the listener stops accepting, every connection gets a GOAWAY and closes once its calls
 * are done; past the timeout the rest are destroyed. TLS and mTLS (TLS 1.2+, ALPN h2) with certificates swapped in without a restart.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ListenAddress } from '../core/listen.ts';
import { Connection, ErrorCode, type Stream } from './http2/connection.ts';
import { encodeHeaders } from './http2/hpack.ts';

/** Largest CheckRequest accepted (a request body Envoy buffers, with its headers). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Per-stream receive window: a CheckRequest with a 4 MiB body arrives without waiting for WINDOW_UPDATEs. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Per-connection receive window, shared by Envoy's concurrent streams on one connection. */
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

export const Status = {
  OK: 0,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** An error with a gRPC status, thrown by a handler (e.g. a request message that does not decode). */
export class GrpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** A call's request headers (metadata), lower-case names; a name sent more than once has an array. */
export type CallHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A unary method: the request message's bytes and the call's headers (metadata) in, the response message's bytes out. */
export interface UnaryMethod {
  readonly kind: 'unary';
  handle(message: Buffer, headers: CallHeaders): Promise<Buffer> | Buffer;
}

/** The server's side of a streaming call. */
export interface ServerStreamCall {
  readonly headers: CallHeaders;
  /** Sends one message (response headers go first, once). Ignored once the call is over. */
  write(message: Buffer): void;
  /** Ends the call with a status (trailers). Ignored once the call is over. */
  end(code?: number, message?: string): void;
}

/** What a streaming method does with the client's side of its call. */
export interface StreamHandlers {
  /** One request message. */
  message(message: Buffer): void;
  /** The client half-closed: it sends no more messages. */
  end(): void;
  /** The call is over (ended by either side, reset, or its connection gone); called once. */
  closed(): void;
}

/** A streaming method (client, server or bidirectional streaming: the handler decides what it sends). */
export interface StreamMethod {
  readonly kind: 'stream';
  open(call: ServerStreamCall): StreamHandlers;
}

export type Method = UnaryMethod | StreamMethod;

export interface TlsContext {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Client certificates must chain to this bundle (mTLS), when set. */
  readonly ca?: Buffer | undefined;
}

export interface GrpcServerOptions {
  /** Largest request message accepted. */
  readonly maxMessageBytes: number;
  /** Per-stream receive window. */
  readonly streamWindowBytes: number;
  /** Per-connection receive window. */
  readonly connectionWindowBytes: number;
  /** A connection without a call this long is sent a GOAWAY and closed (none: kept open). */
  readonly maxConnectionIdleMs?: number | undefined;
  /** TLS on the listener (mTLS with `ca`); cleartext HTTP/2 without. */
  readonly tls?: TlsContext | undefined;
}

export interface GrpcServer {
  /** Binds and listens: the TCP port (0 for a Unix socket). */
  listen(address: ListenAddress): Promise<number>;
  /** New TLS connections get this certificate (and client CA) from now on. */
  setTls(tls: TlsContext): void;
  /** Graceful close (GOAWAY, calls finish) or, after timeoutMs, forced. */
  close(timeoutMs: number): Promise<'graceful' | 'forced'>;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** grpc-timeout ("200m", "1S", ...): milliseconds, or undefined when absent or malformed (no deadline). */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return undefined;
  return Number(m[1]) * (TIMEOUT_UNIT_MS[m[2] as string] as number);
}

/** grpc-message: percent-encoded outside printable ASCII (and '%' itself), as the gRPC HTTP/2 spec says. */
export function percentEncode(s: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(s)
    ? s
    : Array.from(Buffer.from(s, 'utf8'), (b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

const RESPONSE_HEADERS = encodeHeaders([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);
const METHOD_NOT_ALLOWED = encodeHeaders([[':status', '405']]);
const UNSUPPORTED_MEDIA_TYPE = encodeHeaders([[':status', '415']]);
const COMPRESSED = { 'grpc-accept-encoding': 'identity' } as const;

/** A trailers-only answer: status and message in the response headers, which end the stream. */
function trailersOnly(stream: Stream, code: number, message: string, extra: Readonly<Record<string, string>> = {}): void {
  stream.respond(
    encodeHeaders([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', String(code)], ['grpc-message', percentEncode(message)], ...Object.entries(extra)]),
    true,
  );
}

function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

function isGrpcContentType(ct: string | string[] | undefined): boolean {
  return typeof ct === 'string' && (ct === 'application/grpc' || ct.startsWith('application/grpc+proto') || ct.startsWith('application/grpc;'));
}

const tooLarge = (size: number, max: number): string => `Received message larger than max (${size} vs. ${max})`;

/** A unary call: collects the request frame, runs the handler once, answers once. */
function serveUnary(stream: Stream, headers: CallHeaders, method: UnaryMethod, maxMessageBytes: number): void {
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let chunks: Buffer[] | undefined;
  let first: Buffer | undefined;
  let received = 0;
  const finish = (): boolean => {
    if (done) return false;
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    return true;
  };
  const fail = (code: number, message: string, extra?: Readonly<Record<string, string>>): void => {
    if (!finish()) return;
    trailersOnly(stream, code, message, extra);
  };
  const timeoutMs = parseGrpcTimeout(headers['grpc-timeout']);
  if (timeoutMs !== undefined) timer = setTimeout(() => fail(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'), Math.max(1, Math.ceil(timeoutMs)));
  const answer = (msg: Buffer): void => {
    if (!finish() || stream.closed) return;
    stream.respond(RESPONSE_HEADERS, false);
    stream.write(frame(msg));
    stream.trailers(OK_TRAILERS);
  };
  const answerError = (err: unknown): void => {
    if (err instanceof GrpcError) fail(err.code, err.message);
    else fail(Status.INTERNAL, 'Internal error');
  };
  stream.events.close = () => {
    finish();
    first = chunks = undefined;
  };
  stream.events.data = (chunk) => {
    if (done) return;
    received += chunk.length;
    if (first === undefined) first = chunk;
    else if (chunks === undefined) chunks = [first, chunk];
    else chunks.push(chunk);
    // The length prefix says it before the bytes arrive.
    if (first.length >= 5 && first.readUInt32BE(1) > maxMessageBytes) fail(Status.RESOURCE_EXHAUSTED, tooLarge(first.readUInt32BE(1), maxMessageBytes));
    else if (received > maxMessageBytes + 5) fail(Status.RESOURCE_EXHAUSTED, tooLarge(received - 5, maxMessageBytes));
  };
  stream.events.end = () => {
    if (done) return;
    const body = chunks !== undefined ? Buffer.concat(chunks, received) : (first ?? Buffer.alloc(0));
    first = chunks = undefined;
    if (body.length < 5) {
      fail(Status.INTERNAL, body.length === 0 ? 'No message received' : 'Truncated message frame');
      return;
    }
    if (body[0] !== 0) {
      fail(Status.UNIMPLEMENTED, 'Compressed messages are not supported', COMPRESSED);
      return;
    }
    const len = body.readUInt32BE(1);
    if (5 + len !== body.length) {
      fail(Status.INTERNAL, 5 + len > body.length ? 'Truncated message frame' : 'More than one message in a unary call');
      return;
    }
    let result: Promise<Buffer> | Buffer;
    try {
      result = method.handle(body.subarray(5), headers);
    } catch (err) {
      answerError(err);
      return;
    }
    if (Buffer.isBuffer(result)) answer(result);
    else result.then(answer, answerError);
  };
}

/** A streaming call: messages as they arrive to the handler, the handler's messages and end back. */
function serveStream(stream: Stream, headers: CallHeaders, method: StreamMethod, maxMessageBytes: number): void {
  let over = false;
  let closedCalled = false;
  const call: ServerStreamCall = {
    headers,
    write(message) {
      if (over || stream.closed) return;
      if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, false);
      stream.write(frame(message));
    },
    end(code = Status.OK, message = '') {
      if (over) return;
      over = true;
      if (stream.closed) return;
      if (!stream.headersSent) trailersOnly(stream, code, message);
      else
        stream.trailers(
          code === Status.OK
            ? OK_TRAILERS
            : encodeHeaders([
                ['grpc-status', String(code)],
                ['grpc-message', percentEncode(message)],
              ]),
        );
    },
  };
  let handlers: StreamHandlers;
  try {
    handlers = method.open(call);
  } catch {
    over = true;
    trailersOnly(stream, Status.INTERNAL, 'Internal error');
    return;
  }
  const closed = (): void => {
    over = true;
    if (closedCalled) return;
    closedCalled = true;
    try {
      handlers.closed();
    } catch {
      // The handler's own failure is its to count; the call is over either way.
    }
  };
  const fail = (code: number, message: string, extra?: Readonly<Record<string, string>>): void => {
    if (over) return;
    if (stream.headersSent) call.end(code, message);
    else {
      over = true;
      trailersOnly(stream, code, message, extra);
    }
    closed();
  };
  stream.events.close = () => {
    closed();
    parts = [];
  };
  // Bytes not yet a whole message: kept as received, joined once a message is complete (a large
  // message arriving in many DATA frames is copied once, not once per frame).
  let parts: Buffer[] = [];
  let partBytes = 0;
  let need = 5; // bytes needed before something can be read: the prefix, then prefix + message
  stream.events.data = (chunk) => {
    if (over) return;
    parts.push(chunk);
    partBytes += chunk.length;
    while (!over && partBytes >= need) {
      const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, partBytes);
      const len = buf.readUInt32BE(1);
      if (len > maxMessageBytes) {
        fail(Status.RESOURCE_EXHAUSTED, tooLarge(len, maxMessageBytes));
        return;
      }
      if (buf[0] !== 0) {
        fail(Status.UNIMPLEMENTED, 'Compressed messages are not supported', COMPRESSED);
        return;
      }
      if (buf.length < 5 + len) {
        parts = [buf];
        need = 5 + len;
        break;
      }
      const rest = buf.subarray(5 + len);
      parts = rest.length > 0 ? [rest] : [];
      partBytes = rest.length;
      need = 5;
      handlers.message(buf.subarray(5, 5 + len));
    }
  };
  stream.events.end = () => {
    if (over) return;
    if (partBytes > 0) {
      fail(Status.INTERNAL, 'Truncated message frame');
      return;
    }
    handlers.end();
  };
}

/** A gRPC server answering `methods` by :path ("/package.Service/Method"). */
export function createGrpcServer(methods: Readonly<Record<string, Method>>, o: GrpcServerOptions): GrpcServer {
  const byPath = new Map(Object.entries(methods));
  const connections = new Set<Connection>();
  let closing = false;
  const connectionOptions = { streamWindowBytes: o.streamWindowBytes, connectionWindowBytes: o.connectionWindowBytes, maxConnectionIdleMs: o.maxConnectionIdleMs };

  const onStream = (stream: Stream, headers: CallHeaders): void => {
    if (headers[':method'] !== 'POST') {
      stream.respond(METHOD_NOT_ALLOWED, true);
      return;
    }
    if (!isGrpcContentType(headers['content-type'])) {
      stream.respond(UNSUPPORTED_MEDIA_TYPE, true);
      return;
    }
    const path = headers[':path'];
    const method = typeof path === 'string' ? byPath.get(path) : undefined;
    if (method === undefined) {
      trailersOnly(stream, Status.UNIMPLEMENTED, `The server does not implement the method ${typeof path === 'string' ? path : ''}`);
      return;
    }
    if (method.kind === 'unary') serveUnary(stream, headers, method, o.maxMessageBytes);
    else serveStream(stream, headers, method, o.maxMessageBytes);
  };
  const accept = (socket: net.Socket): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    connections.add(new Connection(socket, connectionOptions, onStream, (c) => connections.delete(c)));
  };
  const tlsOptions = (t: TlsContext) => ({
    cert: t.cert,
    key: t.key,
    ...(t.ca !== undefined ? { ca: t.ca, requestCert: true, rejectUnauthorized: true } : {}),
  });
  const server: net.Server | tls.Server =
    o.tls === undefined
      ? net.createServer(accept)
      : tls.createServer({ ...tlsOptions(o.tls), minVersion: 'TLSv1.2', ALPNProtocols: ['h2'] }, (socket) => {
          // HTTP/2 only: a client that did not negotiate h2 by ALPN gets no answer.
          if (socket.alpnProtocol !== 'h2') {
            socket.destroy();
            return;
          }
          accept(socket);
        });
  // TLS handshakes that fail (no client certificate under mTLS, another CA's) end that connection.
  server.on('tlsClientError', () => undefined);

  return {
    listen(address) {
      return new Promise<number>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        const done = (): void => {
          server.off('error', onError);
          // Later listener errors (none expected once bound) must not crash the process.
          server.on('error', () => undefined);
          const a = server.address();
          resolve(typeof a === 'object' && a !== null ? a.port : 0);
        };
        if (address.kind === 'unix') {
          server.listen(address.path, done);
        } else {
          server.listen(address.port, address.host.replace(/^\[|\]$/g, ''), done);
        }
      });
    },
    setTls(t) {
      if (server instanceof tls.Server) server.setSecureContext(tlsOptions(t));
    },
    close(timeoutMs) {
      closing = true;
      return new Promise((resolve) => {
        let settled = false;
        const settle = (how: 'graceful' | 'forced'): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(how);
        };
        const timer = setTimeout(() => {
          for (const c of connections) c.destroy();
          server.close();
          settle('forced');
        }, timeoutMs);
        server.close(() => settle('graceful'));
        // GOAWAY to every connection; each closes once its calls are done.
        for (const c of connections) c.goAway(ErrorCode.NO_ERROR);
      });
    },
  };
}
