/** A child process whose output goes to a log file and whose lines can be awaited. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface Child {
  readonly proc: ChildProcess;
  readonly logFile: string;
  readonly stdoutLines: string[];
  readonly stderrLines: string[];
  /** Resolves with the exit code (or the signal name) when the process exits. */
  readonly exited: Promise<number | string>;
  /**
   * Resolves once the child's stdout and stderr have been read to their end (its last lines may
   * still be in the pipe when its exit is seen), or after 1 s (a process it started may hold them open).
   */
  outputRead(): Promise<void>;
  waitForLine(stream: 'stdout' | 'stderr', test: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export function startChild(cmd: string, args: string[], opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): Child {
  const log: WriteStream = createWriteStream(opts.logFile, { flags: 'a' });
  const proc = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: { stream: 'stdout' | 'stderr'; test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const src = proc[stream];
    if (src === null) continue;
    createInterface({ input: src }).on('line', (line) => {
      lines[stream].push(line);
      log.write(`${stream === 'stderr' ? '! ' : ''}${line}\n`);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (w && w.stream === stream && w.test(line)) {
          waiters.splice(i, 1);
          w.resolve(line);
        }
      }
    });
  }
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
    });
    proc.on('error', (err) => {
      log.write(`spawn error: ${err.message}\n`);
      resolve(-1);
    });
  });
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const outputRead = (): Promise<void> => Promise.race([closed, new Promise<void>((r) => setTimeout(r, 1000))]);
  void exited.then(() => setTimeout(() => log.end(), 50));

  return {
    proc,
    logFile: opts.logFile,
    stdoutLines: lines.stdout,
    stderrLines: lines.stderr,
    exited,
    outputRead,
    waitForLine(stream, test, timeoutMs = 20_000) {
      const seen = lines[stream].find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for a line on ${cmd}'s ${stream}; log: ${opts.logFile}`)), timeoutMs);
        const w = {
          stream,
          test,
          resolve: (l: string) => {
            clearTimeout(t);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then(async (code) => {
          if (!waiters.includes(w)) return;
          await outputRead();
          if (waiters.includes(w)) {
            clearTimeout(t);
            const last = lines.stderr.at(-1)?.slice(0, 300);
            reject(new Error(`${cmd} exited (${code}) before the expected line; log: ${opts.logFile}${last === undefined ? '' : `; its last stderr line: ${last}`}`));
          }
        });
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/**
 * A child that exited while starting because a port it was given was taken: ports are picked
 * free, then bound by the child, and another process can take one in between.
 */
export class PortTaken extends Error {}

/** Runs `start` (attempt 1, 2, 3) again, on new ports, while it fails with PortTaken. */
export async function retryWhenPortTaken<T>(start: (attempt: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(attempt);
    } catch (err) {
      if (attempt >= attempts || !(err instanceof PortTaken)) throw err;
    }
  }
}

/**
 * The error for a child that exited while starting: PortTaken when its stderr says a port was in
 * use (`inUse`, the child's own wording), else a plain Error naming its log.
 */
export async function exitedWhileStarting(child: Child, name: string, inUse: string): Promise<Error> {
  await child.outputRead();
  const taken = child.stderrLines.some((l) => l.includes(inUse));
  const code = child.proc.exitCode ?? child.proc.signalCode;
  return new (taken ? PortTaken : Error)(`${name} exited (${code})${taken ? ': a port it was given was taken meanwhile' : ''}; log: ${child.logFile}`);
}
