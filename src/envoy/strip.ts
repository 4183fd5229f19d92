/**
 * What an allow makes Envoy remove from the request before it is forwarded, besides the provider
 * credential headers (response.ts): every header that can carry a client's credential or that
 * speaks for llm-authz. A provider receives only the credential llm-authz attaches.
 *
 * Always removed (when the request carries them):
 *  - the configured `routing.remove_headers` (default `proxy-authorization`, `cookie`), listed on
 *    every allow, so they go even when Envoy's `allowed_headers` hides them from llm-authz;
 *  - the on-behalf-of header, configured or not (`x-llm-authz-on-behalf-of` by default);
 *  - every client-sent `x-llm-authz-*` header (a forged decision id, a reason), except the routing
 *    header, which the allow overwrites;
 *  - a credential header spelled with underscores (`x_api_key`): some servers (CGI, WSGI) read it
 *    as `x-api-key`;
 *  - method-override headers (`x-http-method-override` …): a provider that honours them would
 *    run another operation than the one decided;
 *  - any header whose value holds the presented credential or another llm-authz key (`lla_…`).
 */
import { CLIENT_CREDENTIAL_HEADERS, CREDENTIAL_HEADERS } from '../apis/index.ts';
import { API_KEY_SHAPE } from '../core/key-shape.ts';
import type { RequestContext } from './request-context.ts';

/** Header names Envoy cannot remove (pseudo-headers, Host). */
const UNREMOVABLE = new Set(['host']);

/** The credential header names (every API profile's), in their dash form; an underscore spelling of these is removed. */
const CREDENTIAL_NAMES: ReadonlySet<string> = new Set([...CREDENTIAL_HEADERS, 'proxy-authorization']);

const METHOD_OVERRIDE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** The prefix of the headers that speak for llm-authz. */
export const OWN_HEADER_PREFIX = 'x-llm-authz-';

/** Shorter values are not searched for in other headers (a credential is never this short). */
const MIN_CREDENTIAL_LENGTH = 16;

export const DEFAULT_REMOVE_HEADERS = ['proxy-authorization', 'cookie'] as const;

export interface StripRules {
  /** Listed on every allow. */
  readonly always: readonly string[];
  /** The routing header (overwritten by the allow, never removed). */
  readonly routingHeader: string;
  /** The headers a client credential is read from (their values are searched for elsewhere). */
  readonly credentialHeaders: readonly string[];
}

export function stripRules(opts: { removeHeaders: readonly string[]; routingHeader: string; onBehalfOfHeaders: readonly string[] }): StripRules {
  const always = [...new Set([...opts.removeHeaders, ...opts.onBehalfOfHeaders])].filter((h) => h !== opts.routingHeader);
  return { always, routingHeader: opts.routingHeader, credentialHeaders: CLIENT_CREDENTIAL_HEADERS };
}

/** Adds the credentials a header value presents (bearer prefix dropped; repeated values split at commas). */
function addPresented(out: string[], raw: string): void {
  let start = 0;
  while (start <= raw.length) {
    const comma = raw.indexOf(',', start);
    const end = comma === -1 ? raw.length : comma;
    const v = raw
      .slice(start, end)
      .trim()
      .replace(/^bearer\s+/i, '')
      .trim();
    if (v.length >= MIN_CREDENTIAL_LENGTH) out.push(v);
    start = end + 1;
  }
}

/** The credentials the request presents (bearer prefix dropped; repeated values split). */
function presented(ctx: RequestContext, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const raw = ctx.headers.get(name);
    if (raw !== undefined) addPresented(out, raw);
  }
  return out;
}

/** Whether `value` holds one of `creds`. */
function holdsAny(value: string, creds: readonly string[]): boolean {
  for (const c of creds) if (value.includes(c)) return true;
  return false;
}

/**
 * The headers to remove for this request. The allow drops from this list the headers it sets
 * itself (the provider credential, obligation headers): those are overwritten instead.
 * Plain loops over the header map, into the one list returned (a Set, its spread, a closure per
 * header and an entry array per header took 1.6 KiB per Check; the lists here are short).
 */
export function headersToStrip(ctx: RequestContext, rules: StripRules): string[] {
  const out = rules.always.slice();
  const creds = presented(ctx, rules.credentialHeaders);
  for (const name of ctx.headers.keys()) {
    if (name.startsWith(':') || UNREMOVABLE.has(name) || out.includes(name)) continue;
    if (
      (name.startsWith(OWN_HEADER_PREFIX) && name !== rules.routingHeader) ||
      METHOD_OVERRIDE_HEADERS.has(name) ||
      (name.includes('_') && CREDENTIAL_NAMES.has(name.replaceAll('_', '-')))
    ) {
      out.push(name);
      continue;
    }
    // The credential headers themselves are the allow's: it removes every one it does not set
    // (AttachedCredential.remove, src/providers/attach.ts), so they are not searched here.
    if (rules.credentialHeaders.includes(name)) continue;
    const value = ctx.headers.get(name) as string;
    if (API_KEY_SHAPE.test(value) || holdsAny(value, creds)) out.push(name);
  }
  return out;
}
