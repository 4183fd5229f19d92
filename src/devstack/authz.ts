/** Runs the built llm-authz CLI (`llm-authz serve`) as a child process. */
import path from 'node:path';
import { startChild, type Child } from './process.ts';
import { cliEntry } from './tools.ts';

export interface AuthzProcess {
  readonly child: Child;
  readonly port: number;
  /** Parsed decision-log lines (stdout), in order. */
  decisions(): Record<string, unknown>[];
  /** Parsed structured log lines (stderr). */
  logs(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

function parseLines(lines: readonly string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of lines) {
    try {
      const v: unknown = JSON.parse(l);
      if (typeof v === 'object' && v !== null) out.push(v as Record<string, unknown>);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

export async function startAuthz(opts: { config?: string; workDir: string; listen?: string; env?: NodeJS.ProcessEnv; name?: string }): Promise<AuthzProcess> {
  const args = [cliEntry(), 'serve', '--listen', opts.listen ?? '127.0.0.1:0'];
  if (opts.config !== undefined) args.push('--config', opts.config);
  const child = startChild(process.execPath, args, {
    logFile: path.join(opts.workDir, `${opts.name ?? 'llm-authz'}.log`),
    env: { ...process.env, ...opts.env },
  });
  const line = await child.waitForLine('stderr', (l) => l.includes('"llm-authz serving"'));
  const port = (JSON.parse(line) as { port: number }).port;
  return {
    child,
    port,
    decisions: () => parseLines(child.stdoutLines),
    logs: () => parseLines(child.stderrLines),
    stop: (signal = 'SIGTERM') => child.stop(signal),
  };
}
