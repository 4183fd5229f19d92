/** Structured JSON logs on stderr. Never log a header map, a credential, or a body. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: string = 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'llm-authz' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** An error's class and stack frames, without its message (which may quote input). */
export function safeError(err: unknown): { error: string; stack?: string } {
  if (err instanceof Error) {
    const frames = (err.stack ?? '').split('\n').slice(1, 6).map((l) => l.trim()).join(' | ');
    return { error: err.name, stack: frames };
  }
  return { error: typeof err };
}
