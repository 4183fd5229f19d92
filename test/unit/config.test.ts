import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { Secret } from '../../src/core/secret.ts';
import { defaultConfig, loadConfigFile, parseConfigText } from '../../src/config/load.ts';
import { buildRuntime } from '../../src/pipeline/runtime.ts';

function problems(text: string): readonly string[] {
  try {
    parseConfigText(text, 'cfg.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const key = (id: string, models = '["gpt-4o-mini"]') => `    - id: ${id}\n      hash: sha256:${'a'.repeat(64)}\n      workload: w-${id}\n      models: ${models}\n`;

describe('config', () => {
  it('has a built-in default with no providers and no keys (denies everything)', () => {
    const c = defaultConfig();
    expect(c.providers).toEqual([]);
    expect(c.identity.api_keys).toEqual([]);
    expect(c.server.listen).toBe('127.0.0.1:9001');
  });

  it('names the path, the line and the column of each bad key, all at once', () => {
    const text = `identity:\n  api_keys:\n${key('aaaa')}${key('bbbb')}${key('cccc', 'gpt-4o')}server:\n  listen: nowhere\n`;
    const p = problems(text);
    expect(p).toContain('identity.api_keys[2].models: expected a list, got "gpt-4o" (cfg.yaml:14:15)');
    expect(p).toContain('server.listen: no port: expected HOST:PORT (e.g. 127.0.0.1:9001) or unix:PATH, got "nowhere" (cfg.yaml:16:11)');
    expect(p).toHaveLength(2);
  });

  it('rejects unknown keys by name', () => {
    expect(problems('server:\n  listn: 1.2.3.4:5\n')).toEqual(["server: unknown key 'listn' (did you mean 'listen'?) (cfg.yaml:2:3)"]);
  });

  it('points at the unknown key itself, not its mapping, and suggests only close names', () => {
    const text = 'server:\n  listen: 127.0.0.1:9001\n  drain_delay_ms: 0\n  check_timeout_ms: ten\n  xyzzy: 1\nlog:\n  levle: info\n';
    expect(problems(text)).toEqual([
      'server.check_timeout_ms: expected a number, got "ten" (cfg.yaml:4:21)',
      "server: unknown key 'xyzzy' (cfg.yaml:5:3)",
      "log: unknown key 'levle' (did you mean 'level'?) (cfg.yaml:7:3)",
    ]);
    expect(problems('providers:\n  - {name: a, api: opena1}\n')).toEqual([
      "providers[0].api: expected one of 'openai', 'anthropic', 'azure-openai', 'gemini', 'openai-compatible', 'bedrock', 'vertex-ai', got \"opena1\" (cfg.yaml:2:20)",
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const p = problems('server:\n  listen: [unclosed\n');
    expect(p[0]).toMatch(/^cfg\.yaml:\d+:\d+: /);
  });

  it('rejects duplicate keys in the YAML itself', () => {
    expect(problems('log:\n  level: info\n  level: debug\n')[0]).toMatch(/cfg\.yaml:3:3: .*[Uu]nique/);
  });

  it('cross-checks providers and key ids', () => {
    const text = `providers:\n  - {name: openai, api: openai}\n  - {name: openai, api: anthropic}\nidentity:\n  api_keys:\n${key('aaaa')}${key('aaaa')}      providers: [nope]\n`;
    const p = problems(text);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^providers\[1\]\.name: duplicate provider 'openai'/),
        expect.stringMatching(/^identity\.api_keys\[1\]\.id: duplicate key id 'aaaa'/),
        expect.stringMatching(/^identity\.api_keys\[1\]\.providers\[0\]: unknown provider 'nope'/),
      ]),
    );
  });

  it('requires exactly one credential source per provider', () => {
    const p = problems('providers:\n  - name: openai\n    api: openai\n    credential: {file: a, env: B}\n');
    expect(p[0]).toMatch(/^providers\[0\]\.credential: set exactly one of file, env, aws or service_account/);
  });

  it('a missing file is a ConfigError, not a crash', () => {
    expect(() => loadConfigFile('/nonexistent/llm-authz.yaml')).toThrow(/cannot read the file: ENOENT/);
  });

  it('loads provider credentials from files relative to the config, and never prints them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    writeFileSync(path.join(dir, 'key'), 'sk-unit-secret-123\n');
    const cfg = parseConfigText('providers:\n  - name: openai\n    api: openai\n    credential: {file: key}\n', 'x');
    const rt = buildRuntime(cfg, { source: 'x', version: 'v', baseDir: dir });
    const p = rt.providers.byName.get('openai');
    expect(p?.credential instanceof Secret && p.credential.reveal()).toBe('sk-unit-secret-123');
    expect(JSON.stringify(p)).not.toContain('sk-unit-secret-123');
    expect(String(p?.credential)).toBe('[redacted]');
  });

  it('resolves a decision-log file sink against the config file, not the working directory', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const at = (sink: string) => buildRuntime(parseConfigText(`decision_log: {sink: ${sink}}\n`, 'x'), { source: 'x', version: 'v', baseDir: dir }).decisionLogSink;
    expect(at('decisions.jsonl')).toBe(path.join(dir, 'decisions.jsonl'));
    expect(at('logs/decisions.jsonl')).toBe(path.join(dir, 'logs', 'decisions.jsonl'));
    expect(at('/var/log/decisions.jsonl')).toBe('/var/log/decisions.jsonl');
    for (const stream of ['stdout', 'stderr', 'off']) expect(at(stream)).toBe(stream);
  });

  it('a provider credential from an unset environment variable stops the load', () => {
    const cfg = parseConfigText('providers:\n  - name: openai\n    api: openai\n    credential: {env: LLM_AUTHZ_TEST_UNSET_VAR}\n', 'x');
    expect(() => buildRuntime(cfg, { source: 'x', version: 'v', baseDir: '/' })).toThrow(/LLM_AUTHZ_TEST_UNSET_VAR is not set/);
  });
});

describe('shipped configs', () => {
  it('examples/quickstart/llm-authz.yaml is a valid config (the Kubernetes configs: test/unit/k8s-config.test.ts)', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    expect(() => loadConfigFile(path.join(root, 'examples/quickstart/llm-authz.yaml'))).not.toThrow();
  });
});

describe('named credentials', () => {
  it('a provider can name an entry of credentials:, loaded once', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    writeFileSync(path.join(dir, 'shared'), 'sk-shared-secret\n');
    const cfg = parseConfigText('credentials:\n  team-a: {file: shared}\nproviders:\n  - {name: openai, api: openai, credential: team-a}\n', 'x');
    const rt = buildRuntime(cfg, { source: 'x', version: 'v', baseDir: dir });
    const shared = rt.providers.byName.get('openai')?.credential;
    expect(shared instanceof Secret && shared.reveal()).toBe('sk-shared-secret');
    expect(rt.providers.credentials.get('team-a')).toBe(rt.providers.byName.get('openai')?.credential);
  });

  it('an unknown credential name is a load error at its position', () => {
    expect(problems('providers:\n  - {name: openai, api: openai, credential: nope}\n')).toEqual(["providers[0].credential: unknown credential 'nope' (cfg.yaml:2:45)"]);
  });
});
