/**
 * The identity phase's start-up warm-up. A fresh process's first Check spent 11 of its 22 ms
 * here (bench/cold-check.ts, benchmark config, RS256): jose's verification code, Node's WebCrypto
 * modules (loaded on first use), the key import, then the code that maps a verified token to an
 * identity. Two parts, neither of which touches the configured identity methods or their state:
 *  1. one verification per configured algorithm with keys of this file, of a token whose signature
 *     is zeros (it fails at the signature check: no issuer's key set is read, so a key set from
 *     a URL is never fetched for it);
 *  2. an identifier built by the same factory as the configured one (the same entitlement rules,
 *     claims, precedence, SPIFFE, Envoy-JWT and on-behalf-of settings), but whose only API key
 *     and JWT issuer are made here, at each start, with a key pair that lives only in it: the
 *     warm-up's Checks (src/pipeline/warm-up.ts) authenticate with them, so the code of an
 *     accepted credential runs.
 * No verified-token cache, key store, revocation list or counter of the configured methods sees
 * any of it. Only public keys, made for this purpose, are written here; nothing verifies with them.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import { hashApiKey } from './api-key.ts';
import { createIdentifierFromConfig, type Identify } from './index.ts';
import { jwtIssuerSchema, type IdentityConfig, type JWT_ALGORITHMS } from './schema.ts';

export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const KEYS: JSONWebKeySet = {
  keys: [
    {
      kid: 'rsa',
      kty: 'RSA',
      e: 'AQAB',
      n: 'wbWHzXuWEM_R8-07k1IYLRCgj8EdxIMXE2LLnVlad5pR21UAaO3uRp2PNHrCBr2HMUGqvvFldB0VTA-l0Z6V-6n3NVpOWXU5iVXLLE_eHcz-YavNYzO_3iUUokJX20BDTolwdD4fu8-5ONpEzUUElz-6eW12SD-K3YjKf41lG4Yviz9uIAL3BB2rm-rj5qzkEvOxrhuFFjrO8Gvfq66x1w1aE3cjEK5_sXpc4HHdmWlAxA6o2fzw_iUnCITIlno4VGGvQKjAHN6WfpeCs-n0ecdlqBO_I1BTKPZ4gn3wcm9mr_Al4JqlODJV-6BRzDWS4G7B7VBE4k9P2Exjyk1zfw',
    },
    { kid: 'P-256', kty: 'EC', crv: 'P-256', x: 'ldkYkA5zRzDdOBRx_ofoIfknGQwXcdd7ouvD7EnxV9A', y: '4lDSfkBtujvOzm0udBx4utsmzu95n1_BRNq7ptXPp4Y' },
    {
      kid: 'P-384',
      kty: 'EC',
      crv: 'P-384',
      x: 'K839ZNaw-iyUUuPGASjvOoZ-n97_sc_dtdmULT7jTX6Xqz2xmmtehax4zqijkQWo',
      y: '8uxuD6qy80uowq5HeCfo-KITZtKB2O7Yqwkj_b5sNamBsaOGdIEDZyS_yQ2I9gHH',
    },
    {
      kid: 'P-521',
      kty: 'EC',
      crv: 'P-521',
      x: 'AeX6-j-JWR9PeXIHfiH4X9ovKTvs9edweJhUU_Sw-SnYoSzxNk0rV8aee2DJ6vjXwQku8-8bPnhLOBAOpV3s7bEc',
      y: 'AT1FduHDquK_psAiasGBGamZyqDCo05YycRRffEbMhrPcyydl_J06YUqv4Wru7Ee2-7e_OWbsXukKi0hQIuVdG7c',
    },
    { kid: 'Ed25519', kty: 'OKP', crv: 'Ed25519', x: 'IjNso_3uBTmf6VTWSh5YMDDwggqTsZt7nyAoBbD2_Wc' },
  ],
};

/** Each algorithm's key of KEYS and the length of its signatures. */
const KEY_OF: Readonly<Record<JwtAlgorithm, readonly [kid: string, signatureBytes: number]>> = {
  RS256: ['rsa', 256],
  RS384: ['rsa', 256],
  RS512: ['rsa', 256],
  PS256: ['rsa', 256],
  PS384: ['rsa', 256],
  PS512: ['rsa', 256],
  ES256: ['P-256', 64],
  ES384: ['P-384', 96],
  ES512: ['P-521', 132],
  EdDSA: ['Ed25519', 64],
  Ed25519: ['Ed25519', 64],
};

const ISSUER = 'llm-authz-warm-up';
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A token for `alg` whose signature (zeros) does not verify, for this file's keys or an issuer's. */
export function unverifiableToken(
  alg: JwtAlgorithm,
  to: { readonly issuer: string; readonly audience: string; readonly kid?: string | undefined } = { issuer: ISSUER, audience: ISSUER, kid: KEY_OF[alg][0] },
): string {
  const header = to.kid === undefined ? { alg, typ: 'JWT' } : { alg, kid: to.kid, typ: 'JWT' };
  return `${b64(header)}.${b64({ iss: to.issuer, aud: to.audience, sub: ISSUER, exp: 4102444800 })}.${Buffer.alloc(KEY_OF[alg][1]).toString('base64url')}`;
}

/** Most tokens made for one configured issuer. */
const MAX_ISSUER_TOKENS = 8;

/**
 * Tokens of each configured issuer whose keys are in the config or a file (never one whose keys
 * come from a URL: no fetch is made for the warm-up), one per algorithm and key id, each with a
 * signature of zeros: the configured verifier imports the issuer's key for it and refuses it
 * (`bad_signature`). It caches no refused token.
 */
export function configuredIssuerTokens(config: IdentityConfig): string[] {
  const out: string[] = [];
  for (const i of config.jwt?.issuers ?? []) {
    if (i.jwks.url !== undefined) continue;
    const kids = i.jwks.keys?.map((k) => (typeof k['kid'] === 'string' ? k['kid'] : undefined)) ?? [undefined];
    const tokens = i.algorithms.flatMap((alg) => [...new Set(kids)].map((kid) => unverifiableToken(alg, { issuer: i.issuer, audience: i.audiences[0] ?? ISSUER, kid })));
    out.push(...tokens.slice(0, MAX_ISSUER_TOKENS));
  }
  return out;
}

/** A compact JWS of `payload`, signed with an Ed25519 key. */
function ed25519Token(payload: Record<string, unknown>, privateKey: Parameters<typeof sign>[2]): string {
  const input = `${b64({ alg: 'EdDSA', kid: 'warm-up', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
}

/** An identifier of the config's shape that accepts the credentials made with it, and nothing else. */
export interface WarmUpIdentifier {
  readonly identify: Identify;
  /** An API key `lla_…` and a JWT (Ed25519, valid for five minutes) it accepts. */
  readonly apiKey: string;
  readonly jwt: string;
  close(): void;
}

/**
 * An identifier built by the same factory as the configured one, whose only API key and JWT
 * issuer are made now, with a key pair that lives only in it: the Checks of the warm-up
 * authenticate with them, so the code of an accepted credential runs before a real one comes.
 * `providers` scopes its API key (all providers when absent).
 */
export function warmUpIdentifier(config: IdentityConfig, o: { readonly providers?: readonly string[] | undefined } = {}): WarmUpIdentifier {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const apiKey = `lla_llmauthzwarmup_${randomBytes(24).toString('base64url')}`;
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'warm-up', alg: 'EdDSA', use: 'sig' };
  const issuer = jwtIssuerSchema.parse({ issuer: ISSUER, audiences: [ISSUER], algorithms: ['EdDSA'], jwks: { keys: [jwk] } });
  const identify = createIdentifierFromConfig(
    {
      ...config,
      api_keys: [{ id: 'llmauthzwarmup', hash: hashApiKey(apiKey), workload: ISSUER, models: ['*'], ...(o.providers !== undefined && { providers: [...o.providers] }) }],
      key_store: undefined,
      revocation_list: undefined,
      jwt: { max_token_bytes: 8192, clock_skew_s: 30, cache_entries: 1, ...config.jwt, issuers: [issuer] },
    },
    { source: 'warm-up', version: 'warm-up', baseDir: process.cwd() },
  );
  const now = Math.floor(Date.now() / 1000);
  const jwt = ed25519Token({ iss: ISSUER, aud: ISSUER, sub: ISSUER, iat: now, exp: now + 300 }, privateKey);
  return { identify, apiKey, jwt, close: () => identify.close?.() };
}

/**
 * Verifies one unverifiable token per algorithm. Resolves when each failed at its signature, as it
 * must; throws when one failed elsewhere (a key that does not import) or, impossibly, verified.
 */
export async function warmUpJwtVerification(algorithms: Iterable<JwtAlgorithm>): Promise<void> {
  const keys = createLocalJWKSet(KEYS);
  for (const alg of new Set(algorithms)) {
    try {
      await jwtVerify(unverifiableToken(alg), keys, { algorithms: [alg], issuer: ISSUER, audience: ISSUER });
    } catch (err) {
      if (err instanceof errors.JWSSignatureVerificationFailed) continue;
      throw err;
    }
    throw new Error(`a token with a zero signature verified (${alg})`);
  }
}
