/**
 * A file read at start (a bad file is a start-up error) and read again when it changes (inode,
 * size or modification time), checked every `intervalMs`. A changed file that cannot be read
 * keeps the last good value, so a broken write never replaces a good state (the key store, the
 * revocation list). The caller logs and reports each reload; a repeated failure is marked so it
 * is logged once.
 */
import { statSync } from 'node:fs';

export interface WatchedFile<T> {
  current(): T;
  /** Number of successful loads (1 after start). */
  readonly generation: number;
  close(): void;
}

export interface WatchHooks<T> {
  /** The file was read anew; `generation` counts successful loads. */
  reloaded(value: T, generation: number): void;
  /** A changed file could not be read; the last good value stays. `repeated`: the same problem as last time. */
  failed(problem: string, generation: number, repeated: boolean): void;
}

function signature(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** `read` throws on a bad file; `problemOf` turns what it threw into a safe message (never file content). */
export function watchFile<T>(file: string, intervalMs: number, read: (file: string) => T, problemOf: (err: unknown) => string, hooks: WatchHooks<T>): WatchedFile<T> {
  let sig = signature(file);
  let value = read(file);
  let generation = 1;
  let lastProblem = '';
  const timer = setInterval(() => {
    const now = signature(file);
    if (now === sig) return;
    sig = now;
    try {
      value = read(file);
      generation++;
      lastProblem = '';
      hooks.reloaded(value, generation);
    } catch (err) {
      const problem = problemOf(err);
      hooks.failed(problem, generation, problem === lastProblem);
      lastProblem = problem;
    }
  }, intervalMs);
  timer.unref();
  return {
    current: () => value,
    get generation() {
      return generation;
    },
    close: () => clearInterval(timer),
  };
}
