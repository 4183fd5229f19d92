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
  void exited.then(() => setTimeout(() => log.end(), 50));

  return {
    proc,
    logFile: opts.logFile,
    stdoutLines: lines.stdout,
    stderrLines: lines.stderr,
    exited,
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
        void exited.then((code) => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            reject(new Error(`${cmd} exited (${code}) before the expected line; log: ${opts.logFile}`));
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
