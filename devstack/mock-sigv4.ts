/**
 * The mock Bedrock's check of an AWS Signature Version 4: it recomputes the signature of the
 * request it received with the same access key (the AWS SDK's own signer, @smithy/signature-v4),
 * over the signed headers as they arrived, the path and query as they arrived, and the body's
 * SHA-256, and refuses any difference: a wrong key, a changed body, path, host or date.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface AwsTestKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

export interface SignedRequest {
  readonly method: string;
  /** The request target as received: path and raw query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Why AWS would refuse the request's signature; undefined when it verifies. */
export async function sigv4Problem(req: SignedRequest, keys: AwsTestKeys, region: string, service: string, now = Date.now()): Promise<string | undefined> {
  const auth = header(req.headers, 'authorization');
  const m = auth === undefined ? null : AUTH.exec(auth);
  if (m === null) return 'MissingAuthenticationToken: no SigV4 authorization header';
  const [, keyId, day, scopeRegion, scopeService, signedList, signature] = m;
  if (keyId !== keys.accessKeyId) return 'UnrecognizedClientException: unknown access key';
  if (scopeRegion !== region || scopeService !== service) return `InvalidSignatureException: credential scope ${scopeRegion}/${scopeService} is not ${region}/${service}`;
  const date = header(req.headers, 'x-amz-date');
  if (date === undefined || !/^\d{8}T\d{6}Z$/.test(date) || date.slice(0, 8) !== day) return 'InvalidSignatureException: x-amz-date is missing or does not match the scope';
  const signedAt = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
  if (Math.abs(now - signedAt) > 15 * 60_000) return 'InvalidSignatureException: signature expired';
  const signed = (signedList ?? '').split(';');
  if (!signed.includes('host')) return 'InvalidSignatureException: host is not signed';
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const claimed = header(req.headers, 'x-amz-content-sha256');
  if (claimed !== undefined && claimed !== bodyHash) return 'InvalidSignatureException: x-amz-content-sha256 is not the hash of the body';
  if (keys.sessionToken !== undefined && header(req.headers, 'x-amz-security-token') !== keys.sessionToken) return 'UnrecognizedClientException: the security token is not valid';

  const headers: Record<string, string> = {};
  for (const name of signed) {
    const v = header(req.headers, name);
    if (v === undefined) return `InvalidSignatureException: signed header ${name} is missing`;
    headers[name] = v;
  }
  const [path = '/', rawQuery = ''] = req.url.split('?', 2);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const credentials = { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, ...(keys.sessionToken !== undefined ? { sessionToken: keys.sessionToken } : {}) };
  const signer = new SignatureV4({ service, region, credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: true, applyChecksum: false });
  const expected = await signer.sign(
    // Exactly the signed headers as they arrived (a signed x-amz-content-sha256 was checked against the body above).
    { method: req.method, protocol: 'https:', hostname: headers['host'] ?? '', path, query, headers, body: req.body },
    { signingDate: new Date(signedAt), signableHeaders: new Set(signed) },
  );
  const want = /Signature=([0-9a-f]{64})$/.exec(expected.headers['authorization'] ?? '')?.[1] ?? '';
  const got = signature ?? '';
  if (want.length !== got.length || !timingSafeEqual(Buffer.from(want), Buffer.from(got)))
    return 'InvalidSignatureException: The request signature we calculated does not match the signature you provided';
  return undefined;
}
