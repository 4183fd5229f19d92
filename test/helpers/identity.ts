/** Request contexts and tokens for identity tests. */
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { parseCheckRequest, type RequestContext } from '../../src/envoy/request-context.ts';
import { toProtoStruct, type JsonValue } from '../../src/core/struct.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';

export interface CtxParams {
  readonly headers?: Record<string, string>;
  readonly principal?: string;
  /** PEM; sent URL-encoded like Envoy's include_peer_certificate. */
  readonly certificatePem?: string;
  /** filter_metadata by namespace. */
  readonly metadata?: Record<string, Record<string, JsonValue>>;
}

export function identityCtx(p: CtxParams): RequestContext {
  const raw = checkRequest({ headers: p.headers ?? {}, principal: p.principal ?? '' }) as { attributes: Record<string, any> };
  if (p.certificatePem !== undefined) raw.attributes['source'].certificate = encodeURIComponent(p.certificatePem);
  if (p.metadata !== undefined) {
    raw.attributes['metadata_context'] = { filter_metadata: Object.fromEntries(Object.entries(p.metadata).map(([ns, v]) => [ns, toProtoStruct(v)])) };
  }
  const r = parseCheckRequest(raw);
  if (!r.ok) throw new Error(`bad test request: ${r.reason}`);
  return r.value;
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  readonly publicJwk: JWK;
  /** The public key in PEM-less raw form, for the HS256-with-public-key attack. */
  readonly publicJwkText: string;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, privateKey, publicJwk: jwk, publicJwkText: JSON.stringify(jwk) };
}

export const nowS = (): number => Math.floor(Date.now() / 1000);

export async function signToken(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const alg = key.publicJwk.alg ?? 'RS256';
  return new SignJWT({ iat: nowS(), exp: nowS() + 600, ...claims }).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

/** An unsigned (alg none) token. */
export function unsignedToken(claims: JWTPayload): string {
  const b = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'none', typ: 'JWT' })}.${b({ iat: nowS(), exp: nowS() + 600, ...claims })}.`;
}
