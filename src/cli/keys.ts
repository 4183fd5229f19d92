/**
 * `llm-authz keys create|list|revoke|rotate|recertify --store FILE ...`: manages an API key store
 * file. The store holds hashes only; a new key is printed once, on stdout, and never stored.
 * Each key carries its entitlement record (owner, approved by/at, review due date).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InputError, UsageError, type Command } from './command.ts';
import { hashApiKey, API_KEY_PREFIX } from '../identity/api-key.ts';
import { KeyStoreError, readKeyStoreFile, writeKeyStoreFile } from '../identity/key-store.ts';
import { keyStoreFileSchema, storedKeySchema, type KeyStoreFile, type StoredKey } from '../identity/schema.ts';
import { RevocationListError } from '../identity/revocation-list.ts';
import { addRevocation } from './revocations.ts';

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
  return v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
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
  owner: { type: 'string' },
  'approved-by': { type: 'string' },
  'review-in': { type: 'string' },
  'review-by': { type: 'string' },
  revocations: { type: 'string' },
} as const;

/** Default recertification period when `--approved-by` is given without a review date. */
const DEFAULT_REVIEW = '90d';

/** `--review-in 90d` or `--review-by 2026-06-30` -> the review date (ISO), or undefined. */
function reviewDate(v: { 'review-in'?: string | undefined; 'review-by'?: string | undefined }, nowMs: number): string | undefined {
  if (v['review-in'] !== undefined && v['review-by'] !== undefined) throw new UsageError('give --review-in or --review-by, not both');
  if (v['review-in'] !== undefined) return new Date(nowMs + parseDuration(v['review-in'])).toISOString();
  if (v['review-by'] === undefined) return undefined;
  const at = Date.parse(v['review-by']);
  if (Number.isNaN(at)) throw new UsageError(`--review-by: not a date: '${v['review-by']}' (e.g. 2026-06-30)`);
  return new Date(at).toISOString();
}

/** The keys bound to a workload, an agent or an owner (exactly one of them). */
function selectByBinding(store: KeyStoreFile, v: { workload?: string | undefined; agent?: string | undefined; owner?: string | undefined }): { what: string; keys: StoredKey[] } {
  const given = (['workload', 'agent', 'owner'] as const).filter((k) => v[k] !== undefined);
  if (given.length !== 1) throw new UsageError('revoke needs exactly one of --id, --workload, --agent, --owner');
  const field = given[0] as 'workload' | 'agent' | 'owner';
  const value = v[field];
  return { what: `${field} '${value}'`, keys: store.keys.filter((k) => k[field] === value) };
}

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
        owner: v.owner,
        approved_by: v['approved-by'],
        approved_at: v['approved-by'] === undefined ? undefined : iso(now()),
        review_by: reviewDate(v, now()) ?? (v['approved-by'] === undefined ? undefined : iso(now() + parseDuration(DEFAULT_REVIEW))),
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
        owner: k.owner,
        approved_by: k.approved_by,
        approved_at: k.approved_at,
        review_by: k.review_by,
        review_overdue: k.review_by !== undefined && Date.parse(k.review_by) <= now(),
      }));
      if (v.json === true) out.write(`${JSON.stringify(rows, null, 2)}\n`);
      else {
        for (const r of rows) {
          const review = r.review_by ? `  review_by=${r.review_by}${r.review_overdue ? ' (OVERDUE)' : ''}` : '';
          out.write(
            `${r.id}  ${r.state.padEnd(7)}  ${r.workload}${r.agent ? ` (agent ${r.agent})` : ''}  models=${r.models.join(',')}${r.owner ? `  owner=${r.owner}` : ''}${r.expires_at ? `  expires=${r.expires_at}` : ''}${review}${r.rotated_to ? `  rotated_to=${r.rotated_to}` : ''}\n`,
          );
        }
      }
      return 0;
    }
    case 'recertify': {
      if (v.id === undefined || v['approved-by'] === undefined) throw new UsageError('recertify needs --id and --approved-by');
      const store = load(file, false);
      const k = find(store, v.id);
      if (k.revoked) throw new UsageError(`key '${k.id}' is revoked; it cannot be recertified`);
      k.approved_by = v['approved-by'];
      k.approved_at = iso(now());
      k.review_by = reviewDate(v, now()) ?? iso(now() + parseDuration(DEFAULT_REVIEW));
      if (v.owner !== undefined) k.owner = v.owner;
      save(file, store);
      out.write(`recertified ${k.id}: approved by ${k.approved_by}, next review by ${k.review_by}\n`);
      return 0;
    }
    case 'revoke': {
      const store = load(file, false);
      if (v.id !== undefined) {
        if (v.workload !== undefined || v.agent !== undefined || v.owner !== undefined) throw new UsageError('revoke needs exactly one of --id, --workload, --agent, --owner');
        if (v.revocations !== undefined) throw new UsageError('--revocations goes with --workload or --agent (the identity to deny whatever it presents)');
        const k = find(store, v.id);
        k.revoked = true;
        k.revoked_at = iso(now());
        save(file, store);
        out.write(`revoked ${k.id}\n`);
        return 0;
      }
      // Offboarding: every key of a workload, an agent or an owner in one write.
      const { what, keys: bound } = selectByBinding(store, v);
      if (v.revocations !== undefined && v.owner !== undefined) throw new UsageError('--revocations goes with --workload or --agent (an owner is not an identity)');
      const fresh = bound.filter((k) => !k.revoked);
      for (const k of fresh) {
        k.revoked = true;
        k.revoked_at = iso(now());
      }
      if (fresh.length > 0) save(file, store);
      out.write(fresh.length > 0 ? `revoked ${fresh.length} key(s) of ${what}: ${fresh.map((k) => k.id).join(' ')}\n` : `no active key of ${what} to revoke\n`);
      if (v.revocations !== undefined) {
        const entry = v.workload !== undefined ? { workload: v.workload } : { agent: v.agent ?? '' };
        out.write(`${addRevocation(v.revocations, entry, iso(now()), undefined)}\n`);
      }
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
      throw new UsageError(`unknown keys command '${sub ?? ''}' (create, list, revoke, rotate, recertify)`);
  }
}

export const keysCommand: Command = {
  name: 'keys',
  get help(): string {
    return `${KEYS_USAGE}\nA new key is printed once, on stdout; the store keeps only its hash.\nExit codes: 0 done, 2 a usage error or a store that cannot be read or written.`;
  },
  usage: 'keys create|list|revoke|rotate|recertify --store FILE ...',
  summary: 'manage scoped API keys in a key store file (prints a new key once)',
  async run(args: string[]): Promise<number> {
    try {
      return await keys(args);
    } catch (err) {
      // A bad store or revocation list is the input's fault, not the command line's: one line, no usage.
      if (err instanceof KeyStoreError || err instanceof RevocationListError) throw new InputError(err.message);
      throw err;
    }
  },
};

const KEYS_USAGE = `commands:
  llm-authz keys create --store FILE --workload ID --models m1,m2 [--agent ID] [--providers p1,p2]
                        [--tools t1,t2] [--max-tokens N] [--expires-in 30d] [--description TEXT]
                        [--owner TEAM] [--approved-by WHO] [--review-in 90d | --review-by DATE]
      The scopes (--models, --providers, --tools, --max-tokens) always bind: llm-authz denies a
      request outside them before any policy runs; policies can narrow them, never widen them.
  llm-authz keys list   --store FILE [--json]
  llm-authz keys revoke --store FILE --id KEYID
  llm-authz keys revoke --store FILE (--workload ID | --agent ID | --owner TEAM) [--revocations FILE]
      every key bound to it; --revocations also puts the workload or agent on that revocation
      list, denying it whatever credential it presents (revoked_identity)
  llm-authz keys rotate --store FILE --id KEYID [--overlap 1h] [--expires-in 30d]
  llm-authz keys recertify --store FILE --id KEYID --approved-by WHO [--review-in 90d | --review-by DATE] [--owner TEAM]
`;
