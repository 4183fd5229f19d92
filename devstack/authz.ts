/** Runs the built llm-authz CLI (`llm-authz serve`) as a child process. */
import path from 'node:path';
import { startChild, type Child } from './process.ts';
import { cliEntry } from './tools.ts';

export interface AuthzProcess {
  readonly child: Child;
  readonly port: number;
  /** Parsed decision-log lines (stdout) of kind `decision`, in order. */
  decisions(): Record<string, unknown>[];
  /** Parsed decision-log lines (stdout) of kind `outcome`, in order. */
  outcomes(): Record<string, unknown>[];
  /**
   * The decision-log lines once the lines of decisions already made have been written (the log
   * gathers lines for up to decision_log.flush_ms, 50 ms by default).
   */
  settledDecisions(): Promise<Record<string, unknown>[]>;
  /** Parsed structured log lines (stderr). */
  logs(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Several times the default decision_log.flush_ms, plus the pipe to this process. */
const SETTLE_MS = 300;

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

export async function startAuthz(opts: {
  config?: string;
  workDir: string;
  listen?: string;
  env?: NodeJS.ProcessEnv;
  name?: string;
  extraArgs?: readonly string[];
  /** Node's own flags, before the CLI (e.g. the sidecar's, src/inject/sidecars.ts AUTHZ_NODE_FLAGS). */
  nodeArgs?: readonly string[];
}): Promise<AuthzProcess> {
  const args = [...(opts.nodeArgs ?? []), cliEntry(), 'serve', '--listen', opts.listen ?? '127.0.0.1:0'];
  if (opts.config !== undefined) args.push('--config', opts.config);
  args.push(...(opts.extraArgs ?? []));
  const child = startChild(process.execPath, args, {
    logFile: path.join(opts.workDir, `${opts.name ?? 'llm-authz'}.log`),
    env: { ...process.env, ...opts.env },
  });
  const line = await child.waitForLine('stderr', (l) => l.includes('"llm-authz serving"'));
  const port = (JSON.parse(line) as { port: number }).port;
  return {
    child,
    port,
    decisions: () => parseLines(child.stdoutLines).filter((l) => l['kind'] !== 'outcome'),
    outcomes: () => parseLines(child.stdoutLines).filter((l) => l['kind'] === 'outcome'),
    settledDecisions: async () => {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      return parseLines(child.stdoutLines).filter((l) => l['kind'] !== 'outcome');
    },
    logs: () => parseLines(child.stderrLines),
    stop: (signal = 'SIGTERM') => child.stop(signal),
  };
}
