/**
 * A server certificate, its key and (optionally) a client CA bundle, read from files and read
 * again when they change (cert-manager rotating a Secret; the kubelet swapping the Secret
 * mount's `..data` symlink). Changes are found by polling each path's (inode, size, mtime),
 * following symlinks: a kubelet swap points the path at a new file, so the inode changes even
 * when size and mtime happen to match. A new set is used only once Node accepts it as a TLS
 * context (the key matches the certificate, the PEM parses); otherwise the last good set stays.
 */
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** Client certificates must chain to this bundle (mTLS), when set. */
  readonly clientCa?: string | undefined;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

export interface TlsReloadEvent {
  readonly outcome: 'reloaded' | 'kept_last_good';
  /** Which file could not be used and why (never file contents). */
  readonly problem?: string;
}

export interface WatchedTls {
  current(): TlsMaterial;
  /** Called with each new good set. */
  onChange(listener: (m: TlsMaterial) => void): void;
  close(): void;
}

export const TLS_POLL_MS = 1000;

function signature(files: TlsFiles): string {
  return [files.cert, files.key, files.clientCa]
    .map((f) => {
      if (f === undefined) return '-';
      try {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/** Reads and checks the files; throws an Error naming the file and the problem. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const read = (what: string, f: string): Buffer => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${f}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  const m: TlsMaterial = { cert: read('certificate', files.cert), key: read('key', files.key), ca: files.clientCa === undefined ? undefined : read('client CA', files.clientCa) };
  try {
    createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  } catch (err) {
    // OpenSSL's message (e.g. 'key values mismatch') names the problem, not the key.
    throw new Error(`TLS files ${files.cert} / ${files.key}${files.clientCa ? ` / ${files.clientCa}` : ''} are not usable: ${err instanceof Error ? err.message : 'error'}`);
  }
  return m;
}

/** Loads the files now (throws when they are unusable) and keeps up with their changes. */
export function watchTlsFiles(files: TlsFiles, onReload: (e: TlsReloadEvent) => void = () => undefined, pollMs = TLS_POLL_MS): WatchedTls {
  let material = readTlsFiles(files);
  let sig = signature(files);
  const listeners: ((m: TlsMaterial) => void)[] = [];
  const timer = setInterval(() => {
    const now = signature(files);
    if (now === sig) return;
    sig = now;
    try {
      material = readTlsFiles(files);
    } catch (err) {
      onReload({ outcome: 'kept_last_good', problem: err instanceof Error ? err.message : 'error' });
      return;
    }
    onReload({ outcome: 'reloaded' });
    for (const l of listeners) l(material);
  }, pollMs);
  timer.unref();
  return {
    current: () => material,
    onChange: (l) => {
      listeners.push(l);
    },
    close: () => clearInterval(timer),
  };
}
