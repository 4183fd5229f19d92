/**
 * Counters shared by every replica, in Redis (client: ioredis). One EVALSHA per Check (the take
 * script checks and counts every limit that applies, atomically) and one per response end
 * (settle). Never a hang: every command has `timeout_ms`, and while the connection is down
 * commands fail at once instead of queueing (no offline queue, no retries), so a Check applies
 * `on_store_error` within the timeout. The client reconnects by itself (backoff up to 1 s) and
 * loads the scripts again when a restarted Redis has lost them.
 */
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';

const requireLazily = createRequire(import.meta.url);

/**
 * ioredis, loaded when a Redis store is configured: imported at start it added about 17 MiB to
 * every idle server, Redis or not (idle RSS 147.4 vs 130.4 MiB, median of 3, bench/idle-rss.ts).
 */
function redisClass(): typeof RedisClient {
  return (requireLazily('ioredis') as typeof import('ioredis')).Redis;
}
import { SETTLE_SCRIPT, TAKE_SCRIPT } from './redis-scripts.ts';
import { QuotaStoreError, type LimitOp, type QuotaStore, type TakeResult, type TokenCharge } from './store.ts';

export interface RedisStoreOptions {
  readonly url: string;
  readonly timeoutMs: number;
  /** A connection error (the URL is never passed on: it can hold a password). */
  readonly onConnectionError?: ((err: Error) => void) | undefined;
}

type ScriptCall = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;
interface Scripts {
  quotaTake: ScriptCall;
  quotaSettle: ScriptCall;
}

const KIND: Readonly<Record<LimitOp['kind'], string>> = { requests: 'r', tokens: 't', concurrent: 'c' };

function storeError(err: unknown): QuotaStoreError {
  const msg = err instanceof Error ? err.message : String(err);
  // ioredis's messages name the command and the state, never the URL or its password.
  return new QuotaStoreError(`the quota store failed: ${msg.slice(0, 200)}`);
}

export function createRedisStore(o: RedisStoreOptions): QuotaStore {
  const Redis = redisClass();
  const client = new Redis(o.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.timeoutMs,
    connectTimeout: Math.max(o.timeoutMs, 1000),
    retryStrategy: (times) => Math.min(times * 100, 1000),
    enableAutoPipelining: true,
  });
  client.defineCommand('quotaTake', { lua: TAKE_SCRIPT });
  client.defineCommand('quotaSettle', { lua: SETTLE_SCRIPT });
  const scripts = client as unknown as Scripts;
  client.on('error', (err: Error) => o.onConnectionError?.(err));
  let closed = false;
  const connect = (): Promise<void> => {
    if (client.status !== 'wait') return Promise.resolve();
    return client.connect().catch(() => undefined);
  };

  return {
    async take(ops: readonly LimitOp[], member: string, now: number): Promise<TakeResult> {
      if (client.status === 'wait') void connect();
      const args: (string | number)[] = [...ops.map((op) => op.key), now, member];
      for (const op of ops) args.push(KIND[op.kind], op.limit, op.kind === 'requests' ? op.expireAt : op.kind === 'concurrent' ? op.leaseMs : 0);
      let reply: unknown;
      try {
        reply = await scripts.quotaTake(ops.length, ...args);
      } catch (err) {
        throw storeError(err);
      }
      if (!Array.isArray(reply) || reply.length !== ops.length + 1 || !reply.every((v) => typeof v === 'number')) {
        throw new QuotaStoreError('the quota store gave an answer of the wrong shape');
      }
      const [failed, ...used] = reply as number[];
      return { failed: (failed ?? 0) - 1, used };
    },
    async settle(charges: readonly TokenCharge[], leases: readonly string[], member: string): Promise<void> {
      if (charges.length === 0 && leases.length === 0) return;
      if (client.status === 'wait') void connect();
      const args: (string | number)[] = [...charges.map((c) => c.key), ...leases, member, charges.length];
      for (const c of charges) args.push(c.amount, c.expireAt);
      try {
        await scripts.quotaSettle(charges.length + leases.length, ...args);
      } catch (err) {
        throw storeError(err);
      }
    },
    async warm(): Promise<boolean> {
      void connect();
      if (client.status === 'ready') return true;
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(ok);
        };
        const onReady = (): void => done(true);
        const timer = setTimeout(() => done(client.status === 'ready'), Math.max(o.timeoutMs, 1000));
        client.once('ready', onReady);
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      client.disconnect(false);
    },
  };
}
