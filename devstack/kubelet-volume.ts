/**
 * A folder laid out and updated as the kubelet's atomic writer does for ConfigMap and Secret
 * volumes: the files live in a timestamped folder (`..2026_01_02_03_04_05.123456789`), `..data`
 * is a symlink to it, and each key is a symlink `key -> ..data/key`. An update writes a new
 * timestamped folder, points a temporary symlink at it, renames that over `..data` (the one
 * atomic step: a reader sees the old set or the new one, never a mix), adds symlinks for new keys,
 * removes those of deleted keys, and deletes the old folder.
 */
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import path from 'node:path';

export interface KubeletVolume {
  readonly dir: string;
  /** Replaces the whole set of files, as a ConfigMap or Secret update does. */
  update(files: Readonly<Record<string, string | Buffer>>): void;
}

let sequence = 0;

function timestampedName(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  sequence++;
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.${p(process.pid % 1000, 3)}${p(sequence, 6)}`;
}

export function kubeletVolume(dir: string, files: Readonly<Record<string, string | Buffer>>): KubeletVolume {
  mkdirSync(dir, { recursive: true });
  let keys = new Set<string>();
  const write = (next: Readonly<Record<string, string | Buffer>>): void => {
    const ts = timestampedName();
    mkdirSync(path.join(dir, ts));
    for (const [k, v] of Object.entries(next)) {
      if (k.includes('/') || k.startsWith('.')) throw new Error(`not a ConfigMap/Secret key: ${k}`);
      writeFileSync(path.join(dir, ts, k), v, { mode: 0o644 });
    }
    const data = path.join(dir, '..data');
    const old = existsSync(data) ? readlinkSync(data) : undefined;
    const tmp = path.join(dir, '..data_tmp');
    symlinkSync(ts, tmp);
    renameSync(tmp, data);
    for (const k of Object.keys(next)) {
      const link = path.join(dir, k);
      if (!lstatExists(link)) symlinkSync(path.join('..data', k), link);
    }
    for (const k of keys) if (!(k in next)) unlinkSync(path.join(dir, k));
    keys = new Set(Object.keys(next));
    if (old !== undefined) rmSync(path.join(dir, old), { recursive: true, force: true });
  };
  write(files);
  return { dir, update: write };
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
