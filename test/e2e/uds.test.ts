/**
 * llm-authz on a Unix domain socket (`serve --listen unix:PATH`), reached by the real Envoy through
 * its `pipe` address (envoy/gateway-uds.yaml): decisions, the credential swap and the decision
 * records are those of the TCP listener.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../devstack/ports.ts';
import { useStack } from '../helpers/stack.ts';
import { CHAT_KEY, OPENAI_PROVIDER_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }] };

async function post(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(chat) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

describe('through the real Envoy to llm-authz on a Unix domain socket', () => {
  const stack = useStack('uds', { config: QUICKSTART_CONFIG, unixSocket: true });

  it('serves on the socket, not on a TCP port', () => {
    const s = stack();
    const serving = s.authz.logs().find((l) => l['msg'] === 'llm-authz serving');
    expect(serving?.['listen']).toBe(`unix:${s.workDir}/authz.sock`);
    expect(serving?.['port']).toBeUndefined();
  });

  it("allows a permitted call and swaps in the provider's key, with its decision record", async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, { authorization: `Bearer ${CHAT_KEY}` });
    expect(r.status).toBe(200);
    expect(s.openai.requests.length).toBe(before + 1);
    expect(s.openai.requests.at(-1)?.headers['authorization']).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`);
    const id = r.headers.get('x-llm-authz-decision-id');
    const line = await waitFor('the decision line', () => s.authz.decisions().find((d) => d['decision.id'] === id));
    expect(line).toMatchObject({ 'decision.effect': 'allow', 'decision.reason': 'allowed', 'identity.method': 'api_key' });
  });

  it('denies a call without credentials (401) before it reaches the provider', async () => {
    const s = stack();
    const before = s.openai.requests.length;
    const r = await post(s.url, {});
    expect(r.status).toBe(401);
    expect(r.headers.get('x-llm-authz-reason')).toBe('no_credentials');
    expect(s.openai.requests.length).toBe(before);
    const id = r.headers.get('x-llm-authz-decision-id');
    const line = await waitFor('the decision line', () => s.authz.decisions().find((d) => d['decision.id'] === id));
    expect(line).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'no_credentials' });
  });
});
