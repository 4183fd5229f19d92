/** SPIFFE IDs (spiffe://<trust domain>/<path>), parsed by the rules of the SPIFFE ID spec. */

export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
  readonly id: string;
}

const MAX_ID_LENGTH = 2048;
const TRUST_DOMAIN_RE = /^[a-z0-9._-]{1,255}$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** The parsed ID, or undefined when the string is not a valid SPIFFE ID. */
export function parseSpiffeId(s: string): SpiffeId | undefined {
  if (s.length > MAX_ID_LENGTH || !s.startsWith('spiffe://')) return undefined;
  const rest = s.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (!TRUST_DOMAIN_RE.test(trustDomain)) return undefined;
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (const seg of segments) if (!SEGMENT_RE.test(seg) || seg === '.' || seg === '..') return undefined;
  }
  return { trustDomain, path, id: s };
}
