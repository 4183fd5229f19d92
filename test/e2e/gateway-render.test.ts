/**
 * The gateway templates for ONE provider without tracing and without the access log: rendered by
 * scripts/render-gateway.ts with only that provider's and llm-authz's parameters (the whole file
 * asks for every provider's address and an OTLP collector's), accepted by `envoy --mode
 * validate`, and run: llm-authz in front of the one provider through the real Envoy.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectGatewayParts, selectSections, templateProviders } from '../../devstack/envoy-sections.ts';
import { startStack, type Stack } from '../../devstack/stack.ts';
import { envoyBin, ROOT } from '../../devstack/tools.ts';
import { CHAT_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { newWorkDir } from '../helpers/stack.ts';

const execFileAsync = promisify(execFile);
const SCRIPT = path.join(ROOT, 'scripts/render-gateway.ts');

/** llm-authz's, Envoy's and the OpenAI provider's parameters: nothing else. */
const ONE_PROVIDER_ENV = {
  LISTEN_ADDRESS: '127.0.0.1',
  LISTEN_PORT: '10000',
  ADMIN_ADDRESS: '127.0.0.1',
  ADMIN_PORT: '9901',
  AUTHZ_ADDRESS: '127.0.0.1',
  AUTHZ_PORT: '9001',
  OPENAI_ADDRESS: 'api.openai.com',
  OPENAI_PORT: '443',
  MAX_REQUEST_BYTES: '1048576',
};

/** Runs the script with exactly this environment (and PATH). */
function render(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function validate(text: string, name: string): Promise<void> {
  const file = path.join(newWorkDir('gateway-render'), name);
  writeFileSync(file, text);
  const r = await execFileAsync(envoyBin(), ['--mode', 'validate', '-c', file], { encoding: 'utf8' }).catch((e: { stdout: string; stderr: string; code: number }) => e);
  expect('code' in r ? r.code : 0, `${r.stdout}${r.stderr}`).toBe(0);
}

describe('the gateway template for one provider, no tracing, no access log', () => {
  it('renders with only the kept parts’ parameters and passes envoy --mode validate', async () => {
    const r = render(['--providers', 'openai', '--no-tracing', '--no-access-log'], ONE_PROVIDER_ENV);
    expect(r.status, r.stderr).toBe(0);
    const c = parse(r.stdout) as {
      static_resources: { clusters: { name: string }[]; listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] };
      layered_runtime?: unknown;
    };
    expect(c.static_resources.clusters.map((x) => x.name)).toEqual(['llm_authz', 'llm_authz_outcomes', 'openai']);
    const hcm = c.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
    expect(hcm['tracing']).toBeUndefined();
    expect(hcm['access_log']).toBeUndefined();
    expect(c.layered_runtime).toBeUndefined();
    const routes = (hcm['route_config'] as { virtual_hosts: { routes: { name: string }[] }[] }).virtual_hosts[0]!.routes.map((x) => x.name);
    expect(routes).toEqual(['openai', 'no_route']);
    expect(r.stdout).not.toMatch(/# <\/?(provider|tracing|access_log)/);
    await validate(r.stdout, 'one-provider.yaml');
  });

  it("README's render-gateway command, as written, renders a config envoy --mode validate accepts", async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '').find((b) => b.includes('scripts/render-gateway.ts'));
    expect(block, 'a README sh block with scripts/render-gateway.ts').toBeDefined();
    const words = block!
      .replace(/\\\n\s*/g, ' ')
      .trim()
      .split(/\s+/);
    const env = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    const start = words.indexOf('scripts/render-gateway.ts');
    expect(words[start - 1]).toBe('node');
    const redirect = words.indexOf('>');
    expect(words.slice(redirect)).toEqual(['>', 'envoy.yaml']);
    const r = render(words.slice(start + 1, redirect), env);
    expect(r.status, r.stderr).toBe(0);
    await validate(r.stdout, 'readme-render.yaml');
  });

  it('can fail: the same environment without --no-tracing and --no-access-log names the missing parameters (exit 2)', () => {
    const r = render(['--providers', 'openai'], ONE_PROVIDER_ENV);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('template parameters without a value: ');
    for (const p of ['ACCESS_LOG_PATH', 'OTLP_ADDRESS', 'OTLP_PORT']) expect(r.stderr).toContain(p);
    // The whole file (what envsubst renders) needs every provider's address too.
    const all = render([], ONE_PROVIDER_ENV);
    expect(all.status).toBe(2);
    for (const p of ['ANTHROPIC_ADDRESS', 'BEDROCK_PORT', 'VERTEX_AI_ADDRESS', 'OTLP_PORT']) expect(all.stderr).toContain(p);
  });

  it('refuses a provider the template does not have, naming those it has (exit 2); --help exits 0', () => {
    const r = render(['--providers', 'openai,mistral', '--no-tracing'], ONE_PROVIDER_ENV);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown provider 'mistral' (the template has: openai, anthropic, gemini, azure-openai, bedrock, vertex-ai)");
    const help = render(['--help'], {});
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: node scripts\/render-gateway\.ts/);
    expect(render(['--bogus'], {}).status).toBe(2);
  });

  it.each(['envoy/gateway.yaml', 'envoy/gateway-tls.yaml'])('%s: a cloud provider alone (TLS where the template has it) passes envoy --mode validate', async (file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    expect(templateProviders(text)).toEqual(['openai', 'anthropic', 'gemini', 'azure-openai', 'bedrock', 'vertex-ai']);
    const env = { ...ONE_PROVIDER_ENV, UPSTREAM_CA_PATH: '/etc/ssl/certs/ca-certificates.crt' };
    for (const provider of ['bedrock', 'vertex-ai']) {
      const prefix = provider.toUpperCase().replace('-', '_');
      const r = render(['--template', file, '--providers', provider, '--no-tracing', '--no-access-log'], { ...env, [`${prefix}_ADDRESS`]: '127.0.0.1', [`${prefix}_PORT`]: '443' });
      expect(r.status, r.stderr).toBe(0);
      expect((parse(r.stdout) as { static_resources: { clusters: { name: string }[] } }).static_resources.clusters.map((x) => x.name)).toContain(provider.replace('-', '_'));
      await validate(r.stdout, `${path.basename(file, '.yaml')}-${provider}.yaml`);
    }
  });

  it('the mTLS-to-llm-authz template has the same optional parts', () => {
    const text = readFileSync(path.join(ROOT, 'envoy/gateway-tls-authz.yaml'), 'utf8');
    expect(templateProviders(text)).toEqual(['openai', 'anthropic', 'gemini', 'azure-openai', 'bedrock', 'vertex-ai']);
    const one = selectGatewayParts(text, { providers: ['openai'], tracing: false, accessLog: false });
    const param = (name: string): string => `\${${name}}`;
    expect(one).not.toContain(param('OTLP_ADDRESS'));
    expect(one).not.toContain(param('ANTHROPIC_ADDRESS'));
    expect(one).toContain(param('AUTHZ_SNI'));
  });

  it('rejects a template whose parts are not balanced', () => {
    expect(() => selectSections('a\n# <tracing>\nb\n', () => true)).toThrow("line 2: '# <tracing>' is never closed");
    expect(() => selectSections('# <tracing>\n# <access_log>\n# </access_log>\n# </tracing>\n', () => true)).toThrow("'# <access_log>' inside '# <tracing>'");
    expect(() => selectSections('b\n# </tracing>\n', () => true)).toThrow("line 2: '# </tracing>' without its '# <tracing>'");
    expect(selectSections('a\n  # <tracing>\n  t\n  # </tracing>\nb', () => false)).toBe('a\nb');
  });
});

describe('a one-provider gateway without tracing or access log, running', () => {
  let stack: Stack | undefined;
  beforeAll(async () => {
    const dir = newWorkDir('gateway-one-provider');
    const template = path.join(dir, 'one-provider.template.yaml');
    writeFileSync(template, selectGatewayParts(readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8'), { providers: ['openai'], tracing: false, accessLog: false }));
    stack = await startStack({ config: QUICKSTART_CONFIG, envoyTemplate: template, workDir: dir });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const chat = (model: string): Promise<Response> =>
    fetch(`${stack!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CHAT_KEY}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });

  it('an allowed request reaches the one provider; a denied one gets llm-authz’s body', async () => {
    const ok = await chat('gpt-4o-mini');
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(((await ok.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('Hello from the mock OpenAI provider.');
    const denied = await chat('gpt-4.1');
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('model_not_allowed');
    expect(stack!.openai.requests).toHaveLength(1);
  });

  it('a request llm-authz routes to a provider the gateway does not have ends at the refusing catch-all', async () => {
    const res = await fetch(`${stack!.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CHAT_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(403);
    expect(text).toContain('no_route');
    expect(stack!.anthropic.requests).toHaveLength(0);
  });
});
