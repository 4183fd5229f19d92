/**
 * SPIFFE IDs from mTLS: Envoy's `source.principal` (the first URI SAN of the client certificate),
 * the peer certificate itself (ext_authz `include_peer_certificate`), and, only when the config
 * says a trusted proxy sets it, `x-forwarded-client-cert`. Every source present must agree; the
 * trust domain must be on the allowlist.
 */
import { X509Certificate } from 'node:crypto';
import type { RequestContext } from '../envoy/request-context.ts';
import type { SpiffeConfig } from './schema.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import { ABSENT, type IdentityMethod, type IdentityResult } from './types.ts';

const MAX_CERT_LENGTH = 64 * 1024;
const MAX_XFCC_LENGTH = 64 * 1024;

type Source = { kind: 'none' } | { kind: 'bad'; detail: string } | { kind: 'expired' } | { kind: 'id'; id: string };

function fromPrincipal(principal: string): Source {
  return principal.startsWith('spiffe://') ? { kind: 'id', id: principal } : { kind: 'none' };
}

/** The URI SANs of a URL-encoded PEM certificate. An X509-SVID has exactly one. */
function fromCertificate(encoded: string, now: number): Source {
  if (encoded === '') return { kind: 'none' };
  if (encoded.length > MAX_CERT_LENGTH) return { kind: 'bad', detail: 'the peer certificate is too large' };
  let sans: string;
  try {
    const cert = new X509Certificate(decodeURIComponent(encoded));
    if (Date.parse(cert.validTo) <= now || Date.parse(cert.validFrom) > now) return { kind: 'expired' };
    sans = cert.subjectAltName ?? '';
  } catch {
    return { kind: 'bad', detail: 'the peer certificate cannot be parsed' };
  }
  const uris = sans
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:spiffe://'))
    .map((s) => s.slice('URI:'.length));
  if (uris.length === 0) return { kind: 'none' };
  if (uris.length > 1) return { kind: 'bad', detail: 'the peer certificate has more than one SPIFFE ID' };
  return { kind: 'id', id: uris[0] ?? '' };
}

/** The URI of the element the nearest (trusted) proxy appended: the last one. */
function fromXfcc(header: string | undefined): Source {
  if (header === undefined || header === '') return { kind: 'none' };
  if (header.length > MAX_XFCC_LENGTH) return { kind: 'bad', detail: 'x-forwarded-client-cert is too large' };
  const elements = header.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  const last = elements.at(-1) ?? '';
  const pairs = last.match(/(?:[^;"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'uri') continue;
    let v = pair.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v.startsWith('spiffe://') ? { kind: 'id', id: v } : { kind: 'none' };
  }
  return { kind: 'none' };
}

export function createSpiffeMethod(config: SpiffeConfig, now: () => number = Date.now): IdentityMethod {
  const domains = new Set(config.trust_domains);
  return {
    name: 'spiffe',
    authenticate(ctx: RequestContext): IdentityResult {
      const sources: Source[] = [];
      if (config.from_principal) sources.push(fromPrincipal(ctx.source.principal));
      if (config.from_certificate) sources.push(fromCertificate(ctx.source.certificate, now()));
      if (config.trust_xfcc) sources.push(fromXfcc(ctx.headers.get('x-forwarded-client-cert')));
      let found: string | undefined;
      for (const s of sources) {
        if (s.kind === 'bad') return { kind: 'rejected', reason: 'malformed_credentials', detail: s.detail };
        if (s.kind === 'expired') return { kind: 'rejected', reason: 'expired_credentials', detail: 'the peer certificate is outside its validity period' };
        if (s.kind !== 'id') continue;
        if (found !== undefined && found !== s.id) return { kind: 'rejected', reason: 'conflicting_credentials', detail: 'the SPIFFE IDs of the connection disagree' };
        found = s.id;
      }
      if (found === undefined) return ABSENT;
      const id = parseSpiffeId(found);
      if (id === undefined) return { kind: 'rejected', reason: 'malformed_credentials', detail: 'the peer SPIFFE ID is not valid' };
      if (!domains.has(id.trustDomain)) return { kind: 'rejected', reason: 'untrusted_domain', detail: `trust domain '${id.trustDomain}' is not trusted` };
      return {
        kind: 'authenticated',
        identity: {
          method: 'spiffe',
          workload: id.id,
          agent: undefined,
          user: undefined,
          issuer: `spiffe://${id.trustDomain}`,
          credentialId: undefined,
          scopes: undefined,
          claims: undefined,
        },
      };
    },
  };
}
