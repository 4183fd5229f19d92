/**
 * OAuth2 access tokens minted from a Google service-account key, with google-auth-library's JWT
 * client (a JWT assertion signed with the key, exchanged at the token endpoint). A token is
 * cached and minted again in the background five minutes before it expires, so a Check waits for
 * the token endpoint only when no valid token is held (at start, or after the endpoint failed
 * for that long). The key file is watched like any credential file; a changed key mints anew.
 *
 * Nothing of the key or the tokens is logged: the client is built without google-auth-library's
 * request interceptors (the only place it logs, under GOOGLE_SDK_NODE_LOGGING, and it logs token
 * responses), and failures are reported as an HTTP status or an error code only.
 */
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import type { JWT } from 'google-auth-library';
import { Secret } from '../core/secret.ts';
import type { CredentialReloadListener } from '../core/build-context.ts';

const requireLazily = createRequire(import.meta.url);

/**
 * google-auth-library's JWT client, loaded when the first service account is configured:
 * importing the library costs about 130 ms at start (median of 7 cold imports, Node 24), which a
 * config without one need not pay.
 */
function jwtClient(): typeof JWT {
  return (requireLazily('google-auth-library') as typeof import('google-auth-library')).JWT;
}

/** Google's OAuth2 token endpoint, which google-auth-library's JWT client posts to. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Mint again this long before expiry (google-auth-library's own default threshold). */
export const REFRESH_BEFORE_MS = 5 * 60_000;
/** A held token with less validity left than this is not handed out. */
const MIN_VALIDITY_MS = 30_000;
/** After a failed background refresh, try again this much later. */
const RETRY_MS = 10_000;

export interface ServiceAccountKey {
  readonly clientEmail: string;
  readonly privateKey: Secret;
  readonly privateKeyId: string | undefined;
  readonly tokenUri: string | undefined;
}

/** Reads a service-account key file's JSON; the error names the missing field, never a value. */
export function parseServiceAccountKey(text: string): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('the service-account key is not JSON');
  }
  const o = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const str = (k: string): string | undefined => (typeof o[k] === 'string' && o[k] !== '' ? o[k] : undefined);
  if (o['type'] !== undefined && o['type'] !== 'service_account') throw new Error("the key's type is not service_account");
  const clientEmail = str('client_email');
  const privateKey = str('private_key');
  if (clientEmail === undefined) throw new Error('the service-account key has no client_email');
  if (privateKey === undefined) throw new Error('the service-account key has no private_key');
  return { clientEmail, privateKey: new Secret(privateKey), privateKeyId: str('private_key_id'), tokenUri: str('token_uri') };
}

/** A safe description of a token failure: HTTP status and OAuth2 error code, or the error code. */
export function tokenProblem(err: unknown): string {
  const e = err as { response?: { status?: unknown; data?: { error?: unknown } }; code?: unknown } | undefined;
  const status = e?.response?.status;
  if (typeof status === 'number') {
    const code = e?.response?.data?.error;
    return `token endpoint answered HTTP ${status}${typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? ` (${code})` : ''}`;
  }
  return typeof e?.code === 'string' && /^[A-Z_0-9]{1,64}$/.test(e.code) ? `token endpoint unreachable (${e.code})` : 'token endpoint request failed';
}

export interface TokenSourceOptions {
  /** The service-account key file's text (reloadable: a new value mints a new token). */
  readonly key: Secret;
  /** Where the key came from, for events (a file path or an environment variable name). */
  readonly origin: string;
  /** The token endpoint; default the key's `token_uri`, else Google's. */
  readonly tokenUrl: string | undefined;
  readonly onEvent?: CredentialReloadListener | undefined;
}

/** Access tokens for one set of scopes. */
class Minter {
  readonly #opts: TokenSourceOptions;
  readonly #scopes: readonly string[];
  #keyText = '';
  #badKeyText = '';
  #jwt: JWT | undefined;
  #current: { readonly token: Secret; readonly expiresAt: number } | undefined;
  #inflight: Promise<Secret> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: TokenSourceOptions, scopes: readonly string[]) {
    this.#opts = opts;
    this.#scopes = scopes;
  }

  /** A valid access token: the held one, else a newly minted one. */
  token(): Promise<Secret> {
    const text = this.#opts.key.reveal();
    if (text !== this.#keyText) {
      try {
        this.#reset(text);
      } catch (err) {
        // A changed key that cannot be read: reported once, refused until the key changes again.
        if (text !== this.#badKeyText)
          this.#opts.onEvent?.({ file: this.#opts.origin, outcome: 'token_failed', problem: err instanceof Error ? err.message : 'the key cannot be read' });
        this.#badKeyText = text;
        return Promise.reject(err instanceof Error ? err : new Error('the service-account key cannot be read'));
      }
    }
    const c = this.#current;
    if (c !== undefined && c.expiresAt - Date.now() > MIN_VALIDITY_MS) return Promise.resolve(c.token);
    return this.#refresh();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #reset(text: string): void {
    const key = parseServiceAccountKey(text);
    const Jwt = jwtClient();
    const jwt = new Jwt({
      email: key.clientEmail,
      key: key.privateKey.reveal(),
      ...(key.privateKeyId !== undefined ? { keyId: key.privateKeyId } : {}),
      scopes: [...this.#scopes],
      eagerRefreshThresholdMillis: REFRESH_BEFORE_MS,
      // No default interceptors: they add user-agent headers and log requests and token responses.
      useAuthRequestParameters: false,
    });
    const target = this.#opts.tokenUrl ?? key.tokenUri ?? GOOGLE_TOKEN_URL;
    if (target !== GOOGLE_TOKEN_URL) {
      // The JWT client posts to Google's endpoint; send its token requests to the configured one.
      jwt.transporter.interceptors.request.add({
        resolved: async (config) => {
          if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(target);
          return config;
        },
      });
    }
    this.#keyText = text;
    this.#jwt = jwt;
    this.#current = undefined;
  }

  /** Mints a token (one request at a time) and reports the outcome: a failure, or a token after one. */
  #refresh(): Promise<Secret> {
    this.#inflight ??= this.#mint()
      .then(
        (token) => {
          this.#opts.onEvent?.({ file: this.#opts.origin, outcome: 'token_minted' });
          return token;
        },
        (err: unknown) => {
          this.#opts.onEvent?.({ file: this.#opts.origin, outcome: 'token_failed', problem: tokenProblem(err) });
          throw err;
        },
      )
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }

  async #mint(): Promise<Secret> {
    const jwt = this.#jwt;
    if (jwt === undefined) throw new Error('no service-account key');
    const r = await jwt.getAccessToken();
    const expiresAt = jwt.credentials.expiry_date;
    if (typeof r.token !== 'string' || r.token === '' || typeof expiresAt !== 'number') throw new Error('the token endpoint returned no access token');
    const token = new Secret(r.token);
    if (jwt === this.#jwt) {
      this.#current = { token, expiresAt };
      this.#schedule(expiresAt - REFRESH_BEFORE_MS - Date.now());
    }
    return token;
  }

  #schedule(inMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        // A timer can fire a millisecond before its delay is up by Date.now() (libuv's monotonic
        // clock and Date.now() round apart); the JWT client then hands back the held token, which
        // was reported as minted (test/unit/provider-tokens.test.ts failed 1 run in 3 so): wait
        // until the token is inside its refresh window.
        const c = this.#current;
        if (c !== undefined && c.expiresAt - REFRESH_BEFORE_MS - Date.now() > 0) {
          this.#schedule(c.expiresAt - REFRESH_BEFORE_MS - Date.now());
          return;
        }
        this.#refresh().catch(() => this.#schedule(RETRY_MS));
      },
      Math.max(1000, inMs),
    );
    this.#timer.unref();
  }
}

/** A service-account credential: access tokens per set of scopes, minted on first use. */
export class ServiceAccount {
  readonly kind = 'service_account' as const;
  readonly #opts: TokenSourceOptions;
  readonly #minters = new Map<string, Minter>();

  /** Throws (naming no value) when the key cannot be read as a service-account key. */
  constructor(opts: TokenSourceOptions) {
    parseServiceAccountKey(opts.key.reveal());
    jwtClient();
    this.#opts = opts;
  }

  /** A valid access token for these scopes (minted, or the cached one). */
  token(scopes: readonly string[]): Promise<Secret> {
    const id = scopes.join(' ');
    let m = this.#minters.get(id);
    if (m === undefined) {
      m = new Minter(this.#opts, scopes);
      this.#minters.set(id, m);
    }
    return m.token();
  }

  /** Mints a first token in the background, so the first request need not wait (a failure is reported as an event). */
  prefetch(scopes: readonly string[]): void {
    this.token(scopes).catch(() => undefined);
  }

  close(): void {
    for (const m of this.#minters.values()) m.close();
  }

  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}
