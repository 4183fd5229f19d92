/**
 * The docs' tables that derive from the API profiles (src/apis/): README's provider table, and
 * docs/llm-requests.md's endpoint and credential tables. Each sits between
 * `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`.
 *   node scripts/render-docs.ts      (test/unit/apis.test.ts checks they are current)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CREDENTIAL_HEADERS, PROFILES, WIRES } from '../src/apis/index.ts';
import { headersOf, type CredentialForm, type EndpointSpec } from '../src/apis/profile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const code = (s: string): string => `\`${s}\``;
const list = (xs: readonly string[]): string => xs.map(code).join(', ');

function pathOf(e: EndpointSpec): string {
  return typeof e.path === 'string' ? e.path : (e.display ?? e.path.source);
}

function modelFrom(e: EndpointSpec): string {
  // A pattern's model is its group `model`, else its first group when it has no named groups.
  if (typeof e.path !== 'string' && (e.path.source.includes('(?<model>') || !e.path.source.includes('(?<'))) return 'path';
  return e.parse !== undefined ? 'body `model`' : 'none';
}

/** The config form of a credential form's material, as `providers[].credential` takes it. */
function material(f: CredentialForm): string {
  switch (f.kind) {
    case 'header':
      return 'a key (`{file}`, `{env}`)';
    case 'sigv4':
      return 'an AWS access key (`{aws: {access_key_id, secret_access_key, session_token}}`, with `region`)';
    case 'oauth2':
      return 'a service-account key (`{service_account, token_url}`)';
  }
}

/** How a credential form reaches the provider. */
function attached(f: CredentialForm): string {
  switch (f.kind) {
    case 'header':
      return code(`${f.header}: ${f.value('<key>')}`);
    case 'sigv4':
      return `a SigV4 signature (service \`${f.service}\`) over method, path, query, host and the whole body: ${list(headersOf(f))}`;
    case 'oauth2':
      return `${code('authorization: Bearer <access token>')}, minted and refreshed by llm-authz`;
  }
}

export function providersTable(): string {
  const rows = PROFILES.map((p) => {
    const w = p.wire;
    const query = w.credentialQueryParameters ?? [];
    const client = `${list(w.clientCredentialHeaders)}${query.length > 0 ? ` (never \`?${query.join('=`, `?')}=\`)` : ''}`;
    const attach = p.credentials.map((f) => `${material(f)}: ${attached(f)}`).join('; or ');
    return `| ${code(p.name)} | ${p.title} | ${code(w.name)} | ${code(p.system)} | ${client} | ${attach} |`;
  });
  return [
    '| `providers[].api` | provider | wire API (`llm.api`) | `gen_ai.provider.name` | the client sends its llm-authz key in | `providers[].credential`: how llm-authz attaches it |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export function endpointsTable(): string {
  const seen = new Map<string, number>();
  for (const w of WIRES) for (const e of w.endpoints) seen.set(`${e.method} ${pathOf(e)}`, (seen.get(`${e.method} ${pathOf(e)}`) ?? 0) + 1);
  const rows = WIRES.flatMap((w) =>
    w.endpoints.map((e) => {
      const shared = (seen.get(`${e.method} ${pathOf(e)}`) ?? 0) > 1;
      const api = shared && w.selectHeaders !== undefined ? `${code(w.name)} when the request carries ${list(w.selectHeaders)}` : code(w.name);
      return `| ${code(`${e.method} ${pathOf(e)}`)} | ${api} | ${code(e.schema)} | ${code(e.operation)}${e.stream === true ? ' (stream)' : ''} | ${modelFrom(e)} |`;
    }),
  );
  return ['| method and path | `api` | `schema` | `operation` | model from |', '|---|---|---|---|---|', ...rows].join('\n');
}

export function credentialsTable(): string {
  const rows = PROFILES.flatMap((p) =>
    p.credentials.map((f) => {
      const set = headersOf(f);
      return `| ${code(p.name)} | ${material(f)} | ${attached(f)} | ${list(CREDENTIAL_HEADERS.filter((c) => !set.includes(c)))} |`;
    }),
  );
  return ['| provider kind | credential | headers set | headers removed |', '|---|---|---|---|', ...rows].join('\n');
}

const TABLES: Readonly<Record<string, Readonly<Record<string, () => string>>>> = {
  'README.md': { providers: providersTable },
  'docs/llm-requests.md': { endpoints: endpointsTable, credentials: credentialsTable },
};

/** The file's text with every generated table rendered anew. */
export function rendered(file: string, text: string): string {
  let out = text;
  for (const [name, render] of Object.entries(TABLES[file] ?? {})) {
    const begin = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i === -1 || j < i) throw new Error(`${file}: the markers of the generated table '${name}' are missing`);
    out = `${out.slice(0, i + begin.length)}\n${render()}\n${out.slice(j)}`;
  }
  return out;
}

export const GENERATED_FILES = Object.keys(TABLES);

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const f of GENERATED_FILES) {
    const file = path.join(ROOT, f);
    writeFileSync(file, rendered(f, readFileSync(file, 'utf8')));
  }
  process.stdout.write(`rendered the API tables of ${GENERATED_FILES.join(', ')}\n`);
}
