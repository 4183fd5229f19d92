/**
 * Hot reload: a new set is checked fully and swapped atomically; a broken set keeps the last
 * good one, is reported, and never shows in a decision. Checks run through the whole pipeline
 * while the sets change under them.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { buildRuntime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { PolicyLoadError } from '../../src/policy/index.ts';
import { policyVersion } from '../../src/policy/policy-set.ts';
import { waitFor } from '../../devstack/ports.ts';
import { policyDir } from '../helpers/policies.ts';
import { UNIT_KEY } from '../helpers/runtime.ts';

const GOOD_A = `rules:\n  - {id: allow-mini-a, effect: allow, when: 'llm.model == "gpt-4o-mini"'}\n`;
const GOOD_B = `rules:\n  - {id: allow-mini-b, effect: allow, when: 'llm.model.startsWith("gpt-4o")'}\n  - {id: deny-stream, effect: deny, when: llm.stream}\n`;
const BROKEN = `rules:\n  - {id: typo, effect: allow, when: 'llm.modle == "gpt-4o-mini"'}\n`;

function runtimeFor(dir: string, watch = false) {
  const cfg = parseConfigText(
    `providers:
  - {name: openai, api: openai}
identity:
  api_keys:
    - {id: unit0001, hash: "${hashApiKey(UNIT_KEY)}", workload: wl-one, models: ["*"]}
policy:
  dir: ${JSON.stringify(dir)}
  watch: ${watch}
`,
    'reload.yaml',
  );
  return buildRuntime(cfg, { source: 'reload.yaml', version: 'cfg1', baseDir: '/' });
}

const request = checkRequest({
  headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
});

describe('policy reload', () => {
  it('1,000 reloads alternating good and broken sets while checks run: 0 failed checks, every decision from a good set', async () => {
    const p = policyDir();
    p.write({ 'main.yaml': GOOD_A });
    const versionA = policyVersion([{ name: 'main.yaml', text: GOOD_A }]);
    const versionB = policyVersion([{ name: 'main.yaml', text: GOOD_B }]);
    const rt = runtimeFor(p.dir);
    const engine = rt.policy!;
    const records: AuditRecord[] = [];
    const errors: string[] = [];
    const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: (reason) => errors.push(reason) });
    const rejected: string[][] = [];
    engine.onReload((o) => {
      if (!o.ok) rejected.push([...o.problems]);
    });

    let done = false;
    const workers = Array.from({ length: 4 }, async () => {
      let n = 0;
      while (!done) {
        const res = await check(request);
        if (res.status.code !== 0) throw new Error(`check ${n} denied: ${res.denied_response?.body ?? ''}`);
        n++;
        await tick();
      }
      return n;
    });

    for (let i = 0; i < 1000; i++) {
      // Even steps break the set (a typo in main.yaml, or a broken second file); odd steps restore A or B.
      if (i % 2 === 0) p.write(i % 4 === 0 ? { 'main.yaml': BROKEN } : { 'zz-extra.yaml': BROKEN });
      else p.write({ 'main.yaml': i % 4 === 1 ? GOOD_B : GOOD_A, 'zz-extra.yaml': '' });
      const o = engine.reload();
      expect(o.ok).toBe(i % 2 === 1);
      await tick();
    }
    done = true;
    const counts = await Promise.all(workers);

    expect(errors).toEqual([]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(records.length);
    expect(records.length).toBeGreaterThan(1000);
    const versions = new Set(records.map((r) => r['policy.version']));
    expect([...versions].sort()).toEqual([versionA, versionB].sort());
    expect(records.every((r) => r['decision.effect'] === 'allow' && r['decision.reason'] === 'allowed')).toBe(true);
    expect(engine.status()).toMatchObject({ reloads: 1000, reloadFailures: 500, lastReloadFailed: false, version: versionA });
    expect(rejected).toHaveLength(500);
    expect(rejected.every((problems) => problems.length === 1 && problems[0]!.includes("unknown field 'modle' of llm"))).toBe(true);
    await rt.close();
  });

  it('a broken set keeps the last good one and reports every error in the status', () => {
    const p = policyDir();
    p.write({ 'a.yaml': GOOD_A });
    const rt = runtimeFor(p.dir);
    const engine = rt.policy!;
    const before = engine.status().version;
    p.write({ 'b.yaml': `${BROKEN}  - {id: typo, effect: allow, when: "1"}\n` });
    const o = engine.reload();
    expect(o.ok).toBe(false);
    expect(o.version).toBe(before);
    expect(o.problems).toHaveLength(3);
    expect(engine.status()).toMatchObject({ version: before, lastReloadFailed: true, reloadFailures: 1 });
    expect(engine.status().lastProblems).toEqual(o.problems);
    p.write({ 'b.yaml': '' });
    expect(engine.reload().ok).toBe(true);
    expect(engine.status()).toMatchObject({ version: before, lastReloadFailed: false, reloadFailures: 1, reloads: 2 });
    void rt.close();
  });

  it('reads policy files through symlinks (a Kubernetes ConfigMap mount) and skips hidden entries', async () => {
    const p = policyDir();
    mkdirSync(path.join(p.dir, '..data'));
    writeFileSync(path.join(p.dir, '..data', 'a.yaml'), GOOD_A);
    symlinkSync(path.join('..data', 'a.yaml'), path.join(p.dir, 'a.yaml'));
    const rt = runtimeFor(p.dir);
    expect(rt.policy!.status()).toMatchObject({ rules: 1, version: policyVersion([{ name: 'a.yaml', text: GOOD_A }]) });
    await rt.close();
  });

  it('a broken set at start is a load error (the server does not start)', () => {
    const p = policyDir();
    p.write({ 'a.yaml': BROKEN });
    expect(() => runtimeFor(p.dir)).toThrow(PolicyLoadError);
  });

  it('watches the folder: a changed file is reloaded without a signal', async () => {
    const p = policyDir();
    p.write({ 'a.yaml': GOOD_A });
    const rt = runtimeFor(p.dir, true);
    const engine = rt.policy!;
    p.write({ 'a.yaml': GOOD_B });
    const versionB = policyVersion([{ name: 'a.yaml', text: GOOD_B }]);
    await waitFor('the watched policy folder to reload', () => (engine.status().version === versionB ? true : undefined));
    p.write({ 'a.yaml': BROKEN });
    await waitFor('the broken set to be rejected', () => (engine.status().lastReloadFailed ? true : undefined));
    expect(engine.status().version).toBe(versionB);
    await rt.close();
  });
});

describe('policy folder gone or emptied', () => {
  it('an emptied folder is rejected on reload; the last good set keeps deciding', async () => {
    const p = policyDir();
    p.write({ 'main.yaml': GOOD_A });
    const rt = runtimeFor(p.dir);
    const version = rt.policy!.status().version;
    p.write({ 'main.yaml': '' });
    const o = rt.policy!.reload();
    expect(o.ok).toBe(false);
    expect(o.problems.join('\n')).toContain('the folder holds no policy files');
    expect(rt.policy!.status()).toMatchObject({ version, lastReloadFailed: true });
    await rt.close();
  });

  it('a deleted folder is rejected, and reloads by itself once it is back (watched)', async () => {
    const p = policyDir();
    p.write({ 'main.yaml': GOOD_A });
    const rt = runtimeFor(p.dir, true);
    const outcomes: boolean[] = [];
    rt.policy!.onReload((o) => outcomes.push(o.ok));
    rmSync(p.dir, { recursive: true, force: true });
    await waitFor('the rejected reload', () => (outcomes.includes(false) ? true : undefined), 5000);
    p.write({ 'main.yaml': GOOD_B });
    await waitFor('the set to reload by itself', () => (rt.policy!.status().version === policyVersion([{ name: 'main.yaml', text: GOOD_B }]) ? true : undefined), 5000);
    expect(rt.policy!.status().lastReloadFailed).toBe(false);
    await rt.close();
  });
});
