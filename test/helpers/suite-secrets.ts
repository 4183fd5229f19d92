/**
 * The secrets the e2e suite uses, for the suite-wide scan (test/e2e/global-setup.ts): the demo
 * API keys, every provider key file under examples/<name>/secrets/, the prompts the tests send,
 * and any value a test registers with `rememberSecret()` (signed JWTs, API keys made with
 * `llm-authz keys create`, private keys).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../devstack/tools.ts';
import { BATCH_KEY, CHAT_KEY } from './demo-keys.ts';
import type { Secret } from './secret-scan.ts';

/** Prompts the e2e tests send; none may appear in a log line or a span. */
export const SUITE_PROMPTS = ['say hello', 'the secret launch code is 7731', 'canary prompt 5f3a9c tell me a story'] as const;

const REGISTRY = path.join(ROOT, 'test-results', 'suite-secrets.txt');

/** Adds a secret to the suite-wide scan (one line; stays for the run). */
export function rememberSecret(label: string, value: string): void {
  mkdirSync(path.dirname(REGISTRY), { recursive: true });
  appendFileSync(REGISTRY, `${JSON.stringify({ label, value })}\n`);
}

/**
 * Adds a PEM private key: each base64 line of its body (a leaked key shows them verbatim, also
 * inside JSON strings where the line breaks become \n).
 */
export function rememberPrivateKeyPem(label: string, pem: string): void {
  const lines = pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
  if (lines.length === 0) throw new Error(`${label}: no PEM body`);
  for (const [i, l] of lines.entries()) rememberSecret(`${label} (PEM line ${i + 1})`, l);
}

/** Every provider key file of the examples (examples/<name>/secrets/<file>). */
export function exampleProviderKeys(): Secret[] {
  const examples = path.join(ROOT, 'examples');
  const out: Secret[] = [];
  for (const name of readdirSync(examples).sort()) {
    const dir = path.join(examples, name, 'secrets');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const file of readdirSync(dir).sort()) {
      const value = readFileSync(path.join(dir, file), 'utf8').trim();
      if (value) out.push({ label: `provider key examples/${name}/secrets/${file}`, value });
    }
  }
  return out;
}

export function suiteSecrets(): Secret[] {
  const out: Secret[] = [
    { label: 'demo key LLM_AUTHZ_DEMO_CHAT_KEY', value: CHAT_KEY },
    { label: 'demo key LLM_AUTHZ_DEMO_BATCH_KEY', value: BATCH_KEY },
    ...exampleProviderKeys(),
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
