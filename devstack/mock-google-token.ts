/**
 * A local Google OAuth2 token endpoint for the mock Vertex AI, and the check of the bearer
 * tokens it issued. The endpoint takes what google-auth-library's JWT client sends (a JWT
 * assertion signed with a service-account key, RFC 7523), verifies the assertion with the
 * account's public key, and issues a random access token with an expiry; the mock Vertex AI
 * accepts only an issued token that has not expired.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';

/** The audience google-auth-library puts in its assertions (Google's token endpoint). */
const GOOGLE_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';

export interface TestServiceAccount {
  readonly clientEmail: string;
  readonly privateKeyPem: string;
  readonly publicKey: KeyObject;
  /** The key file's JSON, as Google writes it, with `token_uri` pointing where given. */
  keyJson(tokenUri: string): string;
}

/** A service account with a new RSA key (for tests and the local stack). */
export function testServiceAccount(clientEmail = 'llm-gateway@mock-project.iam.gserviceaccount.com'): TestServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    clientEmail,
    privateKeyPem,
    publicKey,
    keyJson: (tokenUri) =>
      JSON.stringify(
        {
          type: 'service_account',
          project_id: 'mock-project',
          private_key_id: randomBytes(20).toString('hex'),
          private_key: privateKeyPem,
          client_email: clientEmail,
          client_id: '100000000000000000001',
          auth_uri: 'https://accounts.google.com/o/oauth2/auth',
          token_uri: tokenUri,
        },
        null,
        2,
      ),
  };
}

export interface TokenIssuer {
  /** Seconds each issued token is valid (tests shorten it to see a refresh). */
  expiresInS: number;
  /** Answers a token request: [status, JSON body]. */
  token(form: string): Promise<[number, string]>;
  /** Why Vertex AI would refuse this Authorization header; undefined for an issued, unexpired token. */
  problem(authorization: string | undefined): string | undefined;
  /** Access tokens issued so far (never printed by the mock). */
  readonly issued: readonly string[];
}

export function tokenIssuer(account: Pick<TestServiceAccount, 'clientEmail' | 'publicKey'>, scope = 'https://www.googleapis.com/auth/cloud-platform'): TokenIssuer {
  const expiry = new Map<string, number>();
  const issued: string[] = [];
  const issuer: TokenIssuer = {
    expiresInS: 3600,
    issued,
    async token(form) {
      const p = new URLSearchParams(form);
      if (p.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return [400, JSON.stringify({ error: 'unsupported_grant_type' })];
      try {
        const { payload } = await jwtVerify(p.get('assertion') ?? '', account.publicKey, { issuer: account.clientEmail, audience: GOOGLE_TOKEN_AUDIENCE, algorithms: ['RS256'] });
        if (typeof payload['scope'] !== 'string' || !payload['scope'].split(' ').includes(scope)) return [400, JSON.stringify({ error: 'invalid_scope' })];
      } catch {
        return [400, JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' })];
      }
      const token = `ya29.mock-${randomBytes(24).toString('base64url')}`;
      expiry.set(token, Date.now() + issuer.expiresInS * 1000);
      issued.push(token);
      return [200, JSON.stringify({ access_token: token, expires_in: issuer.expiresInS, token_type: 'Bearer' })];
    },
    problem(authorization) {
      const m = authorization === undefined ? null : /^Bearer (\S+)$/.exec(authorization);
      if (m === null) return 'UNAUTHENTICATED: no bearer token';
      const until = expiry.get(m[1] ?? '');
      if (until === undefined) return 'UNAUTHENTICATED: the access token was not issued by this token endpoint';
      if (until <= Date.now()) return 'UNAUTHENTICATED: the access token has expired';
      return undefined;
    },
  };
  return issuer;
}
