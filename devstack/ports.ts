import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports for processes that are told their port (Envoy, Jaeger, etcd, a metrics or health
 * listener) come from below the kernel's ephemeral range. A port the kernel picked from that range
 * (listen on 0) is free only until the next outgoing connection or `listen(0)` anywhere on the
 * machine takes it, and the process that was given it binds it a second or so later: the suite
 * lost a start-up that way (EADDRINUSE). Below the range only freePort hands ports out, each
 * caller from a slice of its own (by vitest's worker id, else its process id) and from a random
 * start in it, checked free by binding it.
 */
const RANGE = portRange();
let cursor = -1;

function portRange(): { lo: number; size: number } | undefined {
  let ephemeralLow = 32768;
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low)) ephemeralLow = low;
  } catch {
    // not Linux: the kernel's usual range
  }
  const floor = 10_000; // above the well-known and most fixed service ports
  const slices = 64;
  const size = Math.floor((ephemeralLow - floor) / slices);
  if (size < 64) return undefined; // a machine whose ephemeral range starts too low: let the kernel pick
  const id = Number(process.env['VITEST_POOL_ID'] ?? process.pid);
  return { lo: floor + (Number.isInteger(id) ? id % slices : 0) * size, size };
}

function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : undefined;
      srv.close(() => resolve(bound));
    });
  });
}

/** A free TCP port on loopback, from below the ephemeral range when there is room (see RANGE); closed again before returning. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  if (RANGE !== undefined) {
    if (cursor < 0) cursor = Math.floor(Math.random() * RANGE.size);
    for (let i = 0; i < RANGE.size; i++) {
      const port = RANGE.lo + (cursor++ % RANGE.size);
      const bound = await tryListen(port, host);
      if (bound !== undefined) return bound;
    }
  }
  const picked = await tryListen(0, host);
  if (picked === undefined) throw new Error(`no free port on ${host}`);
  return picked;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr instanceof Error ? ` (last error: ${lastErr.message})` : ''}`);
}
