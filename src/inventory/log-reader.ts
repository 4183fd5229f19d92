/**
 * Streams the lines of decision-log files: plain or gzip (rotated logs; recognised by their
 * first bytes, not their name), files given one by one or every non-hidden file of a folder,
 * oldest first (by modification time, then name) so that an outcome line meets its decision
 * line first. Memory stays bounded whatever the file size: chunks of 1 MiB, and a line longer
 * than MAX_LINE_BYTES is skipped and counted rather than gathered. A file that cannot be read,
 * or a gzip file cut off mid-stream, is counted and reported; the lines before the cut count.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';

/** Longest line read (a decision line is under 4 KiB; an outcome line smaller still). */
export const MAX_LINE_BYTES = 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

export interface FileStats {
  readonly path: string;
  gzip: boolean;
  lines: number;
  /** Lines longer than MAX_LINE_BYTES (skipped). */
  oversized: number;
  /** The gzip stream ended before its end marker (a file cut off, or still being written). */
  truncated: boolean;
  /** Why the file could not be read (an error code, never file content). */
  error: string | undefined;
}

/** The files to read: each file given, and every non-hidden regular file of each folder given. */
export async function listLogFiles(inputs: readonly string[]): Promise<{ files: string[]; problems: { path: string; error: string }[] }> {
  const found: { file: string; mtimeMs: number }[] = [];
  const problems: { path: string; error: string }[] = [];
  const seen = new Set<string>();
  const add = (file: string, mtimeMs: number): void => {
    const abs = path.resolve(file);
    if (seen.has(abs)) return;
    seen.add(abs);
    found.push({ file, mtimeMs });
  };
  for (const input of inputs) {
    try {
      const s = await stat(input);
      if (s.isDirectory()) {
        for (const name of (await readdir(input)).sort()) {
          if (name.startsWith('.')) continue;
          const p = path.join(input, name);
          const st = await stat(p).catch(() => undefined);
          if (st?.isFile()) add(p, st.mtimeMs);
        }
      } else add(input, s.mtimeMs);
    } catch (err) {
      problems.push({ path: input, error: (err as NodeJS.ErrnoException).code ?? 'error' });
    }
  }
  // Oldest first; for equal times, logrotate's numbering: decisions.log.2.gz, .1.gz, then decisions.log.
  found.sort((a, b) => a.mtimeMs - b.mtimeMs || rotation(b.file) - rotation(a.file) || a.file.localeCompare(b.file));
  return { files: found.map((f) => f.file), problems };
}

/** logrotate's rotation number of a file name (`x.log.3.gz` -> 3, `x.log` -> 0). */
function rotation(file: string): number {
  const m = /\.(\d{1,6})(\.gz)?$/.exec(file);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Calls onLine for each line of the file (without its newline; an empty line is skipped),
 * with its 1-based line number. Never throws: problems land in the returned stats.
 */
export async function readLogFile(file: string, onLine: (line: string, lineNo: number) => void): Promise<FileStats> {
  const stats: FileStats = { path: file, gzip: false, lines: 0, oversized: 0, truncated: false, error: undefined };
  let lineNo = 0;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let skipping = false;
  const emit = (buf: Buffer): void => {
    lineNo++;
    if (buf.length === 0 || (buf.length === 1 && buf[0] === 0x0d)) return;
    stats.lines++;
    onLine(buf.toString('utf8'), lineNo);
  };
  const take = (chunk: Buffer): void => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (skipping) {
        lineNo++;
        skipping = false;
      } else if (carryBytes + piece.length > MAX_LINE_BYTES) {
        lineNo++;
        stats.lines++;
        stats.oversized++;
      } else if (carry.length > 0) {
        carry.push(piece);
        emit(Buffer.concat(carry));
      } else emit(piece);
      carry = [];
      carryBytes = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || skipping) return;
    if (carryBytes + rest.length > MAX_LINE_BYTES) {
      // Too long: drop what was gathered and skip to the next newline.
      stats.lines++;
      stats.oversized++;
      skipping = true;
      carry = [];
      carryBytes = 0;
      return;
    }
    // Copied: the chunk's memory is reused by the stream.
    carry.push(Buffer.from(rest));
    carryBytes += rest.length;
  };
  try {
    stats.gzip = await isGzip(file);
    const source = createReadStream(file, { highWaterMark: CHUNK_BYTES });
    let stream: NodeJS.ReadableStream = source;
    if (stats.gzip) {
      const gunzip = createGunzip({ chunkSize: 256 * 1024 });
      source.on('error', (err) => gunzip.destroy(err));
      stream = source.pipe(gunzip);
    }
    for await (const chunk of stream) take(chunk as Buffer);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (stats.gzip && (e.code === 'Z_BUF_ERROR' || e.message === 'unexpected end of file')) stats.truncated = true;
    else stats.error = e.code ?? (stats.gzip ? 'gzip_error' : 'read_error');
  }
  // The last line, without a newline at the end of the file (or cut off with the file).
  if (!skipping && carry.length > 0) emit(Buffer.concat(carry));
  return stats;
}
