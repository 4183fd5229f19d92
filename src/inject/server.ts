/**
 * The injection webhook's HTTPS server: POST /inject (AdmissionReview v1), GET /healthz (for the
 * kubelet's probes). Certificate and key come from files and are re-read when they change
 * (src/server/tls-files.ts); connections opened after a change get the new certificate.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../telemetry/log.ts';
import { safeError } from '../telemetry/log.ts';
import { watchTlsFiles, type TlsFiles } from '../server/tls-files.ts';
import { answerReview } from './review.ts';
import type { InjectorOptions } from './sidecars.ts';

/** The API server sends at most ~3 MiB (its own request limit); anything larger is not a review. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface WebhookServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startWebhookServer(opts: { host: string; port: number; tls: TlsFiles; injector: InjectorOptions; log: Logger; pollMs?: number }): Promise<WebhookServer> {
  const { log } = opts;
  const tls = watchTlsFiles(
    opts.tls,
    (e) =>
      e.outcome === 'reloaded'
        ? log.info({ cert: opts.tls.cert }, 'webhook certificate reloaded')
        : log.warn({ problem: e.problem }, 'webhook certificate files unusable; keeping the last good ones'),
    opts.pollMs,
  );
  const first = tls.current();
  const server: Server = createServer({ cert: first.cert, key: first.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res, opts.injector, log).catch((err: unknown) => {
      log.error(safeError(err), 'webhook request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  tls.onChange((m) => server.setSecureContext({ cert: m.cert, key: m.key }));
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        tls.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, injector: InjectorOptions, log: Logger): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://webhook');
  if (req.method === 'GET' && url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (url.pathname !== '/inject') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end('method not allowed\n');
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      log.warn({ bytes: size }, 'admission review too large; refused');
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('request body too large\n');
      req.destroy();
      return;
    }
    chunks.push(chunk as Buffer);
  }
  const a = answerReview(Buffer.concat(chunks).toString('utf8'), injector);
  log.info(a.log, 'admission review');
  res.writeHead(a.httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
}
