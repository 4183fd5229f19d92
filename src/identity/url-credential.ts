/**
 * A credential in the URL is refused, whatever the Envoy in front: a key there lands in access
 * logs and traces, and a provider may read it (Gemini's `?key=`). Envoy forwards the query as the
 * client wrote it and providers decode it their own way, so a query parameter is compared by its
 * percent-decoded (repeatedly), case-folded name, without an array suffix (`key[]`, `key[0]`),
 * with `&` and `;` both separating parameters. Refused: a credential-named parameter (`KEY`,
 * `k%65y`, `%6Bey`, `key%5B%5D`, `api_key` …), and any parameter (its name or its value) or path
 * that holds the presented credential or an llm-authz key. (The project's Envoy templates also
 * remove `key` before ext_authz; see docs/identity.md.)
 */
import type { RequestContext } from '../envoy/request-context.ts';
import { API_KEY_SHAPE } from '../core/key-shape.ts';
import { CLIENT_CREDENTIAL_HEADERS, CREDENTIAL_QUERY_PARAMETERS } from '../apis/index.ts';
import { CREDENTIAL_HEADERS } from './credentials.ts';

/**
 * Query parameter names that carry a credential: every API profile's credential parameters
 * (Gemini's `key`), every client credential header's name (`api-key`, `x-goog-api-key` …), and the
 * common generic ones (RFC 6750's `access_token`).
 */
export const URL_CREDENTIAL_NAMES: ReadonlySet<string> = new Set([...CREDENTIAL_QUERY_PARAMETERS, ...CLIENT_CREDENTIAL_HEADERS, 'api_key', 'apikey', 'access_token', 'token']);

/** Decoding rounds for a name (`%25` nests): a name still changing after them is refused too. */
const DECODE_ROUNDS = 4;

/** Shorter header values are not searched for in the URL (a credential is never this short). */
const MIN_CREDENTIAL_LENGTH = 16;

function decodeOnce(s: string): string {
  return s.replace(/\+/g, ' ').replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** A text percent-decoded until it stops changing; undefined when it keeps changing. */
function decoded(raw: string): string | undefined {
  // Nothing to decode (the usual path): the text as it is, without a round of replaces.
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  let s = raw;
  for (let i = 0; i < DECODE_ROUNDS; i++) {
    const next = decodeOnce(s);
    if (next === s) return s;
    s = next;
  }
  return undefined;
}

/** The name a server may read: decoded, case-folded, trimmed, without an array suffix. */
export function canonicalParameterName(raw: string): string | undefined {
  const d = decoded(raw);
  if (d === undefined) return undefined;
  return (
    d
      .toLowerCase()
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters and spaces are what a parameter name is stripped of.
      .replace(/[\u0000-\u0020]+/g, '')
      .replace(/\[[^\]]*\]$/, '')
  );
}

function presentedTokens(ctx: RequestContext): string[] {
  const out: string[] = [];
  for (const h of CREDENTIAL_HEADERS) {
    const v = ctx.headers.get(h);
    if (v === undefined) continue;
    for (const part of v.split(',')) {
      const t = part
        .trim()
        .replace(/^bearer\s+/i, '')
        .trim();
      if (t.length >= MIN_CREDENTIAL_LENGTH) out.push(t);
    }
  }
  return out;
}

/** Why the URL is refused (a safe detail: the canonical parameter name, never a value), or undefined. */
export function urlCredential(ctx: RequestContext): string | undefined {
  if (API_KEY_SHAPE.test(decoded(ctx.path) ?? ctx.path)) return 'the URL path holds a credential';
  if (ctx.query === '') return undefined;
  const tokens = presentedTokens(ctx);
  for (const part of ctx.query.split(/[&;]/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = canonicalParameterName(eq === -1 ? part : part.slice(0, eq));
    if (name === undefined) return 'a query parameter name is encoded too many times';
    if (URL_CREDENTIAL_NAMES.has(name)) return `a credential in the URL query ('${name}') is refused; send it in a header`;
    // The whole parameter, name and value: a key as a name (`?lla_…`, `?lla_…=1`) leaks like one as a value.
    const text = decoded(part) ?? part;
    if (API_KEY_SHAPE.test(text) || tokens.some((t) => text.includes(t))) return 'a query parameter holds a credential; send it in a header';
  }
  return undefined;
}
