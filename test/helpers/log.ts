/** A service logger whose lines the test reads. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/telemetry/log.ts';

export function capturingLogger(level: 'debug' | 'info' = 'info'): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      out.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino<never>({ level }, stream), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
