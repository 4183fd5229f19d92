/** Runtimes with an injectable clock, and output sinks, for the access-review unit tests. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { AuditRecord } from '../../src/audit/record.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { Secret } from '../../src/core/secret.ts';
import { toProtoStruct, type JsonValue } from '../../src/core/struct.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { buildRuntime, type Runtime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import type { KeyStoreReloadListener } from '../../src/core/build-context.ts';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `llm-authz-${prefix}-`));
}

/** A runtime from config text, its relative paths against dir, with the given clock. */
export function clockedRuntime(yaml: string, dir: string, now: () => number, onRevocationListReload?: KeyStoreReloadListener): Runtime {
  const file = path.join(dir, 'llm-authz.yaml');
  const rt = buildRuntime(parseConfigText(yaml, file), { source: file, version: 'accessv1', baseDir: dir, onRevocationListReload }, { now, watchPolicies: false });
  for (const p of rt.providers.byName.values()) (p as { credential: Secret | undefined }).credential = new Secret(`sk-unit-${p.name}-provider-secret`);
  return rt;
}

/** A Check over a runtime that keeps every audit record. */
export function checker(rt: Runtime) {
  const records: AuditRecord[] = [];
  const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: () => undefined });
  return {
    check,
    records,
    last: (): AuditRecord =>
      records.at(-1) ??
      (() => {
        throw new Error('no decision record');
      })(),
  };
}

/** An OpenAI chat request with a bearer credential (or none), optionally over mTLS. */
export function chatRequest(o: {
  bearer?: string;
  model?: string;
  principal?: string;
  headers?: Record<string, string>;
  tools?: string[];
  envoyJwt?: Record<string, JsonValue>;
}): unknown {
  const body: Record<string, unknown> = { model: o.model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
  if (o.tools) body['tools'] = o.tools.map((name) => ({ type: 'function', function: { name, parameters: { type: 'object' } } }));
  const raw = checkRequest({
    headers: { 'content-type': 'application/json', ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}), ...o.headers },
    principal: o.principal ?? '',
    body: JSON.stringify(body),
  }) as { attributes: Record<string, unknown> };
  // A payload Envoy's jwt_authn verified (identity.envoy_jwt).
  if (o.envoyJwt) raw.attributes['metadata_context'] = { filter_metadata: { 'envoy.filters.http.jwt_authn': toProtoStruct({ jwt_payload: o.envoyJwt }) } };
  return raw;
}

/** A writable that keeps what is written. */
export function sink(): { out: Writable; text: () => string } {
  let buf = '';
  return {
    out: new Writable({
      write(chunk: Buffer, _enc, cb) {
        buf += chunk.toString();
        cb();
      },
    }),
    text: () => buf,
  };
}

/** `id: …` and `key: …` printed by `keys create`. */
export function createdKey(text: string): { id: string; key: string } {
  const id = /^id: (\S+)$/m.exec(text)?.[1];
  const key = /^key: (\S+)$/m.exec(text)?.[1];
  if (!id || !key) throw new Error('keys printed no key');
  return { id, key };
}
