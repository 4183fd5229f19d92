/**
 * The OTLP/gRPC span transport over node:http2 (src/telemetry/otlp-grpc-transport.ts) against
 * in-process HTTP/2 gRPC servers: the unary call on the wire, one connection reused, gzip, the
 * OTLP retry rules (retryable codes, RetryInfo, HTTP statuses, deadlines), new connections after
 * a GOAWAY or a collector that never answers, TLS and mTLS from the OTEL_EXPORTER_OTLP_*
 * variables, unix sockets, and errors without header values. The exporter built on it reaches the
 * real Jaeger in test/e2e/otlp-grpc.test.ts.
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs/minimal.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCa, loopbackServerCert, type Ca, type IssuedCert } from '../../devstack/pki.ts';
import { CHECK_SPAN_NAME } from '../../src/telemetry/check-span.ts';
import { recordDecision } from '../../src/telemetry/metrics.ts';
import { startTelemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';
import {
  GRPC_STATUS,
  Http2GrpcTransport,
  METRICS_EXPORT_PATH,
  OtlpGrpcExportError,
  TRACE_EXPORT_PATH,
  resolveGrpcExport,
  retryDelayFromDetails,
  type GrpcExportTarget,
} from '../../src/telemetry/otlp-grpc-transport.ts';

const SECRET_HEADER = 'Bearer collector-secret-4f1c';

const resolve = (url: string | undefined, timeoutMillis: number, ua: string, env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS' = 'TRACES') =>
  resolveGrpcExport(url, timeoutMillis, ua, env, signal);

interface Received {
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly peerCn: string | undefined;
}

type Handler = (req: Received, stream: http2.ServerHttp2Stream, n: number) => void;

interface Collector {
  readonly url: string;
  readonly requests: Received[];
  readonly sessions: http2.ServerHttp2Session[];
  close(): Promise<void>;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function reply(stream: http2.ServerHttp2Stream, code = 0, opts: { message?: string; details?: Buffer } = {}): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => {
    const t: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (opts.message) t['grpc-message'] = encodeURIComponent(opts.message);
    if (opts.details) t['grpc-status-details-bin'] = opts.details.toString('base64');
    stream.sendTrailers(t);
  });
  // An empty ExportTraceServiceResponse.
  if (code === 0) stream.write(Buffer.from([0, 0, 0, 0, 0]));
  stream.end();
}

async function collector(handler: Handler, opts: { tls?: http2.SecureServerOptions; unixPath?: string } = {}): Promise<Collector> {
  const server = opts.tls ? http2.createSecureServer(opts.tls) : http2.createServer();
  const requests: Received[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      const socket = stream.session?.socket as (Socket & { getPeerCertificate?: () => { subject?: { CN?: string } } }) | undefined;
      const req = { headers, body: Buffer.concat(chunks), peerCn: socket?.getPeerCertificate?.()?.subject?.CN };
      requests.push(req);
      handler(req, stream, requests.length);
    });
  });
  await new Promise<void>((resolve) => (opts.unixPath ? server.listen(opts.unixPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    });
  closers.push(close);
  return { url: opts.unixPath ? `unix:${opts.unixPath}` : `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`, requests, sessions, close };
}

function target(url: string, over: Partial<GrpcExportTarget> = {}): GrpcExportTarget {
  return { url, tls: undefined, headers: { authorization: SECRET_HEADER }, compression: 'none', timeoutMillis: 5000, userAgent: 'llm-authz/test', ...over };
}

function transport(t: GrpcExportTarget): Http2GrpcTransport {
  const tr = new Http2GrpcTransport(t, TRACE_EXPORT_PATH);
  closers.push(async () => tr.shutdown());
  return tr;
}

/** A google.rpc.Status with one google.rpc.RetryInfo detail. */
function retryInfo(ms: number): Buffer {
  const duration = protobuf.Writer.create()
    .uint32(8)
    .int64(Math.floor(ms / 1000))
    .uint32(16)
    .int32((ms % 1000) * 1e6)
    .finish();
  const info = protobuf.Writer.create().uint32(10).bytes(duration).finish();
  const any = protobuf.Writer.create().uint32(10).string('type.googleapis.com/google.rpc.RetryInfo').uint32(18).bytes(info).finish();
  return Buffer.from(protobuf.Writer.create().uint32(8).int32(14).uint32(18).string('slow down').uint32(26).bytes(any).finish());
}

const PAYLOAD = Buffer.from('an ExportTraceServiceRequest stands here');

describe('OTLP/gRPC transport over node:http2', () => {
  it('sends one unary TraceService/Export call: path, gRPC headers, the configured headers, the framed request', async () => {
    const c = await collector((_r, s) => reply(s));
    const res = await transport(target(c.url)).send(PAYLOAD, 5000);
    expect(res.status).toBe('success');
    expect(res.status === 'success' && res.data ? Buffer.from(res.data).length : -1).toBe(0);
    const [req] = c.requests;
    expect(req?.headers[':method']).toBe('POST');
    expect(req?.headers[':path']).toBe(TRACE_EXPORT_PATH);
    expect(req?.headers['content-type']).toBe('application/grpc');
    expect(req?.headers['te']).toBe('trailers');
    expect(req?.headers['user-agent']).toBe('llm-authz/test');
    expect(req?.headers['authorization']).toBe(SECRET_HEADER);
    expect(req?.headers['grpc-timeout']).toMatch(/^\d{1,8}m$/);
    expect(Number(String(req?.headers['grpc-timeout']).slice(0, -1))).toBeLessThanOrEqual(5000);
    expect(req?.headers['grpc-encoding']).toBeUndefined();
    expect(req?.body.subarray(0, 5)).toEqual(Buffer.from([0, 0, 0, 0, PAYLOAD.length]));
    expect(req?.body.subarray(5)).toEqual(PAYLOAD);
  });

  it('reuses one connection for successive exports', async () => {
    const c = await collector((_r, s) => reply(s));
    const tr = transport(target(c.url));
    for (let i = 0; i < 3; i++) expect((await tr.send(PAYLOAD, 5000)).status).toBe('success');
    expect(c.requests).toHaveLength(3);
    expect(c.sessions).toHaveLength(1);
  });

  it('gzip: grpc-encoding gzip and a compressed message', async () => {
    const c = await collector((_r, s) => reply(s));
    expect((await transport(target(c.url, { compression: 'gzip' })).send(PAYLOAD, 5000)).status).toBe('success');
    const [req] = c.requests;
    expect(req?.headers['grpc-encoding']).toBe('gzip');
    expect(req?.body[0]).toBe(1);
    expect(req?.body.readUInt32BE(1)).toBe((req?.body.length ?? 0) - 5);
    expect(gunzipSync(req?.body.subarray(5) ?? Buffer.alloc(0))).toEqual(PAYLOAD);
  });

  it('retries UNAVAILABLE after the delay the server asks for (RetryInfo), then succeeds', async () => {
    const c = await collector((_r, s, n) => (n < 3 ? reply(s, GRPC_STATUS.UNAVAILABLE, { details: retryInfo(20) }) : reply(s)));
    const res = await transport(target(c.url)).send(PAYLOAD, 5000);
    expect(res.status).toBe('success');
    expect(c.requests).toHaveLength(3);
    expect(c.requests.every((r) => r.body.equals(c.requests[0]?.body ?? Buffer.alloc(0)))).toBe(true);
  });

  it('retries a trailers-only UNAVAILABLE with backoff when the server gives no delay', async () => {
    const c = await collector((_r, s, n) => (n < 2 ? s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14' }, { endStream: true }) : reply(s)));
    const res = await transport(target(c.url)).send(PAYLOAD, 5000);
    expect(res.status).toBe('success');
    expect(c.requests).toHaveLength(2);
  });

  it('does not retry a non-retryable code: a failure with the status name and the server message', async () => {
    const c = await collector((_r, s) => reply(s, GRPC_STATUS.INVALID_ARGUMENT, { message: 'bad span: ü' }));
    const res = await transport(target(c.url)).send(PAYLOAD, 5000);
    expect(res.status).toBe('failure');
    const error = res.status === 'failure' ? res.error : undefined;
    expect(error).toBeInstanceOf(OtlpGrpcExportError);
    expect((error as OtlpGrpcExportError).code).toBe(GRPC_STATUS.INVALID_ARGUMENT);
    expect(error?.message).toBe('OTLP/gRPC export failed: INVALID_ARGUMENT (bad span: ü)');
    expect(c.requests).toHaveLength(1);
  });

  it('RESOURCE_EXHAUSTED is retried only with a RetryInfo', async () => {
    const plain = await collector((_r, s) => reply(s, GRPC_STATUS.RESOURCE_EXHAUSTED));
    expect((await transport(target(plain.url)).send(PAYLOAD, 5000)).status).toBe('failure');
    expect(plain.requests).toHaveLength(1);
    const hinted = await collector((_r, s, n) => (n === 1 ? reply(s, GRPC_STATUS.RESOURCE_EXHAUSTED, { details: retryInfo(10) }) : reply(s)));
    expect((await transport(target(hinted.url)).send(PAYLOAD, 5000)).status).toBe('success');
    expect(hinted.requests).toHaveLength(2);
  });

  it('an HTTP error without grpc-status maps to its gRPC code (503: UNAVAILABLE, retryable; 401: UNAUTHENTICATED, not)', async () => {
    const c503 = await collector((_r, s) => s.respond({ ':status': 503 }, { endStream: true }));
    // 300 ms: the first backoff (about 1 s) does not fit, so one attempt and a retryable result.
    const r503 = await transport(target(c503.url)).send(PAYLOAD, 300);
    expect(r503.status).toBe('retryable');
    expect(r503.status === 'retryable' ? r503.error?.message : '').toBe('OTLP/gRPC export failed: UNAVAILABLE (HTTP 503)');
    expect(c503.requests).toHaveLength(1);
    const c401 = await collector((_r, s) => s.respond({ ':status': 401 }, { endStream: true }));
    const r401 = await transport(target(c401.url)).send(PAYLOAD, 5000);
    expect(r401.status === 'failure' ? (r401.error as OtlpGrpcExportError).code : -1).toBe(GRPC_STATUS.UNAUTHENTICATED);
    expect(c401.requests).toHaveLength(1);
  });

  it('a refused connection is UNAVAILABLE and retryable; the error carries no header value', async () => {
    const c = await collector((_r, s) => reply(s));
    await c.close();
    const res = await transport(target(c.url)).send(PAYLOAD, 300);
    expect(res.status).toBe('retryable');
    const message = res.status === 'retryable' ? (res.error?.message ?? '') : '';
    expect(message).toMatch(/^OTLP\/gRPC export failed: UNAVAILABLE \(ECONNREFUSED\)$/);
    expect(message).not.toContain('collector-secret');
  });

  it('a collector that accepts and never answers: DEADLINE_EXCEEDED, and the next export opens a new connection', async () => {
    const sockets = new Set<Socket>();
    const server = createNetServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    const a = server.address();
    const tr = transport(target(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`));
    const first = await tr.send(PAYLOAD, 200);
    expect(first.status).toBe('retryable');
    expect(first.status === 'retryable' ? (first.error as OtlpGrpcExportError).code : -1).toBe(GRPC_STATUS.DEADLINE_EXCEEDED);
    await tr.send(PAYLOAD, 200);
    expect(sockets.size).toBe(2);
  });

  it('after the collector closes the connection (GOAWAY), the next export opens a new one', async () => {
    const c = await collector((_r, s) => {
      reply(s);
      s.session?.close();
    });
    const tr = transport(target(c.url));
    expect((await tr.send(PAYLOAD, 5000)).status).toBe('success');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await tr.send(PAYLOAD, 5000)).status).toBe('success');
    expect(c.requests).toHaveLength(2);
    expect(c.sessions).toHaveLength(2);
  });

  it('exports over a unix socket (unix:/path)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'otlp-uds-'));
    const c = await collector((_r, s) => reply(s), { unixPath: path.join(dir, 'otlp.sock') });
    expect((await transport(target(c.url)).send(PAYLOAD, 5000)).status).toBe('success');
    expect(c.requests).toHaveLength(1);
  });

  it('after shutdown, an export fails without connecting', async () => {
    const c = await collector((_r, s) => reply(s));
    const tr = transport(target(c.url));
    tr.shutdown();
    const res = await tr.send(PAYLOAD, 5000);
    expect(res.status).toBe('retryable');
    expect(c.requests).toHaveLength(0);
  });
});

describe('startTelemetry with protocol grpc', () => {
  it('exports spans (TraceService) and metrics (MetricsService) over the transport, with the headers of their signal', async () => {
    const c = await collector((_r, s) => reply(s));
    const cfg = telemetrySchema.parse({
      service_name: 'otlp-grpc-unit',
      traces: { protocol: 'grpc', endpoint: c.url, scheduled_delay_ms: 10 },
      metrics: { protocol: 'grpc', endpoint: c.url, interval_ms: 60_000 },
    });
    const tel = await startTelemetry(cfg, { version: 't', env: { OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-signal=metrics', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-signal=traces' } });
    try {
      expect(tel.tracesTo).toBe(`otlp grpc ${c.url}`);
      tel.tracer.start(undefined).end({ 'decision.effect': 'allow' }, undefined);
      recordDecision('allow', 'allowed', 'unit-rule', 0.001);
      await tel.flush();
      const traces = c.requests.filter((r) => r.headers[':path'] === TRACE_EXPORT_PATH);
      const metrics = c.requests.filter((r) => r.headers[':path'] === METRICS_EXPORT_PATH);
      expect(traces.length).toBeGreaterThanOrEqual(1);
      expect(metrics.length).toBeGreaterThanOrEqual(1);
      expect(traces[0]?.headers['x-signal']).toBe('traces');
      expect(metrics[0]?.headers['x-signal']).toBe('metrics');
      expect(traces[0]?.headers['user-agent']).toBe('llm-authz/t');
      // The protobuf requests carry the span's name and the metric's name as plain bytes.
      expect(traces.some((r) => r.body.includes(CHECK_SPAN_NAME))).toBe(true);
      expect(metrics.some((r) => r.body.includes('llm_authz.decisions') && r.body.includes('unit-rule'))).toBe(true);
      // One connection per exporter.
      expect(c.sessions).toHaveLength(2);
    } finally {
      await tel.shutdown();
    }
  });
});

describe('OTLP/gRPC transport: TLS and mTLS from the environment', () => {
  let dir: string;
  let ca: Ca;
  let server: IssuedCert;
  let client: IssuedCert;
  let otherCa: Ca;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'otlp-tls-'));
    ca = createCa(path.join(dir, 'ca'));
    server = loopbackServerCert(ca, 'collector');
    client = ca.issue('exporter', '/CN=llm-authz-exporter', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']);
    otherCa = createCa(path.join(dir, 'other'), 'other', 'another CA');
  });

  const tlsServer = (mtls: boolean): http2.SecureServerOptions => {
    const fs = { cert: readFileSync(server.cert), key: readFileSync(server.key) };
    return mtls ? { ...fs, ca: readFileSync(ca.cert), requestCert: true, rejectUnauthorized: true } : fs;
  };

  it('https:// with OTEL_EXPORTER_OTLP_CERTIFICATE: verified TLS; a server from another CA is refused', async () => {
    const c = await collector((_r, s) => reply(s), { tls: tlsServer(false) });
    const ok = resolve(c.url, 5000, 'ua', { OTEL_EXPORTER_OTLP_CERTIFICATE: ca.cert });
    expect((await transport(ok).send(PAYLOAD, 5000)).status).toBe('success');
    const wrong = resolve(c.url, 2000, 'ua', { OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: otherCa.cert });
    const res = await transport(wrong).send(PAYLOAD, 300);
    expect(res.status).toBe('retryable');
    expect(res.status === 'retryable' ? res.error?.message : '').toMatch(/UNAVAILABLE \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_\w+|ECONNRESET)\)/);
    expect(c.requests).toHaveLength(1);
  });

  it('mTLS with OTEL_EXPORTER_OTLP_CLIENT_KEY / CLIENT_CERTIFICATE: the collector sees the client certificate; without them it refuses', async () => {
    const c = await collector((_r, s) => reply(s), { tls: tlsServer(true) });
    const withCert = resolve(c.url, 5000, 'ua', {
      OTEL_EXPORTER_OTLP_CERTIFICATE: ca.cert,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: client.key,
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: client.cert,
    });
    expect((await transport(withCert).send(PAYLOAD, 5000)).status).toBe('success');
    expect(c.requests[0]?.peerCn).toBe('llm-authz-exporter');
    const without = resolve(c.url, 2000, 'ua', { OTEL_EXPORTER_OTLP_CERTIFICATE: ca.cert });
    expect((await transport(without).send(PAYLOAD, 300)).status).not.toBe('success');
    expect(c.requests).toHaveLength(1);
  });
});

describe('resolveGrpcExport', () => {
  it('reads the variables of its signal: METRICS_ for metrics, TRACES_ for traces', () => {
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:2', OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-m=1' };
    expect(resolve(undefined, 1, 'ua', env, 'METRICS')).toMatchObject({ url: 'http://m:2', headers: { 'x-m': '1' } });
    expect(resolve(undefined, 1, 'ua', env, 'TRACES')).toMatchObject({ url: 'http://t:1', headers: {} });
  });

  it('endpoint: the config, then the signal variable, then the general one, then http://localhost:4317', () => {
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:2' };
    expect(resolve('http://c:3/ignored/path', 1, 'ua', env).url).toBe('http://c:3');
    expect(resolve(undefined, 1, 'ua', env).url).toBe('http://t:1');
    expect(resolve(undefined, 1, 'ua', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:2' }).url).toBe('http://g:2');
    expect(resolve(undefined, 1, 'ua', {})).toMatchObject({ url: 'http://localhost:4317', tls: undefined });
  });

  it('without a scheme: TLS, unless OTEL_EXPORTER_OTLP_INSECURE is true', () => {
    expect(resolve('collector:4317', 1, 'ua', {})).toMatchObject({ url: 'https://collector:4317', tls: {} });
    expect(resolve('collector:4317', 1, 'ua', { OTEL_EXPORTER_OTLP_INSECURE: 'TRUE' })).toMatchObject({ url: 'http://collector:4317', tls: undefined });
    expect(resolve('collector:4317', 1, 'ua', { OTEL_EXPORTER_OTLP_TRACES_INSECURE: 'true' }).tls).toBeUndefined();
    expect(resolve('unix:/run/otel.sock', 1, 'ua', {})).toMatchObject({ url: 'unix:/run/otel.sock', tls: undefined });
    expect(() => resolve('ftp://c:1', 1, 'ua', {})).toThrow('scheme ftp: is not http, https or unix');
  });

  it('headers: the signal variable wins per name, names lower-cased, the transport-owned ones dropped; compression', () => {
    const t = resolve('http://c:1', 1, 'ua', {
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20g,x-tenant=a,content-type=text/plain,grpc-timeout=1S',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=b',
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip',
    });
    expect(t.headers).toEqual({ authorization: 'Bearer g', 'x-tenant': 'b' });
    expect(t.compression).toBe('gzip');
    expect(resolve('http://c:1', 1, 'ua', { OTEL_EXPORTER_OTLP_COMPRESSION: 'none' }).compression).toBe('none');
  });

  it('a header that HTTP/2 would refuse on every export is a start error, naming the header and not its value', () => {
    expect(() => resolve('http://c:1', 1, 'ua', { OTEL_EXPORTER_OTLP_HEADERS: 'bad name=secret-1' })).toThrow('"bad name" is not a valid header name');
    let message = '';
    try {
      resolve('http://c:1', 1, 'ua', { OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-token=secret-2%0D%0Ax-evil=1' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('OTEL_EXPORTER_OTLP_[TRACES_]HEADERS: the value of x-token has a line break or NUL');
    expect(message).not.toContain('secret-2');
  });

  it('start errors: a client key without its certificate, a file that cannot be read (named, not read out)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'otlp-env-'));
    const key = path.join(dir, 'k.pem');
    writeFileSync(key, 'not a key');
    expect(() => resolve('https://c:1', 1, 'ua', { OTEL_EXPORTER_OTLP_CLIENT_KEY: key })).toThrow('CLIENT_KEY and CLIENT_CERTIFICATE are set together or not at all');
    expect(() => resolve('https://c:1', 1, 'ua', { OTEL_EXPORTER_OTLP_CERTIFICATE: path.join(dir, 'missing.pem') })).toThrow(
      `cannot read ${path.join(dir, 'missing.pem')}: ENOENT`,
    );
  });
});

describe('retryDelayFromDetails', () => {
  it('reads google.rpc.RetryInfo from a google.rpc.Status; anything else gives no delay', () => {
    expect(retryDelayFromDetails(retryInfo(1500).toString('base64'))).toBe(1500);
    expect(retryDelayFromDetails(retryInfo(20).toString('base64'))).toBe(20);
    const noDetail = Buffer.from(protobuf.Writer.create().uint32(8).int32(14).finish()).toString('base64');
    expect(retryDelayFromDetails(noDetail)).toBeUndefined();
    expect(retryDelayFromDetails(undefined)).toBeUndefined();
    expect(retryDelayFromDetails(Buffer.from([0xff, 0xff, 0xff]).toString('base64'))).toBeUndefined();
  });
});
