import { describe, expect, it } from 'vitest';
import { useStack, newWorkDir } from '../helpers/stack.ts';
import { createPki } from '../helpers/identity-pki.ts';
import { CHAT_KEY, OPENAI_PROVIDER_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';

const pki = createPki(newWorkDir('tls-upstream-pki'));
const rogue = createPki(newWorkDir('tls-upstream-rogue-pki'));

const chat = (url: string): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CHAT_KEY}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }] }),
  });

describe('TLS to the providers (envoy/gateway-tls.yaml)', () => {
  const stack = useStack('tls-upstream', {
    config: QUICKSTART_CONFIG,
    envoyTemplate: 'envoy/gateway-tls.yaml',
    upstreamTls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert },
  });

  it('forwards an allowed request over TLS with the provider key, SNI localhost', async () => {
    const s = stack();
    expect(s.openai.url).toMatch(/^https:/);
    const res = await chat(s.url);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
    const seen = s.openai.requests.at(-1)!;
    expect(seen.headers['authorization']).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`);
    expect(seen.headers['host']).toMatch(/^localhost(:\d+)?$/);
    const stats = await s.envoy.admin('/stats?filter=^cluster\\.openai\\.ssl\\.handshake$');
    expect(Number(/cluster\.openai\.ssl\.handshake: (\d+)/.exec(stats)?.[1] ?? 0)).toBeGreaterThan(0);
  });
});

describe('TLS to the providers: a certificate from another CA', () => {
  const stack = useStack('tls-upstream-rogue', {
    config: QUICKSTART_CONFIG,
    envoyTemplate: 'envoy/gateway-tls.yaml',
    upstreamTls: { cert: rogue.serverCert, key: rogue.serverKey, ca: pki.caCert },
  });

  it('is refused: 503 and nothing reaches the provider', async () => {
    const s = stack();
    const res = await chat(s.url);
    expect(res.status).toBe(503);
    expect(s.openai.requests).toHaveLength(0);
    const stats = await s.envoy.admin('/stats?filter=^cluster\\.openai\\.ssl\\.fail_verify');
    expect(stats).toMatch(/cluster\.openai\.ssl\.fail_verify_[a-z_]+: [1-9]/);
  });
});
