/**
 * The server transport (src/server/grpc-h2.ts) and its health service (src/server/health.ts),
 * with raw HTTP/2 (every protocol edge: framing, limits, compression, deadlines, cancel, method,
 * content type) and grpc-js's client (what Envoy's and the kubelet's gRPC clients see): unary and
 * streaming calls, health Check/Watch/List, max-connection-idle, graceful and forced close, a Unix
 * socket listener.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import http2 from 'node:http2';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcFrame, rawGrpcCall, type RawAnswer } from '../../devstack/grpc-raw.ts';
import { parseListen, type ListenAddress } from '../../src/core/listen.ts';
import { PROTO_LOADER_OPTIONS } from '../../src/envoy/proto.ts';
import { createGrpcServer, GrpcError, parseGrpcTimeout, percentEncode, Status, type GrpcServer, type Method } from '../../src/server/grpc-h2.ts';
import { createHealth, decodeHealthRequest } from '../../src/server/health.ts';

const ECHO = '/test.Echo/Echo';
const STREAM = '/test.Echo/Stream';
const LOOPBACK = parseListen('127.0.0.1:0');
if (!LOOPBACK.ok) throw new Error(LOOPBACK.problem);
const loopback: ListenAddress = LOOPBACK.value;

const frame = grpcFrame;

/** One raw HTTP/2 call to ECHO (or `o.path`). */
function raw(target: string, headers: Record<string, string>, body: Buffer, o: { hold?: number; cancelAfter?: number; path?: string } = {}): Promise<RawAnswer> {
  return rawGrpcCall(target, o.path ?? ECHO, headers, body, o);
}

const servers: GrpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

async function start(
  methods: Readonly<Record<string, Method>>,
  o: { maxMessageBytes?: number; maxConnectionIdleMs?: number; address?: ListenAddress } = {},
): Promise<{ server: GrpcServer; target: string; port: number }> {
  const server = createGrpcServer(methods, {
    maxMessageBytes: o.maxMessageBytes ?? 1024,
    streamWindowBytes: 1024 * 1024,
    connectionWindowBytes: 4 * 1024 * 1024,
    maxConnectionIdleMs: o.maxConnectionIdleMs,
  });
  servers.push(server);
  const port = await server.listen(o.address ?? loopback);
  return { server, port, target: `http://127.0.0.1:${port}` };
}

/** Echo: the request message back, reversed (so an answer is not the request by accident). */
const echo: Method = { kind: 'unary', handle: (m) => Buffer.from(m).reverse() };

describe('the gRPC transport', () => {
  it('answers a unary call: headers, one length-prefixed message, grpc-status 0 in trailers', async () => {
    const { target } = await start({ [ECHO]: echo });
    const a = await raw(target, {}, frame(Buffer.from('abc')));
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/grpc');
    expect(a.grpcStatus).toBe('0');
    expect(a.body.readUInt32BE(1)).toBe(3);
    expect(a.body.subarray(5).toString()).toBe('cba');
  });

  it('refuses what is not a single uncompressed message within the limit, each with its status', async () => {
    const { target } = await start({ [ECHO]: echo }, { maxMessageBytes: 16 });
    const compressed = await raw(target, { 'grpc-encoding': 'gzip' }, frame(Buffer.from('abc'), 1));
    expect(compressed.grpcStatus).toBe(String(Status.UNIMPLEMENTED));
    expect(compressed.headers['grpc-accept-encoding']).toBe('identity');
    expect((await raw(target, {}, Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]))).grpcStatus).toBe(String(Status.INTERNAL));
    expect((await raw(target, {}, Buffer.alloc(0))).grpcStatus).toBe(String(Status.INTERNAL));
    expect((await raw(target, {}, frame(Buffer.from('abcdef')).subarray(0, 7))).grpcStatus).toBe(String(Status.INTERNAL));
    const big = await raw(target, {}, frame(Buffer.alloc(17)));
    expect(big.grpcStatus).toBe(String(Status.RESOURCE_EXHAUSTED));
    expect(big.grpcMessage).toBe('Received message larger than max (17 vs. 16)');
    // at the limit: answered
    expect((await raw(target, {}, frame(Buffer.alloc(16)))).grpcStatus).toBe('0');
  });

  it('answers 405, 415 and UNIMPLEMENTED for what is not a call it serves', async () => {
    const { target } = await start({ [ECHO]: echo });
    expect((await raw(target, { ':method': 'GET' }, Buffer.alloc(0))).status).toBe(405);
    expect((await raw(target, { 'content-type': 'application/json' }, frame(Buffer.from('x')))).status).toBe(415);
    const unknown = await raw(target, {}, frame(Buffer.from('x')), { path: '/x.Y/Z' });
    expect(unknown.grpcStatus).toBe(String(Status.UNIMPLEMENTED));
    expect(unknown.grpcMessage).toContain('/x.Y/Z');
    // application/grpc+proto is gRPC too
    expect((await raw(target, { 'content-type': 'application/grpc+proto' }, frame(Buffer.from('x')))).grpcStatus).toBe('0');
  });

  it('ends a call whose grpc-timeout passes first with DEADLINE_EXCEEDED and drops the late answer', async () => {
    let handled = 0;
    const slow: Method = {
      kind: 'unary',
      handle: async (m) => {
        handled++;
        await new Promise((r) => setTimeout(r, 150));
        return m;
      },
    };
    const { target } = await start({ [ECHO]: slow });
    const late = await raw(target, { 'grpc-timeout': '30m' }, frame(Buffer.from('x')));
    expect(late.grpcStatus).toBe(String(Status.DEADLINE_EXCEEDED));
    expect(late.body.length).toBe(0);
    expect(handled).toBe(1);
    // a deadline that leaves time: answered
    expect((await raw(target, { 'grpc-timeout': '5S' }, frame(Buffer.from('x')))).grpcStatus).toBe('0');
    // the request itself arriving after the deadline
    expect((await raw(target, { 'grpc-timeout': '20m' }, frame(Buffer.from('x')), { hold: 150 })).grpcStatus).toBe(String(Status.DEADLINE_EXCEEDED));
  });

  it('keeps serving after a client resets a call, and maps handler errors to their status', async () => {
    const failing: Method = {
      kind: 'unary',
      handle: (m) => {
        if (m.toString() === 'bad') throw new GrpcError(Status.INTERNAL, 'Error deserializing request');
        if (m.toString() === 'boom') throw new Error('a secret-free bug');
        return Promise.resolve(m);
      },
    };
    const { target } = await start({ [ECHO]: failing });
    const cancelled = await raw(target, {}, frame(Buffer.from('abcdef')).subarray(0, 8), { cancelAfter: 20 });
    expect(cancelled.grpcStatus).toBeUndefined();
    const bad = await raw(target, {}, frame(Buffer.from('bad')));
    expect([bad.grpcStatus, bad.grpcMessage]).toEqual([String(Status.INTERNAL), 'Error deserializing request']);
    const boom = await raw(target, {}, frame(Buffer.from('boom')));
    // an unexpected error says nothing of itself
    expect([boom.grpcStatus, boom.grpcMessage]).toEqual([String(Status.INTERNAL), 'Internal error']);
    expect((await raw(target, {}, frame(Buffer.from('ok')))).grpcStatus).toBe('0');
  });

  it('streams: messages split across and packed into DATA frames arrive one by one; the handler writes and ends', async () => {
    const seen: string[] = [];
    let closed = 0;
    const stream: Method = {
      kind: 'stream',
      open(call) {
        return {
          message(m) {
            seen.push(m.toString());
            call.write(Buffer.from(`ack ${m.toString()}`));
            if (m.toString() === 'last') call.end();
          },
          end() {
            call.end();
          },
          closed() {
            closed++;
          },
        };
      },
    };
    const { target } = await start({ [STREAM]: stream });
    const body = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two')), frame(Buffer.from('last'))]);
    // the first 3 bytes (half a prefix) alone, the rest 50 ms later
    const a = await raw(target, {}, body, { path: STREAM, hold: 50 });
    expect(seen).toEqual(['one', 'two', 'last']);
    expect(a.grpcStatus).toBe('0');
    const answers: string[] = [];
    for (let at = 0; at < a.body.length; ) {
      const len = a.body.readUInt32BE(at + 1);
      answers.push(a.body.subarray(at + 5, at + 5 + len).toString());
      at += 5 + len;
    }
    expect(answers).toEqual(['ack one', 'ack two', 'ack last']);
    expect(closed).toBe(1);
    // the client half-closing ends it too; a truncated message at the end is INTERNAL
    expect((await raw(target, {}, frame(Buffer.from('x')), { path: STREAM })).grpcStatus).toBe('0');
    expect((await raw(target, {}, frame(Buffer.from('xyz')).subarray(0, 6), { path: STREAM })).grpcStatus).toBe(String(Status.INTERNAL));
    expect(closed).toBe(3);
  });

  it('closes a connection without a call for max_connection_idle_ms, and not one with a call in progress', async () => {
    let release: (() => void) | undefined;
    const held: Method = { kind: 'unary', handle: (m) => new Promise((r) => (release = () => r(m))) };
    const { target } = await start({ [ECHO]: held }, { maxConnectionIdleMs: 200 });
    const idle = http2.connect(target);
    idle.on('error', () => undefined);
    const idleClosed = new Promise<number>((r) => {
      const t0 = Date.now();
      idle.on('close', () => r(Date.now() - t0));
    });
    const busy = http2.connect(target);
    busy.on('error', () => undefined);
    let busyClosed = false;
    busy.on('close', () => (busyClosed = true));
    const req = busy.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', te: 'trailers' });
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on('trailers', (t) => (trailers = t));
    req.resume();
    req.end(frame(Buffer.from('x')));
    expect(await idleClosed).toBeGreaterThanOrEqual(150);
    await new Promise((r) => setTimeout(r, 300));
    expect(busyClosed).toBe(false);
    release?.();
    await new Promise<void>((r) => req.on('close', () => r()));
    expect(trailers?.['grpc-status']).toBe('0');
    // idle again: closed in its turn
    await new Promise<void>((r) => (busyClosed ? r() : busy.on('close', () => r())));
    expect(busyClosed).toBe(true);
  });

  it('closes gracefully once calls finish, and forces what is still running past the timeout', async () => {
    let release: (() => void) | undefined;
    const held: Method = { kind: 'unary', handle: (m) => new Promise((r) => (release = () => r(m))) };
    const a = await start({ [ECHO]: held });
    const inFlight = raw(a.target, {}, frame(Buffer.from('x')));
    await new Promise((r) => setTimeout(r, 50));
    // the call is in the handler, unanswered, when the close starts
    expect(release).toBeDefined();
    const closing = a.server.close(5000);
    await new Promise((r) => setTimeout(r, 50));
    release?.();
    expect(await closing).toBe('graceful');
    expect((await inFlight).grpcStatus).toBe('0');

    const b = await start({ [ECHO]: { kind: 'unary', handle: () => new Promise<Buffer>(() => undefined) } });
    const never = raw(b.target, {}, frame(Buffer.from('x')));
    await new Promise((r) => setTimeout(r, 50));
    expect(await b.server.close(100)).toBe('forced');
    expect((await never).grpcStatus).toBeUndefined();
  });

  it('listens on a Unix socket and removes it on close', async () => {
    const socket = path.join(mkdtempSync(path.join(os.tmpdir(), 'llm-authz-grpc-h2-')), 'authz.sock');
    const parsed = parseListen(`unix:${socket}`);
    if (!parsed.ok) throw new Error(parsed.problem);
    const { server } = await start({ [ECHO]: echo }, { address: parsed.value });
    const session = http2.connect('http://localhost', { path: socket } as http2.SecureClientSessionOptions);
    const answer = await new Promise<string>((resolve, reject) => {
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('trailers', (t) => resolve(String(t['grpc-status'])));
      req.resume();
      req.end(frame(Buffer.from('x')));
    });
    session.close();
    expect(answer).toBe('0');
    expect(existsSync(socket)).toBe(true);
    await server.close(100);
    expect(existsSync(socket)).toBe(false);
  });

  it('parses grpc-timeout and percent-encodes grpc-message as the spec says', () => {
    expect([parseGrpcTimeout('200m'), parseGrpcTimeout('1S'), parseGrpcTimeout('2M'), parseGrpcTimeout('5u')]).toEqual([200, 1000, 120_000, 0.005]);
    expect([parseGrpcTimeout(undefined), parseGrpcTimeout('10'), parseGrpcTimeout('123456789S'), parseGrpcTimeout('1x')]).toEqual([undefined, undefined, undefined, undefined]);
    expect(percentEncode('plain text')).toBe('plain text');
    expect(percentEncode('100% é\n')).toBe('100%25 %C3%A9%0A');
  });
});

type HealthClient = grpc.Client & {
  Check(req: unknown, cb: (e: grpc.ServiceError | null, r?: { status?: string }) => void): void;
  List(req: unknown, cb: (e: grpc.ServiceError | null, r?: { statuses?: Record<string, { status?: string }> }) => void): void;
  Watch(req: unknown): grpc.ClientReadableStream<{ status?: string }>;
};

function healthClient(port: number): HealthClient {
  const def = protoLoader.loadSync(healthProtoPath, PROTO_LOADER_OPTIONS)['grpc.health.v1.Health'] as grpc.ServiceDefinition;
  const Ctor = grpc.makeGenericClientConstructor(def, 'Health');
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

describe('grpc.health.v1.Health on the transport, through grpc-js', () => {
  it('Check answers a known service and NOT_FOUND for another; List lists them; Watch follows changes until the server closes', async () => {
    const health = createHealth({ '': 'NOT_SERVING', 'svc.a': 'SERVING' });
    const { server, port } = await start(health.methods);
    const c = healthClient(port);
    const check = (service: string): Promise<string> => new Promise((resolve) => c.Check({ service }, (err, res) => resolve(err ? `error ${err.code}` : String(res?.status))));
    expect(await check('')).toBe('NOT_SERVING');
    expect(await check('svc.a')).toBe('SERVING');
    expect(await check('svc.other')).toBe('error 5');
    const list = await new Promise<Record<string, { status?: string }> | undefined>((resolve, reject) => c.List({}, (err, res) => (err ? reject(err) : resolve(res?.statuses))));
    expect(list).toEqual({ '': { status: 'NOT_SERVING' }, 'svc.a': { status: 'SERVING' } });

    const seen: string[] = [];
    const watch = c.Watch({ service: '' });
    watch.on('data', (r) => seen.push(String(r.status)));
    const ended = new Promise<number>((resolve) => watch.on('error', (e: grpc.ServiceError) => resolve(e.code)));
    const unknownSeen: string[] = [];
    const watchUnknown = c.Watch({ service: 'svc.later' });
    watchUnknown.on('data', (r) => unknownSeen.push(String(r.status)));
    watchUnknown.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    health.setStatus('', 'SERVING');
    health.setStatus('', 'SERVING'); // no change: nothing sent
    health.setStatus('svc.later', 'SERVING');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(['NOT_SERVING', 'SERVING']);
    expect(unknownSeen).toEqual(['SERVICE_UNKNOWN', 'SERVING']);
    expect(await check('')).toBe('SERVING');
    health.endWatches();
    expect(await ended).toBe(grpc.status.UNAVAILABLE);
    c.close();
    await server.close(1000);
  });

  it('reads the service name past fields it does not know, and refuses bytes that are not a message', () => {
    const known = Buffer.from([(15 << 3) | 2, 0x02, 0x61, 0x62, 0x0a, 0x03, 0x61, 0x2e, 0x62]);
    expect(decodeHealthRequest(known)).toBe('a.b');
    expect(decodeHealthRequest(Buffer.alloc(0))).toBe('');
    expect(() => decodeHealthRequest(Buffer.from([0x0a, 0x05, 0x61]))).toThrow(GrpcError);
  });
});
