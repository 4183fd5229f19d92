/**
 * One HTTP/1.1 request with headers exactly as given (repeated names, underscores, cookies, a body
 * on GET): what fetch() refuses or rewrites, a hostile client sends.
 */
import { request, type Agent } from 'node:http';
import { request as tlsRequest } from 'node:https';

export interface RawReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  readonly json: unknown;
}

export interface RawRequest {
  readonly method?: string;
  readonly path: string;
  /** Name/value pairs, sent in this order; a name may repeat. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
  /** A keep-alive agent (load tests); default: a new connection per request. */
  readonly agent?: Agent;
}

export function send(baseUrl: string, r: RawRequest): Promise<RawReply> {
  const url = new URL(baseUrl);
  const headers = r.headers ?? [];
  // With headers given as a list, Node adds no Host header of its own.
  const flat: string[] = headers.some(([k]) => k.toLowerCase() === 'host') ? [] : ['host', url.host];
  for (const [k, v] of headers) flat.push(k, v);
  if (r.body !== undefined && !headers.some(([k]) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding')) {
    flat.push('content-length', String(Buffer.byteLength(r.body)));
  }
  return new Promise((resolve, reject) => {
    // https: the agent carries the client certificate and the CA (an https.Agent)
    const req = (url.protocol === 'https:' ? tlsRequest : request)(
      { host: url.hostname, port: url.port, method: r.method ?? 'POST', path: r.path, headers: flat, ...(r.agent ? { agent: r.agent } : {}), timeout: r.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${r.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    if (r.body !== undefined) req.write(r.body);
    req.end();
  });
}
