/**
 * A redis-server on loopback for the quota tests and the benchmark (Debian's package, unpacked by
 * scripts/tools.sh redis): no persistence, no config file. `stop()` and `start()` again on the
 * same port stand for a Redis that goes away mid-run and comes back (empty: counters start over).
 */
import path from 'node:path';
import { createConnection } from 'node:net';
import { freePort, waitFor } from './ports.ts';
import { startChild, type Child } from './process.ts';
import { redisServerBin } from './tools.ts';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The server's process id while it runs (the benchmark reads its CPU time). */
  pid(): number | undefined;
  /** Stops the server (SIGKILL: a crash, not a clean shutdown). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function startRedis(opts: { workDir: string; port?: number; name?: string }): Promise<RedisServer> {
  const bin = redisServerBin();
  const port = opts.port ?? (await freePort());
  let child: Child | undefined;
  const start = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', opts.workDir];
    child = startChild(bin, args, { logFile: path.join(opts.workDir, `${opts.name ?? 'redis'}.log`) });
    const c = child;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (c.proc.exitCode !== null) throw new Error(`redis-server exited (${c.proc.exitCode}); see ${c.logFile}`);
      return (await answersPing(port)) ? true : undefined;
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => child?.proc.pid,
    async stop() {
      await child?.stop('SIGKILL');
      child = undefined;
    },
    start,
  };
}
