/** The command-line conventions every command follows, and the commands' machine-readable output. */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { checkOne } from '../../src/cli/check.ts';
import { runTests } from '../../src/cli/test.ts';
import { validate } from '../../src/cli/validate.ts';
import { parseListen } from '../../src/core/listen.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cli-conv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(argv: string[] | ((out: PassThrough, err: PassThrough) => Promise<number>)): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: string[] = [];
  const e: string[] = [];
  out.on('data', (c: Buffer) => o.push(c.toString()));
  err.on('data', (c: Buffer) => e.push(c.toString()));
  const code = typeof argv === 'function' ? await argv(out, err) : await main(argv, out, err);
  return { code, out: o.join(''), err: e.join('') };
}

const COMMANDS = ['serve', 'validate', 'check', 'test', 'keys', 'health', 'inject-webhook'];

describe('help, version, usage errors', () => {
  it.each(COMMANDS)('%s: --help, -h and help COMMAND print the help on stdout, exit 0', async (c) => {
    for (const argv of [
      [c, '--help'],
      [c, '-h'],
      ['help', c],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: llm-authz ${c} `));
      expect(r.out).toMatch(/Exit codes:/);
      expect(r.err).toBe('');
    }
  });

  it('a subcommand takes --help too (keys create --help)', async () => {
    const r = await run(['keys', 'create', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('llm-authz keys create --store FILE');
  });

  it('help and --help list every command; no command at all is a usage error', async () => {
    for (const argv of [['help'], ['--help']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      for (const c of COMMANDS) expect(r.out).toContain(`  ${c} `);
    }
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.out).toBe('');
  });

  it('--version and version print the version, exit 0', async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    for (const argv of [['--version'], ['version']]) expect(await run(argv)).toEqual({ code: 0, out: `llm-authz ${version}\n`, err: '' });
  });

  it.each([
    [['serve', '--bogus'], "llm-authz serve: Unknown option '--bogus'"],
    [['check', '--json'], "llm-authz check: Unknown option '--json'"],
    [['check', '--config', 'x.yaml'], 'llm-authz check: --config FILE and --request FILE.json are required'],
    [['test'], 'llm-authz test: expected one DIR'],
    [['test', 'a', 'b'], 'llm-authz test: expected one DIR'],
    [['validate'], 'llm-authz validate: expected --config FILE'],
    [['serve', '--listen', '19031'], 'llm-authz serve: --listen: a port alone is not an address'],
    [['check', '--config', 'c', '--request', 'r', '--format', 'yaml'], 'llm-authz check: --format: expected text or json, got "yaml"'],
    [['nope'], "llm-authz: unknown command 'nope'"],
    [['help', 'nope'], "llm-authz: no help for 'nope'"],
  ])('%j is a usage error: one line on stderr, exit 2', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.startsWith(message)).toBe(true);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });

  it('keys: a data error is one line without the usage; a usage error points at --help', async () => {
    const missing = await run(['keys', 'list', '--store', path.join(tmp, 'none.json')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^llm-authz keys: no key store at .*none\.json \(create one with: llm-authz keys create/);
    expect(missing.err.trimEnd().split('\n')).toHaveLength(1);
    const usage = await run(['keys', 'list']);
    expect(usage).toEqual({ code: 2, out: '', err: "llm-authz keys: --store FILE is required (see 'llm-authz keys --help')\n" });
    const garbage = path.join(tmp, 'garbage.json');
    writeFileSync(garbage, 'not json');
    const bad = await run(['keys', 'list', '--store', garbage]);
    expect(bad.code).toBe(2);
    expect(bad.err.trimEnd().split('\n')).toHaveLength(1);
    expect(bad.err).not.toContain('usage');
  });
});

describe('--listen and server.listen', () => {
  it.each([
    ['127.0.0.1:9001', { kind: 'tcp', host: '127.0.0.1', port: 9001 }],
    ['[::1]:9001', { kind: 'tcp', host: '[::1]', port: 9001 }],
    ['localhost:0', { kind: 'tcp', host: 'localhost', port: 0 }],
    ['unix:/run/llm-authz/authz.sock', { kind: 'unix', path: '/run/llm-authz/authz.sock' }],
  ])('%s is an address', (v, want) => {
    expect(parseListen(v)).toMatchObject({ ok: true, value: want });
  });
  it.each([
    ['19031', 'a port alone is not an address'],
    ['banana', 'no port'],
    ['host:99999', 'the port is not a number from 0 to 65535'],
    ['::1:9001', 'an IPv6 host goes in brackets'],
    ['unix:', 'no socket path after unix:'],
    [':9001', 'no port'],
  ])('%s is refused: %s', (v, why) => {
    const r = parseListen(v);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toBe(`${why}: expected HOST:PORT (e.g. 127.0.0.1:9001) or unix:PATH, got ${JSON.stringify(v)}`);
  });
});

describe('llm-authz validate', () => {
  it('a valid config: one summary line on stdout, exit 0', async () => {
    const r = await run((out, err) => validate('examples/policies/llm-authz.yaml', out, err, 'text'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^examples\/policies\/llm-authz\.yaml: valid \(version [0-9a-f]{12}\): 3 provider\(s\), 2 API key\(s\), identity methods \[api_key\], \d+ policy rule\(s\)/,
    );
    expect(r.err).toBe('');
  });

  it('every problem of the config with file:line:col, exit 2 (and as JSON)', async () => {
    const cfg = path.join(tmp, 'bad.yaml');
    writeFileSync(cfg, 'server:\n  listen: nowhere\nproviders:\n  - {name: a, api: openai, models: "x"}\n');
    const r = await run((out, err) => validate(cfg, out, err, 'text'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`server.listen: no port: expected HOST:PORT (e.g. 127.0.0.1:9001) or unix:PATH, got "nowhere" (${cfg}:2:11)`);
    expect(r.err).toContain(`providers[0].models: expected a list, got "x" (${cfg}:4:36)`);
    const j = await run((out, err) => validate(cfg, out, err, 'json'));
    expect(j.code).toBe(2);
    expect((JSON.parse(j.out) as { valid: boolean; problems: string[] }).problems).toHaveLength(2);
  });

  it('a broken policy set: every problem with file:line:col, exit 2', async () => {
    cpSync('examples', path.join(tmp, 'bp'), { recursive: true });
    writeFileSync(path.join(tmp, 'bp', 'policies', 'rules', '30-broken.yaml'), 'rules:\n  - {id: b, effect: deny, when: "llm.modell == 1"}\n');
    const r = await run((out, err) => validate(path.join(tmp, 'bp', 'policies', 'llm-authz.yaml'), out, err, 'text'));
    expect(r.code).toBe(2);
    expect(r.err).toContain("30-broken.yaml:2:37: rules[0].when: unknown field 'modell' of llm");
  });

  it('warns (exit 0) on an empty policy set, no providers, and a key scope no provider serves', async () => {
    const dir = path.join(tmp, 'warn');
    mkdirSync(path.join(dir, 'empty'), { recursive: true });
    const key = (id: string, models: string) => `    - {id: ${id}, hash: "sha256:${'a'.repeat(64)}", workload: w-${id}, models: ${models}}\n`;
    const cfg = path.join(dir, 'llm-authz.yaml');
    writeFileSync(
      cfg,
      `providers:\n  - {name: openai, api: openai, models: ["gpt-*"]}\nidentity:\n  api_keys:\n${key('dead01', '[llama-9000]')}${key('live01', '["gpt-4o*"]')}policy:\n  dir: empty\n`,
    );
    const r = await run((out, err) => validate(cfg, out, err, 'json'));
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { warnings: string[] }).warnings).toEqual([
      'the policy folder has no rules: every request is denied (denied_by_default)',
      'API key dead01: no configured provider it may reach serves any model of its scope (llama-9000)',
    ]);
    const bare = path.join(dir, 'bare.yaml');
    writeFileSync(bare, 'server:\n  listen: 127.0.0.1:0\n');
    const t = await run((out, err) => validate(bare, out, err, 'text'));
    expect(t.code).toBe(0);
    expect(t.err).toBe('warning: no providers are configured: every request is denied (provider_unavailable)\n');
  });
});

describe('machine-readable policy-author output', () => {
  it('check --format json: the phases, every rule, the decision', async () => {
    const lines: string[] = [];
    const code = await checkOne('examples/policies/llm-authz.yaml', 'examples/policies/requests/batch-summarize.json', Date.parse('2026-03-01T09:00:00Z'), (s) => lines.push(s), {
      format: 'json',
    });
    expect(code).toBe(0);
    const j = JSON.parse(lines.join('\n')) as {
      decision: { effect: string; rule: string; obligations: { credential: string } };
      rules: { id: string; outcome: string }[];
      identity: { credential_id: string };
    };
    expect(j.decision).toMatchObject({ effect: 'allow', rule: 'batch-summarizer', obligations: { credential: 'openai-batch' } });
    expect(j.rules.find((r) => r.id === 'batch-summarizer')?.outcome).toBe('matched');
    expect(j.identity.credential_id).toBe('batch001');
    expect(lines.join('\n')).not.toContain('sk-demo');
  });

  it('check: errors go to stderr, not to the result', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await checkOne(path.join(tmp, 'none.yaml'), 'examples/policies/requests/batch-summarize.json', undefined, (s) => out.push(s), { err: (s) => err.push(s) });
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('\n')).toContain('cannot read the file: ENOENT');
  });

  it('test: a failing case prints the decision and every rule; --format json and --junit say the same', async () => {
    cpSync('examples', path.join(tmp, 'wrong'), { recursive: true });
    const dir = path.join(tmp, 'wrong', 'policies');
    const suite = path.join(dir, 'tests', 'guards.yaml');
    writeFileSync(suite, readFileSync(suite, 'utf8').replace('expect: {effect: deny, rule: no-streaming-for-jobs}', 'expect: {effect: allow, rule: no-streaming-for-jobs}'));
    const text = await run((out, err) => runTests(dir, undefined, out, err));
    expect(text.code).toBe(1);
    expect(text.out).toContain("     decision: DENY (denied_by_policy) by rule 'no-streaming-for-jobs'");
    expect(text.out).toMatch(/^ {7}deny {2}no-streaming-for-jobs\s+MATCHED$/m);
    expect(text.out).toMatch(/^ {7}allow batch-summarizer\s+(MATCHED|not matched)$/m);
    const junit = path.join(tmp, 'junit.xml');
    const json = await run((out, err) => runTests(dir, undefined, out, err, { format: 'json', junit }));
    expect(json.code).toBe(1);
    const j = JSON.parse(json.out) as { passed: number; failed: number; cases: { name: string; passed: boolean; rules: unknown[] }[] };
    expect(j.failed).toBe(1);
    expect(j.cases.find((c) => !c.passed)).toMatchObject({ name: 'batch jobs may not stream' });
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites>/);
    expect(xml.match(/<failure /g)).toHaveLength(1);
    expect(xml).toContain('name="batch jobs may not stream"');
  });
});

describe('service log format', () => {
  it('auto is text on a terminal and JSON otherwise', async () => {
    const { resolveLogFormat } = await import('../../src/telemetry/log.ts');
    expect(resolveLogFormat('auto', true)).toBe('text');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('text', false)).toBe('text');
  });
  it('a text line: time, level, message, then the fields', async () => {
    const { textLine } = await import('../../src/telemetry/log.ts');
    const line = textLine(JSON.stringify({ level: 'warn', time: '2026-12-02T01:02:03.456Z', service: 'llm-authz', file: '/etc/k ey', n: 2, msg: 'kept the last good value' }));
    expect(line).toBe('01:02:03.456 WARN  kept the last good value  file="/etc/k ey" n=2\n');
  });
});

describe('decision-log lines', () => {
  it('carry kind "decision" right after the time', async () => {
    const { decisionLine } = await import('../../src/audit/decision-log.ts');
    const line = decisionLine({
      'decision.id': 'd',
      'decision.effect': 'deny',
      'decision.reason': 'no_credentials',
      'decision.status': 401,
      'decision.phase': 'identity',
      'decision.duration_ms': 0.1,
    });
    expect(line).toMatch(/^\{"time":"[^"]+","kind":"decision","decision\.id":"d",/);
    expect(JSON.parse(line)).toMatchObject({ kind: 'decision', 'decision.reason': 'no_credentials' });
  });
});

describe('explain: which part of a when was false', () => {
  it('splits at top-level && only (not inside brackets or strings)', async () => {
    const { conjuncts } = await import('../../src/policy/why-not.ts');
    expect(conjuncts('a && (b && c) && "x && y" == d && [e && f][0]')).toEqual(['a', '(b && c)', '"x && y" == d', '[e && f][0]']);
    expect(conjuncts('a || b')).toEqual(['a || b']);
  });
  it('check names the first false part of each rule that did not match', async () => {
    const lines: string[] = [];
    await checkOne('examples/policies/llm-authz.yaml', 'examples/policies/requests/batch-summarize.json', Date.parse('2026-03-01T09:00:00Z'), (s) => lines.push(s));
    const text = lines.join('\n');
    expect(text).toMatch(/allow research-team\s+not matched: false at identity\.workload\.startsWith\("spiffe:\/\/demo\.example\/ns\/research\/"\)/);
    expect(text).toMatch(/deny {2}no-streaming-for-jobs\s+not matched: false at llm\.stream$/m);
    expect(text).toMatch(/allow batch-summarizer\s+MATCHED$/m);
  });
});
