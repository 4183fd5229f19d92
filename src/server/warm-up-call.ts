/**
 * One gRPC call to the server's own listener, before it reports SERVING: grpc.health.v1.Health/Check
 * (no decision is made for it), over a new HTTP/2 connection, so that the server side of a
 * connection and of a unary call (grpc-js's session and stream handling, metadata, framing,
 * trailers) has run once before Envoy's first connection and first Check. It is sent with
 * node:http2 (no grpc-js client, which a server does not otherwise load). Resolves with the health
 * status it answered (NOT_SERVING before the server serves) when the answer is a gRPC OK; rejects
 * otherwise, or after `timeoutMs`.
 */
import http2 from 'node:http2';
import net from 'node:net';

/** Where the call goes: a TCP port on a host, or a Unix socket path. */
export type CallTarget = { readonly host: string; readonly port: number } | { readonly socket: string };

/** A listener's own address as a client reaches it: a wildcard host is reached on loopback. */
export function callTarget(listen: string, port: number): CallTarget {
  if (listen.startsWith('unix:')) return { socket: listen.slice('unix:'.length) };
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return { host: host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}

/**
 * A HealthCheckRequest for the server as a whole (service ""), as one gRPC message frame, about the
 * size of a CheckRequest with a 2 KB body: the service name is absent and a field the message does
 * not have (15, bytes) carries 2 KiB, which the decoder skips. A larger message than an empty one
 * takes the server's framing and decoding paths Envoy's Checks take.
 */
function healthRequestFrame(): Buffer {
  const filler = Buffer.alloc(2048, 0x2e);
  const message = Buffer.concat([Buffer.from([(15 << 3) | 2, 0x80, 0x10]), filler]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(message.length, 1);
  return Buffer.concat([frame, message]);
}

/** grpc.health.v1.HealthCheckResponse.ServingStatus. */
const STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** The status of a HealthCheckResponse frame: field 1, a varint (absent: UNKNOWN). */
function servingStatus(frame: Buffer): string {
  const message = frame.subarray(5);
  if (message.length === 0) return 'UNKNOWN';
  return message[0] === 0x08 ? (STATUSES[message[1] ?? -1] ?? 'UNKNOWN') : 'UNKNOWN';
}

export function healthCallToSelf(target: CallTarget, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const authority = 'socket' in target ? 'http://localhost' : `http://${net.isIPv6(target.host) ? `[${target.host}]` : target.host}:${target.port}`;
    const session = http2.connect(authority, 'socket' in target ? { createConnection: () => net.connect(target.socket) } : {});
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      session.destroy();
      if (err === undefined) resolve(servingStatus(Buffer.concat(chunks)));
      else reject(err);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    session.on('error', (err) => done(err));
    // The metadata Envoy's ext_authz calls carry: a deadline and a W3C trace context.
    const stream = session.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-envoy-expected-rq-timeout-ms': String(timeoutMs),
    });
    let status: string | undefined;
    stream.on('response', (headers) => {
      // A Trailers-Only answer (an error) carries grpc-status in its headers.
      if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
    });
    stream.on('trailers', (trailers) => {
      status = String(trailers['grpc-status']);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => done(err));
    stream.on('close', () => done(status === '0' ? undefined : new Error(`the health call ended with grpc-status ${status ?? 'none'}`)));
    stream.end(healthRequestFrame());
  });
}
