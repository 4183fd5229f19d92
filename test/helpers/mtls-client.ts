/** HTTPS calls to an mTLS listener on loopback with a client certificate (a SPIFFE X509-SVID). */
import { readFileSync } from 'node:fs';
import https from 'node:https';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: any;
}

export interface ClientCert {
  readonly cert: string;
  readonly key: string;
}

export function mtlsCall(o: { port: number; ca: string; client: ClientCert; headers?: Record<string, string>; body: unknown; path?: string }): Promise<Reply> {
  const body = JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: o.port,
        method: 'POST',
        path: o.path ?? '/v1/chat/completions',
        ca: readFileSync(o.ca),
        cert: readFileSync(o.client.cert),
        key: readFileSync(o.client.key),
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...o.headers },
      },
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
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
