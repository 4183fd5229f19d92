/** `llm-authz test` and `llm-authz check`, called in-process. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOne } from '../../src/cli/check.ts';
import { runTests } from '../../src/cli/test.ts';

const EXAMPLES = 'examples/policies';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function capture(run: (out: PassThrough, err: PassThrough) => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: string[] = [];
  const errChunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  err.on('data', (c: Buffer) => errChunks.push(c.toString()));
  const code = await run(out, err);
  return { code, out: chunks.join(''), err: errChunks.join('') };
}

describe('llm-authz test', () => {
  it('passes on examples/policies', async () => {
    const r = await capture((out, err) => runTests(EXAMPLES, undefined, out, err));
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^\d+ passed, 0 failed$/m);
    expect(r.out).not.toContain('FAIL');
    expect(r.code).toBe(0);
  });

  it('passes on the quickstart (examples/quickstart)', async () => {
    const r = await capture((out, err) => runTests('examples/quickstart', undefined, out, err));
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^4 passed, 0 failed$/m);
    expect(r.code).toBe(0);
  });

  it('exits non-zero and names the case when an expectation is wrong', async () => {
    cpSync('examples', path.join(tmp, 'wrong'), { recursive: true });
    const dir = path.join(tmp, 'wrong', 'policies');
    const suite = path.join(dir, 'tests', 'guards.yaml');
    writeFileSync(suite, readFileSync(suite, 'utf8').replace('expect: {effect: deny, rule: no-streaming-for-jobs}', 'expect: {effect: allow, rule: no-streaming-for-jobs}'));
    const r = await capture((out, err) => runTests(dir, undefined, out, err));
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL guards that win over allows / batch jobs may not stream');
    expect(r.out).toContain('expected effect "allow", got "deny"');
    expect(r.out).toMatch(/tests\/guards\.yaml:\d+:\d+/);
    expect(r.out).toMatch(/, 1 failed$/m);
  });

  it('exits 2 when the policy set does not load, printing file:line:col', async () => {
    cpSync('examples', path.join(tmp, 'broken'), { recursive: true });
    const dir = path.join(tmp, 'broken', 'policies');
    writeFileSync(path.join(dir, 'rules', '30-broken.yaml'), 'rules:\n  - {id: b, effect: deny, when: "llm.modell == 1"}\n');
    const r = await capture((out, err) => runTests(dir, undefined, out, err));
    expect(r.code).toBe(2);
    expect(r.err).toContain("30-broken.yaml:2:37: rules[0].when: unknown field 'modell' of llm");
  });
});

describe('llm-authz check', () => {
  const run = async (config: string, request: string) => {
    const lines: string[] = [];
    const code = await checkOne(config, request, Date.parse('2026-03-01T09:00:00Z'), (s) => lines.push(s));
    return { code, text: lines.join('\n') };
  };

  it('explains an allow (exit 0): identity, every rule, the deciding rule, obligations', async () => {
    const r = await run(`${EXAMPLES}/llm-authz.yaml`, `${EXAMPLES}/requests/batch-summarize.json`);
    expect(r.code).toBe(0);
    expect(r.text).toContain('identity: spiffe://demo.example/ns/jobs/sa/batch-summarizer (method api_key, credential batch001, agent summarizer-agent)');
    expect(r.text).toMatch(/allow batch-summarizer\s+MATCHED/);
    expect(r.text).toMatch(/deny {2}no-streaming-for-jobs\s+not matched/);
    expect(r.text).toContain("decision: ALLOW (allowed) by rule 'batch-summarizer'");
    expect(r.text).toContain('credential: openai-batch');
    expect(r.text).toContain('header: x-llm-team: jobs');
    expect(r.text).not.toContain('sk-demo');
    expect(r.text).not.toContain('tpBywVUK72NTcFANyTIdbnK0cxYPysoz');
  });

  it('explains a deny (exit 1)', async () => {
    const r = await run(`${EXAMPLES}/llm-authz.yaml`, `${EXAMPLES}/requests/batch-stream.json`);
    expect(r.code).toBe(1);
    expect(r.text).toContain("decision: DENY (denied_by_policy) by rule 'no-streaming-for-jobs'");
  });

  it('accepts a CheckRequest as Envoy sends it', async () => {
    const file = path.join(tmp, 'check-request.json');
    const fixture = JSON.parse(readFileSync(`${EXAMPLES}/requests/batch-summarize.json`, 'utf8')) as { headers: Record<string, string>; body: unknown };
    writeFileSync(
      file,
      JSON.stringify({
        attributes: {
          request: {
            http: {
              method: 'POST',
              path: '/v1/chat/completions',
              headers: { ...fixture.headers, 'content-type': 'application/json' },
              body: JSON.stringify(fixture.body),
            },
          },
        },
      }),
    );
    const r = await run(`${EXAMPLES}/llm-authz.yaml`, file);
    expect(r.code).toBe(0);
    expect(r.text).toContain("by rule 'batch-summarizer'");
  });

  it('a deny before the policy phase names its phase (exit 1)', async () => {
    const file = path.join(tmp, 'no-key.json');
    writeFileSync(file, JSON.stringify({ body: { model: 'gpt-4o-mini', messages: [] } }));
    const r = await run(`${EXAMPLES}/llm-authz.yaml`, file);
    expect(r.code).toBe(1);
    expect(r.text).toContain('decision: DENY (no_credentials) in the identity phase');
  });

  it('exits 2 on a missing config, an unreadable request, or a bad fixture', async () => {
    expect((await run(path.join(tmp, 'none.yaml'), `${EXAMPLES}/requests/batch-stream.json`)).code).toBe(2);
    expect((await run(`${EXAMPLES}/llm-authz.yaml`, path.join(tmp, 'none.json'))).code).toBe(2);
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ headers: 'nope' }));
    expect((await run(`${EXAMPLES}/llm-authz.yaml`, bad)).code).toBe(2);
  });
});
