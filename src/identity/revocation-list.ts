/**
 * The revocation list: identities denied whatever credential they present (reason
 * `revoked_identity`): workloads, agents, SPIFFE IDs (as the workload or as the mTLS peer), JWT
 * issuer + subject. A JSON file written by `llm-authz revocations` (or `keys revoke
 * --revocations`), loaded at start (a bad file is a start-up error) and re-read when it
 * changes, checked every `reload_interval_ms`: a revocation takes effect within one interval.
 * A bad file keeps the last good list (and says so in the log), so a broken write never lifts
 * a revocation.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KeyStoreReloadListener } from '../core/build-context.ts';
import { countStateReload } from '../telemetry/metrics.ts';
import { identityLog } from './log.ts';
import { watchFile } from './watched-file.ts';
import { revocationFileSchema, type RevocationEntry, type RevocationFile } from './schema.ts';
import type { Identity } from './types.ts';

export class RevocationListError extends Error {
  constructor(file: string, problem: string) {
    super(`revocation list ${file}: ${problem}`);
    this.name = 'RevocationListError';
  }
}

export function readRevocationFile(file: string): RevocationFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RevocationListError(file, `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new RevocationListError(file, 'not valid JSON');
  }
  const parsed = revocationFileSchema.safeParse(data);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new RevocationListError(file, `${i ? i.path.join('.') : ''}: ${i?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Writes the file atomically (a temporary file in the same folder, then rename). */
export function writeRevocationFile(file: string, list: RevocationFile): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(revocationFileSchema.parse(list), null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** The kind and value an entry revokes (`workload: W`, `issuer I subject S` ...). */
export function describeRevocation(e: RevocationEntry): string {
  if (e.workload !== undefined) return `workload ${e.workload}`;
  if (e.agent !== undefined) return `agent ${e.agent}`;
  if (e.spiffe_id !== undefined) return `SPIFFE ID ${e.spiffe_id}`;
  return `issuer ${e.issuer ?? ''} subject ${e.subject ?? ''}`;
}

/** Two entries revoke the same identity. */
export function sameRevocation(a: RevocationEntry, b: RevocationEntry): boolean {
  return a.workload === b.workload && a.agent === b.agent && a.spiffe_id === b.spiffe_id && a.issuer === b.issuer && a.subject === b.subject;
}

/** The lookup sets of one list, built at load. */
export interface RevokedSet {
  /** What revokes this identity (a safe description), or undefined. */
  match(id: Identity, peerPrincipal: string): string | undefined;
  readonly size: number;
}

const subjectKey = (issuer: string, subject: string): string => `${issuer}\u0000${subject}`;

export function revokedSet(list: RevocationFile): RevokedSet {
  const workloads = new Set<string>();
  const agents = new Set<string>();
  const spiffeIds = new Set<string>();
  const subjects = new Set<string>();
  for (const e of list.revoked) {
    if (e.workload !== undefined) workloads.add(e.workload);
    if (e.agent !== undefined) agents.add(e.agent);
    if (e.spiffe_id !== undefined) spiffeIds.add(e.spiffe_id);
    if (e.issuer !== undefined && e.subject !== undefined) subjects.add(subjectKey(e.issuer, e.subject));
  }
  return {
    size: list.revoked.length,
    match(id, peer) {
      if (workloads.has(id.workload)) return `workload '${id.workload}' is revoked`;
      if (id.agent !== undefined && agents.has(id.agent)) return `agent '${id.agent}' is revoked`;
      if (spiffeIds.has(id.workload)) return `SPIFFE ID '${id.workload}' is revoked`;
      if (peer !== '' && spiffeIds.has(peer)) return `SPIFFE ID '${peer}' (the mTLS peer) is revoked`;
      for (const t of id.tokenSubjects ?? []) if (subjects.has(subjectKey(t.issuer, t.subject))) return `subject '${t.subject}' of issuer '${t.issuer}' is revoked`;
      return undefined;
    },
  };
}

export interface RevocationList {
  current(): RevokedSet;
  /** Number of successful loads (1 after start). */
  readonly generation: number;
  close(): void;
}

export function openRevocationList(file: string, reloadIntervalMs: number, onReload: KeyStoreReloadListener = () => undefined): RevocationList {
  const read = (f: string): RevokedSet => revokedSet(readRevocationFile(f));
  const watched = watchFile(file, reloadIntervalMs, read, (err) => (err instanceof RevocationListError ? err.message : 'error'), {
    reloaded(set, generation) {
      identityLog().info({ revocation_list: file, entries: set.size, generation }, 'revocation list reloaded');
      countStateReload('revocation_list', 'ok');
      onReload({ file, outcome: 'reloaded' });
    },
    failed(problem, generation, repeated) {
      if (!repeated) identityLog().warn({ revocation_list: file, problem, generation }, 'revocation list not reloaded; keeping the last good one');
      countStateReload('revocation_list', 'failed');
      onReload({ file, outcome: 'kept_last_good', problem });
    },
  });
  identityLog().info({ revocation_list: file, entries: watched.current().size, generation: 1 }, 'revocation list loaded');
  return watched;
}
