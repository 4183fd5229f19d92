/**
 * A newcomer's path: README's "Already running Envoy? Five minutes" run as written, from its own
 * code blocks: keys create, the config, validate and serve, the Envoy config, the two curls.
 * What the test changes, and only that: ports become free loopback ports, the OpenAI cluster
 * points at a local mock on plain HTTP instead of api.openai.com over TLS, and Envoy gets an
 * admin listener so the test can tell when it is ready.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthz, type AuthzProcess } from '../../devstack/authz.ts';
import { startEnvoy, type EnvoyProcess } from '../../devstack/envoy.ts';
import { startMockProvider, type MockProvider } from '../../devstack/mock-provider.ts';
import { freePort } from '../../devstack/ports.ts';
import { cliEntry, envoyBin, ROOT } from '../../devstack/tools.ts';

/** The fenced code blocks of README's five-minute section, in order. */
function fiveMinuteBlocks(readme: string): { lang: string; text: string }[] {
  const start = readme.indexOf('## Already running Envoy? Five minutes');
  const end = readme.indexOf('\n## ', start + 1);
  if (start === -1 || end === -1) throw new Error('README has no "Already running Envoy? Five minutes" section');
  return [...readme.slice(start, end).matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? '', text: m[2] ?? '' }));
}

const PROVIDER_KEY = 'sk-byo-provider-key-0000';
const execFileAsync = promisify(execFile);

describe("README's bring-your-own-Envoy path, as written", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-byo-'));
  const blocks = fiveMinuteBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const cli = (line: string): string[] =>
    line
      .replace(/^node bin\/llm-authz\.js /, '')
      .split(/\s+/)
      .filter((a) => a !== '');
  let key = '';
  let authz: AuthzProcess | undefined;
  let envoy: EnvoyProcess | undefined;
  let mock: MockProvider | undefined;

  beforeAll(async () => {
    expect(blocks.map((b) => b.lang)).toEqual(['sh', 'yaml', 'sh', 'yaml', 'sh']);
    mock = await startMockProvider('openai');
  });
  afterAll(async () => {
    await envoy?.stop();
    await authz?.stop();
    await mock?.close();
  });

  it('1. keys create prints a key once', () => {
    const line = blocks[0]!.text.split('\n').find((l) => l.includes('keys create'))!;
    const out = execFileSync(process.execPath, [cliEntry(), ...cli(line)], { cwd: dir, encoding: 'utf8' });
    key = /^key: (lla_\S+)$/m.exec(out)?.[1] ?? '';
    expect(key).toMatch(/^lla_/);
  });

  it('2. the config validates and serves', async () => {
    const config = blocks[1]!.text;
    expect(config.split('\n')[0]).toBe('# llm-authz.yaml');
    writeFileSync(path.join(dir, 'llm-authz.yaml'), config);
    const lines = blocks[2]!.text.split('\n');
    expect(lines[0]).toMatch(/^export OPENAI_API_KEY=sk-… /);
    const env = { ...process.env, OPENAI_API_KEY: PROVIDER_KEY };
    const validate = spawnSync(process.execPath, [cliEntry(), ...cli(lines.find((l) => l.includes(' validate '))!)], { cwd: dir, encoding: 'utf8', env });
    expect(validate.status, validate.stderr).toBe(0);
    expect(validate.stdout).toContain('llm-authz.yaml: valid');
    expect(lines.find((l) => l.includes(' serve '))).toMatch(/^node bin\/llm-authz\.js serve --config llm-authz\.yaml /);
    authz = await startAuthz({ config: path.join(dir, 'llm-authz.yaml'), workDir: dir, listen: `127.0.0.1:${await freePort()}`, env: { OPENAI_API_KEY: PROVIDER_KEY } });
  });

  it('3. the Envoy config is valid as written, and runs with the ports and the provider mapped', async () => {
    const text = blocks[3]!.text;
    const file = path.join(dir, 'envoy-as-written.yaml');
    writeFileSync(file, text);
    const check = spawnSync(envoyBin(), ['--mode', 'validate', '-c', file], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    envoy = await startEnvoy({
      workDir: dir,
      name: 'byo-envoy',
      render: (ports) => {
        const c = parse(text) as any;
        c.admin = { address: { socket_address: { address: '127.0.0.1', port_value: ports.admin } } };
        c.static_resources.listeners[0].address.socket_address.port_value = ports.listen;
        const clusters = c.static_resources.clusters as any[];
        const ep = (name: string): any => clusters.find((x) => x.name === name).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
        ep('llm_authz').port_value = authz!.port;
        const openai = clusters.find((x) => x.name === 'openai');
        delete openai.transport_socket;
        Object.assign(ep('openai'), { address: '127.0.0.1', port_value: mock!.port });
        return stringify(c);
      },
    });
  });

  it('4. the two curls behave as README says: the allowed one reaches the provider with its key, the other is 403 model_not_allowed', async () => {
    const curls = blocks[4]!.text.split('\n').filter((l) => l.startsWith('curl '));
    const said = blocks[4]!.text.split('\n').filter((l) => l.startsWith('# -> '));
    expect(curls).toHaveLength(2);
    expect(said[0]).toContain('200');
    expect(said[1]).toMatch(/"code":"model_not_allowed"\}\} 403$/);
    // Asynchronously: the mock provider answers from this process.
    const run = async (line: string): Promise<string> =>
      (
        await execFileAsync('bash', ['-c', `${line.replace('http://127.0.0.1:10000', `http://127.0.0.1:${envoy!.ports.listen}`)} --max-time 20`], {
          env: { ...process.env, LLA_KEY: key },
          encoding: 'utf8',
        })
      ).stdout;
    const allowed = await run(curls[0]!);
    expect(allowed.trimEnd().endsWith(' 200')).toBe(true);
    expect(allowed).toContain('Hello from the mock OpenAI provider.');
    const last = mock!.requests.at(-1)!;
    expect(last.headers['authorization']).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(JSON.stringify(last.headers)).not.toContain(key);
    const denied = await run(curls[1]!);
    expect(denied.trimEnd().endsWith(' 403')).toBe(true);
    const body = JSON.parse(denied.trimEnd().replace(/ 403$/, '')) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'model_not_allowed', type: 'permission_error' });
    expect(body.error.message).toMatch(/^llm-authz: the model is not allowed for this caller: /);
    expect(mock!.requests).toHaveLength(1);
  });
});
