/**
 * The suite-wide secret scan: every log line written by the processes the e2e tests spawn
 * (kept under test-results/) and every span the test Jaeger received are searched for the
 * secrets the tests use. A hit names the secret by label and the place, never the value.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { findTraces, services } from '../../devstack/jaeger.ts';

export interface Secret {
  readonly label: string;
  readonly value: string;
}

export interface Hit {
  readonly secret: string;
  readonly where: string;
}

/** Secrets shorter than this are refused: a short string would match by accident. */
export const MIN_SECRET_LENGTH = 8;

export function checkSecrets(secrets: readonly Secret[]): void {
  if (secrets.length === 0) throw new Error('secret scan: no secrets to look for');
  for (const s of secrets) {
    if (s.value.length < MIN_SECRET_LENGTH) throw new Error(`secret scan: secret ${s.label} is shorter than ${MIN_SECRET_LENGTH} characters`);
  }
}

/**
 * A long secret also hits by its first or its last FRAGMENT characters: a log line or a record
 * may clip it (decision records clip strings at 512 characters, so a leaked JWT shows only its
 * start, and a whole-value search missed it).
 */
export const FRAGMENT = 40;

/** The secrets found in text, as hits at `where`. */
export function scanText(text: string, secrets: readonly Secret[], where: string): Hit[] {
  const hits: Hit[] = [];
  for (const s of secrets) {
    const v = s.value;
    const found = v.length >= 2 * FRAGMENT ? text.includes(v.slice(0, FRAGMENT)) || text.includes(v.slice(-FRAGMENT)) : text.includes(v);
    if (found) hits.push({ secret: s.label, where });
  }
  return hits;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (name.endsWith('.log') || name.endsWith('.jsonl')) out.push(p);
  }
}

/** Scans every *.log and *.jsonl file under dir. Returns the hits and how many files were read. */
export function scanLogFiles(dir: string, secrets: readonly Secret[]): { hits: Hit[]; files: number; lines: number } {
  checkSecrets(secrets);
  const files: string[] = [];
  if (existsSync(dir)) walk(dir, files);
  const hits: Hit[] = [];
  let lines = 0;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    lines += text.split('\n').length - 1;
    hits.push(...scanText(text, secrets, path.relative(dir, f)));
  }
  return { hits, files: files.length, lines };
}

/** Scans every trace of every service that a Jaeger holds. */
export async function scanJaeger(queryUrl: string, secrets: readonly Secret[]): Promise<{ hits: Hit[]; traces: number; spans: number; services: string[] }> {
  checkSecrets(secrets);
  const hits: Hit[] = [];
  let traces = 0;
  let spans = 0;
  const seen = new Set<string>();
  const scanned: string[] = [];
  for (const service of await services(queryUrl)) {
    scanned.push(service);
    for (const t of await findTraces(queryUrl, service)) {
      if (seen.has(t.traceID)) continue;
      seen.add(t.traceID);
      traces++;
      spans += t.spans.length;
      hits.push(...scanText(JSON.stringify(t), secrets, `Jaeger trace ${t.traceID}`));
    }
  }
  return { hits, traces, spans, services: scanned };
}

export function formatHits(hits: readonly Hit[]): string {
  return hits.map((h) => `  ${h.secret} found in ${h.where}`).join('\n');
}
