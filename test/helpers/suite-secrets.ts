/**
 * The secrets the e2e suite uses, for the suite-wide scan (test/e2e/global-setup.ts): the demo
 * API keys, the quickstart provider keys, the prompts the tests send, and any value a test
 * registers with `rememberSecret()` (e.g. a signed JWT it made).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../src/devstack/tools.ts';
import { ANTHROPIC_PROVIDER_KEY, BATCH_KEY, CHAT_KEY, OPENAI_PROVIDER_KEY } from './demo-keys.ts';
import type { Secret } from './secret-scan.ts';

/** Prompts the e2e tests send; none may appear in a log line or a span. */
export const SUITE_PROMPTS = ['say hello', 'the secret launch code is 7731', 'canary prompt 5f3a9c tell me a story'] as const;

const REGISTRY = path.join(ROOT, 'test-results', 'suite-secrets.txt');

/** Adds a secret to the suite-wide scan (one line; stays for the run). */
export function rememberSecret(label: string, value: string): void {
  mkdirSync(path.dirname(REGISTRY), { recursive: true });
  appendFileSync(REGISTRY, `${JSON.stringify({ label, value })}\n`);
}

export function suiteSecrets(): Secret[] {
  const out: Secret[] = [
    { label: 'demo key LLM_AUTHZ_DEMO_CHAT_KEY', value: CHAT_KEY },
    { label: 'demo key LLM_AUTHZ_DEMO_BATCH_KEY', value: BATCH_KEY },
    { label: 'provider key examples/quickstart/secrets/openai-api-key', value: OPENAI_PROVIDER_KEY },
    { label: 'provider key examples/quickstart/secrets/anthropic-api-key', value: ANTHROPIC_PROVIDER_KEY },
    ...SUITE_PROMPTS.map((p, i) => ({ label: `prompt #${i + 1}`, value: p })),
  ];
  if (existsSync(REGISTRY)) {
    for (const line of readFileSync(REGISTRY, 'utf8').split('\n')) {
      if (!line) continue;
      const v = JSON.parse(line) as { label?: unknown; value?: unknown };
      if (typeof v.label === 'string' && typeof v.value === 'string') out.push({ label: v.label, value: v.value });
    }
  }
  return out;
}
