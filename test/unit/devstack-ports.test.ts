/**
 * devstack's freePort: ports from below the kernel's ephemeral range (where no outgoing connection
 * or `listen(0)` can take one between the pick and the bind), bindable, and a taken one skipped.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/ports.ts';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that can be bound', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(ephemeralLow);
      const srv = await listenOn(p);
      await new Promise((r) => srv.close(r));
    }
  });

  it('skips a port another process holds', async () => {
    const next = await freePort();
    // The port after `next` in the slice is the next one handed out, unless something holds it.
    const held = await listenOn(next + 1);
    try {
      const got = await freePort();
      expect(got).not.toBe(next + 1);
      expect(got).not.toBe(next);
      const srv = await listenOn(got);
      await new Promise((r) => srv.close(r));
    } finally {
      await new Promise((r) => held.close(r));
    }
  });
});
