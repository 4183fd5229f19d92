/**
 * Prototype (bench only, not shipped, not used by `serve`): a minimal gRPC unary server on
 * node:http2's core API, without @grpc/grpc-js. What it does, per stream:
 *   - POST only (else HTTP 405), content-type application/grpc[+proto|;...] (else HTTP 415),
 *     a known :path (else grpc-status 12 UNIMPLEMENTED);
 *   - the request body is one length-prefixed message: flag byte, 4-byte big-endian length,
 *     message. A compressed message (flag 1) is refused (12 UNIMPLEMENTED, grpc-accept-encoding:
 *     identity); a message over the limit is refused (8 RESOURCE_EXHAUSTED) as soon as its length
 *     prefix or its bytes say so; none, a truncated one or two messages is 13 INTERNAL;
 *   - grpc-timeout is honoured: when it passes first, the answer is 4 DEADLINE_EXCEEDED
 *     (trailers-only) and the handler's late result is dropped;
 *   - the answer: headers (:status 200, content-type application/grpc), one message frame, then
 *     trailers grpc-status 0; an error is a trailers-only response with grpc-status and a
 *     percent-encoded grpc-message;
 *   - a stream reset or closed by the client (RST_STREAM CANCEL, connection gone) before the
 *     answer: the result is dropped, nothing is written.
 * What it does not do (a production version would need them): TLS/mTLS, the gRPC health
 * service, keepalive pings and max-connection-idle, graceful drain (GOAWAY then close), and
 * server settings beyond the receive windows (maxConcurrentStreams is passed through).
 */
import http2, { type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';

export const GRPC = {
  OK: 0,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;

/** An error with a gRPC status, thrown by a handler (e.g. a request that does not decode). */
export class GrpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** A unary method: the request message's bytes and the call's headers (metadata) in, the response message's bytes out. */
export type UnaryHandler = (message: Buffer, headers: IncomingHttpHeaders) => Promise<Buffer> | Buffer;

export interface GrpcH2Options {
  /** Largest request message accepted (grpc-js's grpc.max_receive_message_length as llm-authz sets it). */
  readonly maxMessageBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection (Node's default: unlimited). */
  readonly maxConcurrentStreams?: number;
  /** Per-stream receive window (llm-authz raises it to 4 MiB for large bodies: src/server/http2-window.ts). */
  readonly streamWindowBytes?: number;
  /** Per-connection receive window. */
  readonly connectionWindowBytes?: number;
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
function percentEncode(s: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(s)
    ? s
    : Array.from(Buffer.from(s, 'utf8'), (b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

function trailersOnly(stream: ServerHttp2Stream, code: number, message: string, extra: Record<string, string> = {}): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': percentEncode(message), ...extra }, { endStream: true });
}

const OK_TRAILERS = { 'grpc-status': '0' };
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };

function isGrpcContentType(ct: string | undefined): boolean {
  return ct !== undefined && (ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'));
}

/** One call: collects the request frame, runs the handler once, answers once. */
function serveCall(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, handler: UnaryHandler, maxMessageBytes: number): void {
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
  const fail = (code: number, message: string, extra?: Record<string, string>): void => {
    if (!finish()) return;
    trailersOnly(stream, code, message, extra);
  };
  const timeoutMs = parseGrpcTimeout(headers['grpc-timeout']);
  if (timeoutMs !== undefined) timer = setTimeout(() => fail(GRPC.DEADLINE_EXCEEDED, 'Deadline exceeded'), Math.max(1, Math.ceil(timeoutMs)));
  // The client went away (RST_STREAM, connection closed) before the answer: drop the result.
  stream.on('close', () => {
    finish();
  });
  stream.on('error', () => {
    finish();
  });
  stream.on('data', (chunk: Buffer) => {
    if (done) return;
    received += chunk.length;
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
    if (received > maxMessageBytes + 5) {
      fail(GRPC.RESOURCE_EXHAUSTED, `Received message larger than max (${received - 5} vs. ${maxMessageBytes})`);
      return;
    }
    // The length prefix says it before the bytes arrive.
    if (first.length >= 5 && first.readUInt32BE(1) > maxMessageBytes)
      fail(GRPC.RESOURCE_EXHAUSTED, `Received message larger than max (${first.readUInt32BE(1)} vs. ${maxMessageBytes})`);
  });
  stream.on('end', () => {
    if (done) return;
    const body = chunks !== undefined ? Buffer.concat(chunks, received) : (first ?? Buffer.alloc(0));
    if (body.length < 5) {
      fail(GRPC.INTERNAL, body.length === 0 ? 'No message received' : 'Truncated message frame');
      return;
    }
    if (body[0] !== 0) {
      fail(GRPC.UNIMPLEMENTED, 'Compressed messages are not supported', { 'grpc-accept-encoding': 'identity' });
      return;
    }
    const len = body.readUInt32BE(1);
    if (5 + len !== body.length) {
      fail(GRPC.INTERNAL, 5 + len > body.length ? 'Truncated message frame' : 'More than one message in a unary call');
      return;
    }
    const message = body.subarray(5);
    let result: Promise<Buffer> | Buffer;
    try {
      result = handler(message, headers);
    } catch (err) {
      answerError(err);
      return;
    }
    if (Buffer.isBuffer(result)) answer(result);
    else result.then(answer, answerError);
  });
  function answer(msg: Buffer): void {
    if (!finish() || stream.destroyed || stream.closed) return;
    const frame = Buffer.allocUnsafe(5 + msg.length);
    frame[0] = 0;
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(frame);
  }
  function answerError(err: unknown): void {
    if (err instanceof GrpcError) fail(err.code, err.message);
    else fail(GRPC.INTERNAL, 'Internal error');
  }
}

/** An HTTP/2 cleartext server answering the given unary methods by :path ("/package.Service/Method"). */
export function createGrpcH2Server(methods: Readonly<Record<string, UnaryHandler>>, o: GrpcH2Options = {}): Http2Server {
  const maxMessageBytes = o.maxMessageBytes ?? 16 * 1024 * 1024;
  const byPath = new Map(Object.entries(methods));
  const server = http2.createServer({
    settings: {
      ...(o.maxConcurrentStreams !== undefined ? { maxConcurrentStreams: o.maxConcurrentStreams } : {}),
      ...(o.streamWindowBytes !== undefined ? { initialWindowSize: o.streamWindowBytes } : {}),
    },
  });
  server.on('session', (session) => {
    // A session error (a broken peer) closes that session only.
    session.on('error', () => undefined);
    if (o.connectionWindowBytes !== undefined) {
      const size = o.connectionWindowBytes;
      session.once('localSettings', () => {
        try {
          session.setLocalWindowSize(size);
        } catch {
          // A session closing under us keeps the default window.
        }
      });
    }
  });
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'POST') {
      stream.respond({ ':status': 405 }, { endStream: true });
      return;
    }
    if (!isGrpcContentType(headers['content-type'])) {
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    const handler = byPath.get(headers[':path'] ?? '');
    if (handler === undefined) {
      stream.on('error', () => undefined);
      trailersOnly(stream, GRPC.UNIMPLEMENTED, `Unknown method ${headers[':path'] ?? ''}`);
      stream.resume();
      return;
    }
    serveCall(stream, headers, handler, maxMessageBytes);
  });
  return server;
}
