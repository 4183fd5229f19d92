/**
 * A JWK Set server on loopback whose keys can be swapped, which counts its fetches, can go
 * down, and can hold its answers (a slow issuer: requests wait until released).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { JWK } from 'jose';

export interface JwksServer {
  readonly url: string;
  readonly port: number;
  /** Requests served per path. */
  hits(path?: string): number;
  setKeys(keys: JWK[], path?: string): void;
  /** Answers 503 to everything (the issuer is down) or serves again. */
  setDown(down: boolean): void;
  /** From now on, requests wait unanswered until release(). */
  hold(): void;
  /** Answers every waiting request (with the keys set by then) and stops holding. */
  release(): void;
  /** Requests waiting for release(), per path or in all. */
  waiting(path?: string): number;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[], path = '/jwks.json', port = 0): Promise<JwksServer> {
  const sets = new Map<string, JWK[]>([[path, keys]]);
  const counts = new Map<string, number>();
  let down = false;
  let holding = false;
  const held: { path: string; answer: () => void }[] = [];
  const server: Server = createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0] ?? '';
    counts.set(p, (counts.get(p) ?? 0) + 1);
    if (holding) held.push({ path: p, answer: () => answer(p, res) });
    else answer(p, res);
  });
  const answer = (p: string, res: ServerResponse): void => {
    const set = sets.get(p);
    if (down || set === undefined) {
      res.writeHead(down ? 503 : 404, { 'content-type': 'text/plain' });
      res.end(down ? 'down' : 'not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: set }));
  };
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
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const h of held.splice(0)) h.answer();
    },
    waiting: (p) => held.filter((h) => p === undefined || h.path === p).length,
    close: () =>
      new Promise<void>((resolve) => {
        holding = false;
        held.splice(0);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
