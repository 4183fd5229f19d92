/**
 * The local demo: mock providers, llm-authz (quickstart config) and the real Envoy on
 * loopback; sends allowed and denied requests and shows what happened. With --jaeger, the real
 * Jaeger too: Envoy and llm-authz export their spans to it, and the demo shows each request's
 * trace (Envoy's spans and llm-authz's decision span in one trace).
 *   node devstack/demo.ts [--keep] [--jaeger]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { getTrace, startJaeger, type JaegerProcess } from './jaeger.ts';
import { waitFor } from './ports.ts';
import { startStack, type StackMocks } from './stack.ts';
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

/**
 * The quickstart config plus a Vertex AI provider (its service-account key is made when the mocks
 * start) and, for the chat app, Claude on Bedrock and Gemini models; written to the demo's folder.
 */
function demoConfig(mocks: StackMocks): string {
  const cfg = parse(readFileSync(path.join(QUICKSTART, 'llm-authz.yaml'), 'utf8')) as {
    providers: Record<string, unknown>[];
    identity: { api_keys: { id: string; models: string[] }[] };
    policy?: { dir?: string };
  };
  const absolute = (o: unknown): void => {
    if (typeof o !== 'object' || o === null) return;
    const r = o as Record<string, unknown>;
    if (typeof r['file'] === 'string') r['file'] = path.resolve(QUICKSTART, r['file']);
    for (const v of Object.values(r)) absolute(v);
  };
  for (const p of cfg.providers) absolute(p['credential']);
  if (cfg.policy?.dir !== undefined) cfg.policy.dir = path.resolve(QUICKSTART, cfg.policy.dir);
  cfg.providers.push({ name: 'vertex-ai', api: 'vertex-ai', route: 'vertex-ai', credential: { service_account: { file: mocks.vertexServiceAccountFile } } });
  cfg.identity.api_keys.find((k) => k.id === 'chatapp01')?.models.push('anthropic.claude-*', 'gemini-*');
  const file = path.join(mocks.workDir, 'llm-authz-demo.yaml');
  writeFileSync(file, stringify(cfg));
  return file;
}

function mask(s: string): string {
  return s.length > 12 ? `${s.slice(0, 12)}…` : s;
}

async function send(url: string, title: string, p: string, headers: Record<string, string>, body: object): Promise<void> {
  const res = await fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  const shown = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, mask(v)]));
  process.stdout.write(`\n── ${title}\n   POST ${p} ${JSON.stringify(shown)}${'model' in body ? ` model=${(body as { model: string }).model}` : ''}\n`);
  process.stdout.write(`   → HTTP ${res.status}  decision ${res.headers.get('x-llm-authz-decision-id') ?? '-'}\n   ${text.length > 300 ? `${text.slice(0, 300)}…` : text}\n`);
}

/** Each decision's trace as Jaeger holds it: the services and operations of its spans. */
async function showTraces(jaeger: JaegerProcess, decisions: readonly Record<string, unknown>[]): Promise<void> {
  process.stdout.write(`\n── traces in Jaeger (query API ${jaeger.queryUrl}/api/traces/<trace_id>):\n`);
  for (const d of decisions) {
    const traceId = String(d['trace_id'] ?? '');
    const trace = await waitFor(
      `trace ${traceId} in Jaeger`,
      async () => {
        const t = await getTrace(jaeger.queryUrl, traceId);
        // Envoy's spans and llm-authz's span arrive separately: wait for both services.
        return t && new Set(Object.values(t.processes).map((p) => p.serviceName)).size >= 2 ? t : undefined;
      },
      15_000,
      200,
    ).catch(() => undefined);
    if (!trace) {
      process.stdout.write(`   ${traceId}: not in Jaeger yet\n`);
      continue;
    }
    const spans = trace.spans.map((sp) => `${trace.processes[sp.processID]?.serviceName ?? '?'}: ${sp.operationName}`);
    process.stdout.write(`   ${traceId} (${d['decision.effect']} ${d['decision.reason']}): ${spans.join(' | ')}\n`);
  }
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const withJaeger = process.argv.includes('--jaeger');
  const keys = demoKeys();
  const chatKey = keys['LLM_AUTHZ_DEMO_CHAT_KEY'] ?? '';
  const batchKey = keys['LLM_AUTHZ_DEMO_BATCH_KEY'] ?? '';
  process.stdout.write(
    `Starting mock providers, llm-authz (examples/quickstart/llm-authz.yaml, plus a Vertex AI provider)${withJaeger ? ', Jaeger' : ''} and Envoy on loopback…\n`,
  );
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-demo-'));
  const jaeger: JaegerProcess | undefined = withJaeger ? await startJaeger({ workDir }) : undefined;
  const otlp = jaeger ? { address: '127.0.0.1', port: jaeger.otlpGrpcPort } : undefined;
  const stack = await startStack({
    config: demoConfig,
    workDir,
    ...(otlp ? { otlp, env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlp.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } } : {}),
  });
  try {
    process.stdout.write(
      `Envoy listens on ${stack.url}; llm-authz on 127.0.0.1:${stack.authz.port}; OpenAI mock on ${stack.openai.url}; Anthropic mock on ${stack.anthropic.url}\n`,
    );
    await send(
      stack.url,
      'allowed: the chat app calls gpt-4o-mini with its llm-authz key',
      '/v1/chat/completions',
      { authorization: `Bearer ${chatKey}` },
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] },
    );
    const seen = stack.openai.requests.at(-1);
    const providerKey = readFileSync(path.join(QUICKSTART, 'secrets/openai-api-key'), 'utf8').trim();
    process.stdout.write(
      `   the OpenAI mock received authorization: ${seen?.headers['authorization'] === `Bearer ${providerKey}` ? "the provider key from secrets/ (the client's key never left Envoy)" : 'UNEXPECTED'}\n`,
    );
    await send(
      stack.url,
      'allowed: the chat app calls Claude through the Anthropic API',
      '/v1/messages',
      { 'x-api-key': chatKey, 'anthropic-version': '2023-06-01' },
      { model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] },
    );
    const claudeOnBedrock = encodeURIComponent('anthropic.claude-3-5-haiku-20241022-v1:0');
    await send(
      stack.url,
      'allowed: the chat app calls Claude on Amazon Bedrock (Converse), its llm-authz key as a Bedrock API key',
      `/model/${claudeOnBedrock}/converse`,
      { authorization: `Bearer ${chatKey}` },
      { messages: [{ role: 'user', content: [{ text: 'Say hello' }] }], inferenceConfig: { maxTokens: 64 } },
    );
    const signed = String(stack.bedrock.requests.at(-1)?.headers['authorization'] ?? '');
    process.stdout.write(
      `   the Bedrock mock received ${signed.startsWith('AWS4-HMAC-SHA256 ') && stack.bedrock.refused.length === 0 ? "a SigV4 signature by the provider's AWS key, which it verified" : 'UNEXPECTED'}\n`,
    );
    await send(
      stack.url,
      'allowed: the chat app calls Gemini on Google Vertex AI, its llm-authz key as its access token',
      '/v1/projects/acme-prod/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent',
      { authorization: `Bearer ${chatKey}` },
      { contents: [{ role: 'user', parts: [{ text: 'Say hello' }] }] },
    );
    process.stdout.write(
      `   the Vertex AI mock received ${stack.vertexTokens.problem(String(stack.vertexAi.requests.at(-1)?.headers['authorization'] ?? '')) === undefined ? 'an access token llm-authz minted from the service-account key' : 'UNEXPECTED'}\n`,
    );
    await send(
      stack.url,
      'denied: the chat app asks Bedrock for a model outside its scope (the AWS SDK raises AccessDeniedException)',
      `/model/${encodeURIComponent('meta.llama3-70b-instruct-v1:0')}/converse`,
      { authorization: `Bearer ${chatKey}` },
      { messages: [{ role: 'user', content: [{ text: 'Say hello' }] }] },
    );
    await send(
      stack.url,
      'denied: the batch agent asks for a model outside its scope',
      '/v1/chat/completions',
      { authorization: `Bearer ${batchKey}` },
      { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Summarise' }] },
    );
    await send(stack.url, 'denied: no credentials at all', '/v1/chat/completions', {}, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    process.stdout.write('\n── decision log (llm-authz stdout, one JSON line per decision):\n');
    const decisions = await stack.authz.settledDecisions();
    for (const d of decisions) {
      process.stdout.write(
        `   ${d['decision.effect']} ${d['decision.reason']} workload=${d['identity.workload'] ?? '-'} model=${d['gen_ai.request.model'] ?? '-'} provider=${d['gen_ai.provider.name'] ?? '-'} id=${d['decision.id']}\n`,
      );
    }
    process.stdout.write('\n── outcome records (the same log, "kind":"outcome": what each allowed request\'s response consumed and how it ended):\n');
    for (const o of stack.authz.outcomes()) {
      process.stdout.write(
        `   decision ${o['decision.id']} HTTP ${o['http.response.status_code'] ?? '-'} model=${o['gen_ai.response.model'] ?? '-'} tokens in/out=${o['gen_ai.usage.input_tokens'] ?? '-'}/${o['gen_ai.usage.output_tokens'] ?? '-'} finish=${(o['gen_ai.response.finish_reasons'] as string[] | undefined)?.join(',') ?? '-'} tool calls=${(o['llm.response.tool_calls'] as string[] | undefined)?.join(',') ?? 'none'}\n`,
      );
    }
    if (jaeger) await showTraces(jaeger, decisions);
    if (keep) {
      if (jaeger) process.stdout.write(`\nJaeger's query API: ${jaeger.queryUrl}/api/traces?service=llm-authz`);
      process.stdout.write(
        `\nThe stack keeps running (Ctrl-C to stop). Try:\n  curl -s ${stack.url}/v1/chat/completions -H 'content-type: application/json' -H 'authorization: Bearer ${chatKey}' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } finally {
    await stack.stop({ keep: true });
    await jaeger?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  process.stdout.write('\nDemo done: everything stopped.\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
