/**
 * The local demo: mock providers, llm-authz (quickstart config) and the real Envoy on
 * loopback; sends an allowed and two denied requests and shows what happened.
 *   node dist/devstack/demo.js [--keep]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startStack } from './stack.ts';
import { ROOT } from './tools.ts';

const QUICKSTART = path.join(ROOT, 'examples/quickstart');

function demoKeys(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(QUICKSTART, 'demo-keys.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.+)$/.exec(line.trim());
    if (m?.[1] && m[2]) out[m[1]] = m[2];
  }
  return out;
}

function mask(s: string): string {
  return s.length > 12 ? `${s.slice(0, 12)}…` : s;
}

async function send(url: string, title: string, p: string, headers: Record<string, string>, body: object): Promise<void> {
  const res = await fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  const shown = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, mask(v)]));
  process.stdout.write(`\n── ${title}\n   POST ${p} ${JSON.stringify(shown)} model=${(body as { model: string }).model}\n`);
  process.stdout.write(`   → HTTP ${res.status}  decision ${res.headers.get('x-llm-authz-decision-id') ?? '-'}\n   ${text.length > 300 ? `${text.slice(0, 300)}…` : text}\n`);
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const keys = demoKeys();
  const chatKey = keys['LLM_AUTHZ_DEMO_CHAT_KEY'] ?? '';
  const batchKey = keys['LLM_AUTHZ_DEMO_BATCH_KEY'] ?? '';
  process.stdout.write('Starting mock providers, llm-authz (examples/quickstart/llm-authz.yaml) and Envoy on loopback…\n');
  const stack = await startStack({ config: path.join(QUICKSTART, 'llm-authz.yaml') });
  try {
    process.stdout.write(`Envoy listens on ${stack.url}; llm-authz on 127.0.0.1:${stack.authz.port}; OpenAI mock on ${stack.openai.url}; Anthropic mock on ${stack.anthropic.url}\n`);
    await send(stack.url, 'allowed: the chat app calls gpt-4o-mini with its llm-authz key', '/v1/chat/completions', { authorization: `Bearer ${chatKey}` }, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] });
    const seen = stack.openai.requests.at(-1);
    const providerKey = readFileSync(path.join(QUICKSTART, 'secrets/openai-api-key'), 'utf8').trim();
    process.stdout.write(`   the OpenAI mock received authorization: ${seen?.headers['authorization'] === `Bearer ${providerKey}` ? "the provider key from secrets/ (the client's key never left Envoy)" : 'UNEXPECTED'}\n`);
    await send(stack.url, 'allowed: the chat app calls Claude through the Anthropic API', '/v1/messages', { 'x-api-key': chatKey, 'anthropic-version': '2023-06-01' }, { model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
    await send(stack.url, 'denied: the batch agent asks for a model outside its scope', '/v1/chat/completions', { authorization: `Bearer ${batchKey}` }, { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Summarise' }] });
    await send(stack.url, 'denied: no credentials at all', '/v1/chat/completions', {}, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    process.stdout.write('\n── decision log (llm-authz stdout, one JSON line per decision):\n');
    for (const d of await stack.authz.settledDecisions()) {
      process.stdout.write(`   ${d['decision.effect']} ${d['decision.reason']} workload=${d['identity.workload'] ?? '-'} model=${d['gen_ai.request.model'] ?? '-'} provider=${d['gen_ai.provider.name'] ?? '-'} id=${d['decision.id']}\n`);
    }
    if (keep) {
      process.stdout.write(`\nThe stack keeps running (Ctrl-C to stop). Try:\n  curl -s ${stack.url}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer ${chatKey}' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } finally {
    await stack.stop();
  }
  process.stdout.write('\nDemo done: everything stopped.\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
