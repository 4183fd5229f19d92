/** A JWK Set server on loopback whose keys can be swapped, which counts its fetches, and can go down. */
import { createServer, type Server } from 'node:http';
import type { JWK } from 'jose';

export interface JwksServer {
  readonly url: string;
  readonly port: number;
  /** Requests served per path. */
  hits(path?: string): number;
  setKeys(keys: JWK[], path?: string): void;
  /** Answers 503 to everything (the issuer is down) or serves again. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[], path = '/jwks.json', port = 0): Promise<JwksServer> {
  const sets = new Map<string, JWK[]>([[path, keys]]);
  const counts = new Map<string, number>();
  let down = false;
  const server: Server = createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0] ?? '';
    counts.set(p, (counts.get(p) ?? 0) + 1);
    const set = sets.get(p);
    if (down || set === undefined) {
      res.writeHead(down ? 503 : 404, { 'content-type': 'text/plain' });
      res.end(down ? 'down' : 'not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: set }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${actual}${path}`,
    port: actual,
    hits: (p) => (p === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : (counts.get(p) ?? 0)),
    setKeys: (k, p = path) => sets.set(p, k),
    setDown: (d) => {
      down = d;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
