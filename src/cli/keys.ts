/**
 * `llm-authz keys create|list|revoke|rotate --store FILE ...`: manages an API key store file.
 * The store holds hashes only; a new key is printed once, on stdout, and never stored.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InputError, UsageError, type Command } from './command.ts';
import { hashApiKey, API_KEY_PREFIX } from '../identity/api-key.ts';
import { KeyStoreError, readKeyStoreFile, writeKeyStoreFile } from '../identity/key-store.ts';
import { keyStoreFileSchema, storedKeySchema, type KeyStoreFile, type StoredKey } from '../identity/schema.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function newKeyId(): string {
  let id = '';
  for (let i = 0; i < 12; i++) id += ALNUM[randomInt(ALNUM.length)];
  return id;
}

/** `lla_<12 alnum id>_<43 base64url chars (256 bits)>`. */
export function newApiKey(): { id: string; key: string } {
  const id = newKeyId();
  return { id, key: `${API_KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}` };
}

/** `90s`, `15m`, `12h`, `30d` -> milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(s);
  if (m === null || m[1] === undefined) throw new UsageError(`not a duration: '${s}' (e.g. 90s, 15m, 12h, 30d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}


function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function load(file: string, create: boolean): KeyStoreFile {
  if (!existsSync(file)) {
    if (create) return { version: 1, keys: [] };
    throw new InputError(`no key store at ${file} (create one with: llm-authz keys create --store ${file} ...)`);
  }
  return readKeyStoreFile(file);
}

function save(file: string, store: KeyStoreFile): void {
  writeKeyStoreFile(file, keyStoreFileSchema.parse(store));
}

function find(store: KeyStoreFile, id: string): StoredKey {
  const k = store.keys.find((x) => x.id === id);
  if (k === undefined) throw new InputError(`no key with id '${id}' in the store`);
  return k;
}

function printKey(id: string, key: string, out: NodeJS.WritableStream): void {
  out.write(`id: ${id}\nkey: ${key}\n`);
  process.stderr.write('This key is shown once; the store keeps only its hash.\n');
}

const OPTIONS = {
  store: { type: 'string' },
  workload: { type: 'string' },
  agent: { type: 'string' },
  models: { type: 'string' },
  providers: { type: 'string' },
  tools: { type: 'string' },
  'max-tokens': { type: 'string' },
  'expires-in': { type: 'string' },
  description: { type: 'string' },
  id: { type: 'string' },
  overlap: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function keys(args: string[], out: NodeJS.WritableStream = process.stdout, now: () => number = Date.now): Promise<number> {
  const [sub, ...rest] = args;
  const { values: v } = parseArgs({ args: rest, options: OPTIONS, strict: true });
  if (v.store === undefined) throw new UsageError('--store FILE is required');
  const file = v.store;
  const iso = (ms: number): string => new Date(ms).toISOString();
  switch (sub) {
    case 'create': {
      if (v.workload === undefined || v.models === undefined) throw new UsageError('create needs --workload and --models');
      const store = load(file, true);
      const { id, key } = newApiKey();
      const maxTokens = v['max-tokens'] === undefined ? undefined : Number(v['max-tokens']);
      const entry = storedKeySchema.safeParse({
        id,
        hash: hashApiKey(key),
        workload: v.workload,
        agent: v.agent,
        models: list(v.models),
        providers: list(v.providers),
        tools: list(v.tools),
        max_tokens: maxTokens,
        created_at: iso(now()),
        expires_at: v['expires-in'] === undefined ? undefined : iso(now() + parseDuration(v['expires-in'])),
        revoked: false,
        description: v.description,
      });
      if (!entry.success) throw new UsageError(entry.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      store.keys.push(entry.data);
      save(file, store);
      printKey(id, key, out);
      return 0;
    }
    case 'list': {
      const store = load(file, false);
      const rows = store.keys.map((k) => ({
        id: k.id,
        workload: k.workload,
        agent: k.agent,
        models: k.models,
        providers: k.providers,
        tools: k.tools,
        max_tokens: k.max_tokens,
        created_at: k.created_at,
        expires_at: k.expires_at,
        state: k.revoked ? 'revoked' : k.expires_at !== undefined && Date.parse(k.expires_at) <= now() ? 'expired' : 'active',
        rotated_to: k.rotated_to,
      }));
      if (v.json === true) out.write(`${JSON.stringify(rows, null, 2)}\n`);
      else for (const r of rows) out.write(`${r.id}  ${r.state.padEnd(7)}  ${r.workload}${r.agent ? ` (agent ${r.agent})` : ''}  models=${r.models.join(',')}${r.expires_at ? `  expires=${r.expires_at}` : ''}${r.rotated_to ? `  rotated_to=${r.rotated_to}` : ''}\n`);
      return 0;
    }
    case 'revoke': {
      if (v.id === undefined) throw new UsageError('revoke needs --id');
      const store = load(file, false);
      const k = find(store, v.id);
      k.revoked = true;
      k.revoked_at = iso(now());
      save(file, store);
      out.write(`revoked ${k.id}\n`);
      return 0;
    }
    case 'rotate': {
      if (v.id === undefined) throw new UsageError('rotate needs --id');
      const overlapEnd = now() + parseDuration(v.overlap ?? '1h');
      const store = load(file, false);
      const old = find(store, v.id);
      if (old.revoked) throw new InputError(`key '${old.id}' is revoked; create a new one instead`);
      const { id, key } = newApiKey();
      const entry: StoredKey = {
        ...old,
        id,
        hash: hashApiKey(key),
        created_at: iso(now()),
        expires_at: v['expires-in'] === undefined ? old.expires_at : iso(now() + parseDuration(v['expires-in'])),
        revoked: false,
      };
      delete entry.revoked_at;
      delete entry.rotated_to;
      const oldEnd = old.expires_at === undefined ? Infinity : Date.parse(old.expires_at);
      old.expires_at = iso(Math.min(oldEnd, overlapEnd));
      old.rotated_to = id;
      store.keys.push(entry);
      save(file, store);
      printKey(id, key, out);
      process.stderr.write(`The old key ${old.id} keeps working until ${old.expires_at}.\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown keys command '${sub ?? ''}' (create, list, revoke, rotate)`);
  }
}

export const keysCommand: Command = {
  name: 'keys',
  get help(): string {
    return `${KEYS_USAGE}\nA new key is printed once, on stdout; the store keeps only its hash.\nExit codes: 0 done, 2 a usage error or a store that cannot be read or written.`;
  },
  usage: 'keys create|list|revoke|rotate --store FILE ...',
  summary: 'manage scoped API keys in a key store file (prints a new key once)',
  async run(args: string[]): Promise<number> {
    try {
      return await keys(args);
    } catch (err) {
      // A bad store file is the input's fault, not the command line's: one line, no usage.
      if (err instanceof KeyStoreError) throw new InputError(err.message);
      throw err;
    }
  },
};

const KEYS_USAGE = `commands:
  llm-authz keys create --store FILE --workload ID --models m1,m2 [--agent ID] [--providers p1,p2]
                        [--tools t1,t2] [--max-tokens N] [--expires-in 30d] [--description TEXT]
  llm-authz keys list   --store FILE [--json]
  llm-authz keys revoke --store FILE --id KEYID
  llm-authz keys rotate --store FILE --id KEYID [--overlap 1h] [--expires-in 30d]
`;
