/** The key store file and `llm-authz keys`: create, list, rotate with overlap, revoke, hot reload. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { keys } from '../../src/cli/keys.ts';
import { createApiKeyMethod } from '../../src/identity/api-key.ts';
import { createIdentifier } from '../../src/identity/index.ts';
import { openKeyStore } from '../../src/identity/key-store.ts';
import { waitFor } from '../../devstack/ports.ts';
import { identityCtx } from '../helpers/identity.ts';

function sink(): { out: Writable; text: () => string } {
  let buf = '';
  return {
    out: new Writable({
      write(chunk: Buffer, _enc, cb) {
        buf += chunk.toString();
        cb();
      },
    }),
    text: () => buf,
  };
}

async function run(args: string[], now = Date.now): Promise<string> {
  const s = sink();
  expect(await keys(args, s.out, now)).toBe(0);
  return s.text();
}

const created = (text: string): { id: string; key: string } => {
  const id = /^id: (\S+)$/m.exec(text)?.[1];
  const key = /^key: (\S+)$/m.exec(text)?.[1];
  if (!id || !key) throw new Error(`no key in output: ${text}`);
  return { id, key };
};

const bearer = (key: string) => identityCtx({ headers: { authorization: `Bearer ${key}` } });

describe('llm-authz keys', () => {
  it('creates a key bound to a workload with scopes, stores only its hash, prints it once', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const store = path.join(dir, 'keys.json');
    const { id, key } = created(
      await run([
        'create',
        '--store',
        store,
        '--workload',
        'spiffe://good.test/chat',
        '--agent',
        'planner',
        '--models',
        'gpt-4o-mini,claude-*',
        '--providers',
        'openai',
        '--tools',
        'search',
        '--max-tokens',
        '256',
        '--expires-in',
        '30d',
      ]),
    );
    expect(key).toMatch(/^lla_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(store, 'utf8');
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(-20));
    const listed = await run(['list', '--store', store]);
    expect(listed).toContain(id);
    expect(listed).not.toContain(key.slice(-20));

    const ks = openKeyStore(store, 60_000);
    const identify = createIdentifier([createApiKeyMethod([], { store: ks })]);
    expect(await identify(bearer(key))).toMatchObject({
      ok: true,
      value: {
        method: 'api_key',
        workload: 'spiffe://good.test/chat',
        agent: 'planner',
        credentialId: id,
        scopes: { models: ['gpt-4o-mini', 'claude-*'], providers: ['openai'], tools: ['search'], maxTokens: 256 },
      },
    });
    ks.close();
  });

  it('rotates: the old key works inside the overlap window and not after it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const store = path.join(dir, 'keys.json');
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const old = created(await run(['create', '--store', store, '--workload', 'wl', '--models', '*'], () => t0));
    const fresh = created(await run(['rotate', '--store', store, '--id', old.id, '--overlap', '1h'], () => t0 + 1000));
    expect(fresh.id).not.toBe(old.id);
    let clock = t0 + 2000;
    const ks = openKeyStore(store, 60_000);
    const identify = createIdentifier([createApiKeyMethod([], { store: ks, now: () => clock })]);
    expect(await identify(bearer(old.key))).toMatchObject({ ok: true, value: { workload: 'wl', credentialId: old.id } });
    expect(await identify(bearer(fresh.key))).toMatchObject({ ok: true, value: { workload: 'wl', credentialId: fresh.id } });
    clock = t0 + 1000 + 3_600_000; // the overlap has ended
    expect(await identify(bearer(old.key))).toMatchObject({ ok: false, reason: 'expired_credentials' });
    expect(await identify(bearer(fresh.key))).toMatchObject({ ok: true });
    expect(await run(['list', '--store', store], () => clock)).toMatch(new RegExp(`${old.id}\\s+expired.*rotated_to=${fresh.id}`));
    ks.close();
  });

  it('revokes: the key is denied after the next reload; a bad file keeps the last good store', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const store = path.join(dir, 'keys.json');
    const a = created(await run(['create', '--store', store, '--workload', 'wl-a', '--models', '*']));
    const b = created(await run(['create', '--store', store, '--workload', 'wl-b', '--models', '*']));
    const ks = openKeyStore(store, 50);
    const identify = createIdentifier([createApiKeyMethod([], { store: ks })]);
    expect((await identify(bearer(a.key))).ok).toBe(true);

    await run(['revoke', '--store', store, '--id', a.id]);
    await waitFor('the store to reload', () => (ks.generation >= 2 ? true : undefined), 5000);
    expect(await identify(bearer(a.key))).toMatchObject({ ok: false, reason: 'revoked_credentials' });
    expect((await identify(bearer(b.key))).ok).toBe(true);

    const good = readFileSync(store, 'utf8');
    writeFileSync(store, '{"version": 1, "keys": [ {"id": "broken"');
    await new Promise((r) => setTimeout(r, 300));
    expect(ks.generation).toBe(2);
    expect((await identify(bearer(b.key))).ok).toBe(true);
    expect(await identify(bearer(a.key))).toMatchObject({ ok: false, reason: 'revoked_credentials' });
    writeFileSync(store, good);
    await waitFor('the store to reload again', () => (ks.generation >= 3 ? true : undefined), 5000);
    ks.close();
  });

  it('refuses bad usage with a clear message', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const store = path.join(dir, 'keys.json');
    await expect(keys(['create', '--store', store, '--workload', 'wl'])).rejects.toThrow(/--models/);
    await expect(keys(['revoke', '--store', store, '--id', 'nope'])).rejects.toThrow(/no key store/);
    await run(['create', '--store', store, '--workload', 'wl', '--models', '*']);
    await expect(keys(['revoke', '--store', store, '--id', 'nope'])).rejects.toThrow(/no key with id 'nope'/);
    await expect(keys(['rotate', '--store', store, '--id', 'x', '--overlap', 'soon'])).rejects.toThrow(/not a duration/);
  });
});
