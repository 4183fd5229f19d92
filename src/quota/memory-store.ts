/**
 * The embedded counter store: one replica's counters in its own memory (the default). Counters
 * and leases expire as Redis keys would; a sweep at most once a second drops what has expired, so
 * memory holds only live windows (about 100 bytes per counter).
 */
import type { LimitOp, QuotaStore, TakeResult, TokenCharge } from './store.ts';

interface Counter {
  value: number;
  expireAt: number;
}

const SWEEP_EVERY_MS = 1000;

export function createMemoryStore(): QuotaStore {
  const counters = new Map<string, Counter>();
  /** key -> member -> lease end */
  const leases = new Map<string, Map<string, number>>();
  let nextSweep = 0;

  const sweep = (now: number): void => {
    if (now < nextSweep) return;
    nextSweep = now + SWEEP_EVERY_MS;
    for (const [k, c] of counters) if (c.expireAt <= now) counters.delete(k);
    for (const [k, m] of leases) {
      for (const [member, end] of m) if (end <= now) m.delete(member);
      if (m.size === 0) leases.delete(k);
    }
  };
  const counter = (key: string, now: number): number => {
    const c = counters.get(key);
    return c === undefined || c.expireAt <= now ? 0 : c.value;
  };
  const inFlight = (key: string, now: number): number => {
    const m = leases.get(key);
    if (m === undefined) return 0;
    for (const [member, end] of m) if (end <= now) m.delete(member);
    return m.size;
  };
  const add = (key: string, n: number, expireAt: number, now: number): void => {
    const c = counters.get(key);
    if (c === undefined || c.expireAt <= now) counters.set(key, { value: n, expireAt });
    else {
      c.value += n;
      c.expireAt = expireAt;
    }
  };

  return {
    take(ops: readonly LimitOp[], member: string, now: number): Promise<TakeResult> {
      sweep(now);
      const used = ops.map((op) => (op.kind === 'concurrent' ? inFlight(op.key, now) : counter(op.key, now)));
      const failed = ops.findIndex((op, i) => {
        const u = used[i] ?? 0;
        return op.kind === 'tokens' ? u >= op.limit : u + 1 > op.limit;
      });
      if (failed === -1) {
        ops.forEach((op, i) => {
          if (op.kind === 'requests') add(op.key, 1, op.expireAt, now);
          else if (op.kind === 'concurrent') {
            const m = leases.get(op.key) ?? new Map<string, number>();
            leases.set(op.key, m);
            m.set(member, now + op.leaseMs);
          } else return;
          used[i] = (used[i] ?? 0) + 1;
        });
      }
      return Promise.resolve({ failed, used });
    },
    settle(charges: readonly TokenCharge[], keys: readonly string[], member: string, now: number): Promise<void> {
      for (const c of charges) if (c.amount > 0) add(c.key, c.amount, c.expireAt, now);
      for (const k of keys) {
        const m = leases.get(k);
        m?.delete(member);
        if (m?.size === 0) leases.delete(k);
      }
      return Promise.resolve();
    },
    warm: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}
