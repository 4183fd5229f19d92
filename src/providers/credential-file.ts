/**
 * Provider credentials from files (e.g. Kubernetes Secret mounts): read at load, and read
 * again when the file changes. The folder is watched (a Secret mount swaps a symlink in it),
 * and the file is also polled, since not every file system reports changes. A change that
 * leaves the file unreadable or empty keeps the last good value.
 */
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { Secret } from '../core/secret.ts';
import { countStateReload } from '../telemetry/metrics.ts';

import type { CredentialReloadListener } from '../core/build-context.ts';

export type { CredentialReloadEvent, CredentialReloadListener } from '../core/build-context.ts';

export const POLL_INTERVAL_MS = 1000;

/** Reads a credential file: trimmed, non-empty. Throws a message naming the file, never the value. */
export function readCredentialFile(file: string): string {
  let v: string;
  try {
    v = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`cannot read credential file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (v === '') throw new Error(`credential file ${file} is empty`);
  return v;
}

export interface WatchedCredential {
  readonly secret: Secret;
  close(): void;
}

/** Loads the file now (throws if it cannot) and keeps the secret up to date with it. */
export function watchedCredential(file: string, onReload: CredentialReloadListener = () => undefined): WatchedCredential {
  const holder = Secret.reloadable(readCredentialFile(file));
  let current = holder.secret.reveal();
  let unusable = false;
  let timer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    timer = undefined;
    let next: string;
    try {
      next = readCredentialFile(file);
    } catch (err) {
      unusable = true;
      countStateReload('credential', 'failed');
      onReload({ file, outcome: 'kept_last_good', problem: err instanceof Error ? err.message : 'error' });
      return;
    }
    // A file usable again is news even with the value it had (health turns back to SERVING).
    if (next === current && !unusable) return;
    unusable = false;
    current = next;
    holder.set(next);
    countStateReload('credential', 'ok');
    onReload({ file, outcome: 'reloaded' });
  };
  const schedule = (): void => {
    if (timer !== undefined) return;
    timer = setTimeout(reload, 25);
    timer.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(file), { persistent: false }, schedule);
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined; // polling still covers it
  }
  watchFile(file, { persistent: false, interval: POLL_INTERVAL_MS }, schedule);
  return {
    secret: holder.secret,
    close() {
      watcher?.close();
      unwatchFile(file, schedule);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
