/**
 * The service log on stderr: JSON lines (for log collectors) or text (for a person at a
 * terminal). Never log a header map, a credential, or a body.
 */
import { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** `json`, `text`, or `auto`: text when stderr is a terminal, JSON otherwise. */
export type LogFormat = 'json' | 'text' | 'auto';

const LEVEL_WIDTH = 5;
/** Keys every line has, shown in the text format's prefix instead of as key=value. */
const PREFIX_KEYS = new Set(['time', 'level', 'msg', 'service']);

function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line as text: `TIME LEVEL message key=value ...`. */
export function textLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof o['time'] === 'string' ? o['time'].slice(11, 23) : '';
  const level = String(o['level'] ?? '')
    .toUpperCase()
    .padEnd(LEVEL_WIDTH);
  const fields = Object.entries(o)
    .filter(([k]) => !PREFIX_KEYS.has(k))
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return `${time} ${level} ${String(o['msg'] ?? '')}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

/** A stream that turns pino's JSON lines into text lines on stderr. */
function textDestination(): DestinationStream {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      pending += chunk.toString();
      let nl = pending.indexOf('\n');
      let out = '';
      while (nl !== -1) {
        out += textLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
      if (out !== '') process.stderr.write(out);
      done();
    },
  });
}

export function resolveLogFormat(format: LogFormat, isTty: boolean = process.stderr.isTTY === true): 'json' | 'text' {
  return format === 'auto' ? (isTty ? 'text' : 'json') : format;
}

export function createLogger(level: string = 'info', format: LogFormat = 'auto'): Logger {
  return pino(
    {
      level,
      base: { service: 'llm-authz' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    resolveLogFormat(format) === 'text' ? textDestination() : pino.destination({ fd: 2, sync: false }),
  );
}

/** An error's class and stack frames, without its message (which may quote input). */
export function safeError(err: unknown): { error: string; stack?: string } {
  if (err instanceof Error) {
    const frames = (err.stack ?? '')
      .split('\n')
      .slice(1, 6)
      .map((l) => l.trim())
      .join(' | ');
    return { error: err.name, stack: frames };
  }
  return { error: typeof err };
}
