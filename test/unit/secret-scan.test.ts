/** The suite-wide secret scan really finds secrets: in log files and in Jaeger's traces. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';
import { checkSecrets, FRAGMENT, formatHits, scanJaeger, scanLogFiles, scanText } from '../helpers/secret-scan.ts';
import { suiteSecrets } from '../helpers/suite-secrets.ts';

const SECRETS = [
  { label: 'api key', value: 'lla_scan0001_0123456789abcdefghijklmnopqr' },
  { label: 'prompt', value: 'a prompt nobody may log' },
];

describe('secret scan', () => {
  it('finds a secret in text and names it by label, not by value', () => {
    const hits = scanText(`{"msg":"x","authorization":"Bearer ${SECRETS[0]!.value}"}`, SECRETS, 'line 1');
    expect(hits).toEqual([{ secret: 'api key', where: 'line 1' }]);
    expect(formatHits(hits)).not.toContain(SECRETS[0]!.value);
    expect(scanText('{"msg":"clean"}', SECRETS, 'line 2')).toEqual([]);
  });

  it('finds a long secret clipped at either end (a record clips strings at 512 characters)', () => {
    const token = `eyJhbGciOiJSUzI1NiJ9.${'p'.repeat(300)}.${'s'.repeat(200)}x`;
    const long = [{ label: 'jwt', value: token }];
    expect(scanText(`"url.path":"${token.slice(0, 512 - 30)}…"`, long, 'head')).toEqual([{ secret: 'jwt', where: 'head' }]);
    expect(scanText(`…${token.slice(100)}`, long, 'tail')).toEqual([{ secret: 'jwt', where: 'tail' }]);
    // The middle alone is not a hit (it proves nothing about this token), nor is a short start.
    expect(scanText(token.slice(FRAGMENT, -FRAGMENT), long, 'middle')).toEqual([]);
    expect(scanText(token.slice(0, FRAGMENT - 1), long, 'short')).toEqual([]);
  });

  it('finds a secret in any *.log file below the folder, including nested ones', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'scan-'));
    mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(dir, 'a', 'clean.log'), '{"msg":"nothing"}\n');
    writeFileSync(path.join(dir, 'a', 'b', 'llm-authz.log'), `{"msg":"ok"}\n{"msg":"${SECRETS[1]!.value}"}\n`);
    const r = scanLogFiles(dir, SECRETS);
    expect(r.files).toBe(2);
    expect(r.hits).toEqual([{ secret: 'prompt', where: path.join('a', 'b', 'llm-authz.log') }]);
  });

  it('refuses to run without secrets or with a short one (it would prove nothing)', () => {
    expect(() => checkSecrets([])).toThrow(/no secrets/);
    expect(() => checkSecrets([{ label: 'x', value: 'abc' }])).toThrow(/shorter/);
  });

  it('(test table) the suite list holds the demo keys, the quickstart provider keys and the prompts', () => {
    const labels = suiteSecrets()
      .map((s) => s.label)
      .join('\n');
    expect(labels).toContain('LLM_AUTHZ_DEMO_CHAT_KEY');
    expect(labels).toContain('openai-api-key');
    expect(labels).toContain('prompt #1');
    expect(() => checkSecrets(suiteSecrets())).not.toThrow();
  });

  it('(test table) the suite list holds every provider key file of the examples (policies, Gemini, Azure)', () => {
    const labels = suiteSecrets().map((s) => s.label);
    for (const f of [
      'quickstart/secrets/openai-api-key',
      'quickstart/secrets/anthropic-api-key',
      'quickstart/secrets/gemini-api-key',
      'quickstart/secrets/azure-openai-api-key',
      'policies/secrets/openai-batch-api-key',
      'policies/secrets/openai-team-api-key',
    ]) {
      expect(labels).toContain(`provider key examples/${f}`);
    }
    const values = new Set(suiteSecrets().map((s) => s.value));
    for (const f of readdirSync(path.join(ROOT, 'examples/policies/secrets'))) {
      expect(values.has(readFileSync(path.join(ROOT, 'examples/policies/secrets', f), 'utf8').trim())).toBe(true);
    }
  });

  describe('in Jaeger (through its query API)', () => {
    let server: Server;
    let url = '';
    const trace = (id: string, tag: string) => ({
      traceID: id,
      spans: [{ traceID: id, spanID: '01', operationName: 'op', processID: 'p1', tags: [{ key: 'k', type: 'string', value: tag }] }],
      processes: { p1: { serviceName: 'llm-authz' } },
    });
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.setHeader('content-type', 'application/json');
        let body: unknown = {};
        // Three services; the secrets sit in traces only the second and the last one list.
        if (req.url === '/api/services') body = { data: ['llm-authz', 'llm-gateway', 'envoy-sidecar'] };
        else if (req.url?.startsWith('/api/traces?service=llm-authz')) body = { data: [trace('t1', 'clean')] };
        else if (req.url?.startsWith('/api/traces?service=llm-gateway')) body = { data: [trace('t1', 'clean'), trace('t2', `leak ${SECRETS[0]!.value}`)] };
        else if (req.url?.startsWith('/api/traces?service=envoy-sidecar')) body = { data: [trace('t2', 'seen'), trace('t3', `leak ${SECRETS[1]!.value}`)] };
        else res.statusCode = 404;
        res.end(JSON.stringify(body));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const a = server.address();
      url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('reads every trace of every service (once each) and reports the ones with a secret, in later services too', async () => {
      const r = await scanJaeger(url, SECRETS);
      expect(r.traces).toBe(3);
      expect(r.services).toEqual(['llm-authz', 'llm-gateway', 'envoy-sidecar']);
      expect(r.hits).toEqual([
        { secret: 'api key', where: 'Jaeger trace t2' },
        { secret: 'prompt', where: 'Jaeger trace t3' },
      ]);
    });
  });
});
