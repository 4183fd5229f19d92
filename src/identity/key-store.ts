/**
 * The API key store file (written by `llm-authz keys`): hashes and bindings only, never a key.
 * Loaded at start (a bad file is a start-up error), then re-read when it changes; a reload swaps
 * the whole store at once, and a bad file keeps the last good store (and says so in the log).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { keyStoreFileSchema, type KeyStoreFile, type StoredKey } from './schema.ts';
import { identityLog } from './log.ts';
import { countStateReload } from '../telemetry/metrics.ts';
import { watchFile } from './watched-file.ts';
import type { KeyStoreReloadListener } from '../core/build-context.ts';

export class KeyStoreError extends Error {
  constructor(file: string, problem: string) {
    super(`key store ${file}: ${problem}`);
    this.name = 'KeyStoreError';
  }
}

/** Reads and validates a store file; throws KeyStoreError naming the problem (never a key). */
export function readKeyStoreFile(file: string): KeyStoreFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyStoreError(file, `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KeyStoreError(file, 'not valid JSON');
  }
  const parsed = keyStoreFileSchema.safeParse(data);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new KeyStoreError(file, `${i ? i.path.join('.') : ''}: ${i?.message ?? 'invalid'}`);
  }
  const ids = new Set<string>();
  for (const k of parsed.data.keys) {
    if (ids.has(k.id)) throw new KeyStoreError(file, `duplicate key id '${k.id}'`);
    ids.add(k.id);
  }
  return parsed.data;
}

/** Writes a store file atomically (a temporary file in the same folder, then rename). */
export function writeKeyStoreFile(file: string, store: KeyStoreFile): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** A stored key with its expiry parsed at load time. */
export type LoadedKey = StoredKey & { readonly expiresAtMs: number | undefined };

function loaded(k: StoredKey): [string, LoadedKey] {
  return [k.id, { ...k, expiresAtMs: k.expires_at === undefined ? undefined : Date.parse(k.expires_at) }];
}

export interface KeyStore {
  get(id: string): LoadedKey | undefined;
  /** Number of successful loads (1 after start). */
  readonly generation: number;
  /** Keys in the store as last loaded. */
  readonly size: number;
  close(): void;
}

export function openKeyStore(file: string, reloadIntervalMs: number, onReload: KeyStoreReloadListener = () => undefined): KeyStore {
  const read = (f: string): Map<string, LoadedKey> => new Map(readKeyStoreFile(f).keys.map(loaded));
  const watched = watchFile(file, reloadIntervalMs, read, (err) => (err instanceof KeyStoreError ? err.message : 'error'), {
    reloaded(next, generation) {
      identityLog().info({ key_store: file, keys: next.size, generation }, 'key store reloaded');
      countStateReload('key_store', 'ok');
      onReload({ file, outcome: 'reloaded' });
    },
    failed(problem, generation, repeated) {
      if (!repeated) identityLog().warn({ key_store: file, problem, generation }, 'key store not reloaded; keeping the last good one');
      countStateReload('key_store', 'failed');
      onReload({ file, outcome: 'kept_last_good', problem });
    },
  });
  identityLog().info({ key_store: file, keys: watched.current().size, generation: 1 }, 'key store loaded');
  return {
    get: (id) => watched.current().get(id),
    get generation() {
      return watched.generation;
    },
    get size() {
      return watched.current().size;
    },
    close: () => watched.close(),
  };
}
