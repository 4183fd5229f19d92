/**
 * Listen addresses: `HOST:PORT` (an IPv6 host in brackets, `[::1]:9001`) or `unix:PATH` (a Unix
 * domain socket, e.g. shared with an Envoy sidecar through an emptyDir). Parsed before anything
 * is bound, so `--listen 19031` or `--listen banana` is a clear usage error, not a name lookup.
 */
export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly target: string }
  | { readonly kind: 'unix'; readonly path: string; readonly target: string };

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))$/;

/** The address, or a sentence saying what is wrong with it (with what was given). */
export function parseListen(value: string): { ok: true; value: ListenAddress } | { ok: false; problem: string } {
  const bad = (why: string): { ok: false; problem: string } => ({
    ok: false,
    problem: `${why}: expected HOST:PORT (e.g. 127.0.0.1:9001) or unix:PATH, got ${JSON.stringify(value)}`,
  });
  if (value.startsWith('unix:')) {
    const p = value.slice('unix:'.length);
    if (p === '' || p.includes('\0')) return bad('no socket path after unix:');
    return { ok: true, value: { kind: 'unix', path: p, target: value } };
  }
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return bad(/^\d+$/.test(value) ? 'a port alone is not an address' : 'no port');
  const host = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return bad('the port is not a number from 0 to 65535');
  if (!HOST.test(host)) return bad(host.includes(':') ? 'an IPv6 host goes in brackets' : 'the host is not a host name or IP address');
  return { ok: true, value: { kind: 'tcp', host, port: Number(portText), target: value } };
}
