/**
 * `llm-authz revocations add|remove|list --list FILE ...`: the revocation list of identities
 * (workloads, agents, SPIFFE IDs, JWT issuer + subject) that are denied whatever credential
 * they present (`revoked_identity`). A running server re-reads the file within one
 * `identity.revocation_list.reload_interval_ms`.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeRevocation, readRevocationFile, RevocationListError, sameRevocation, writeRevocationFile } from '../identity/revocation-list.ts';
import { revocationSchema, type RevocationEntry, type RevocationFile } from '../identity/schema.ts';
import { InputError, UsageError, type Command } from './command.ts';

type Selector = Pick<RevocationEntry, 'workload' | 'agent' | 'spiffe_id' | 'issuer' | 'subject'>;

function load(file: string, create: boolean): RevocationFile {
  if (!existsSync(file)) {
    if (create) return { version: 1, revoked: [] };
    throw new InputError(`no revocation list at ${file}`);
  }
  return readRevocationFile(file);
}

function entryOf(sel: Selector, revokedAt: string, extra: { by?: string | undefined; reason?: string | undefined }): RevocationEntry {
  const parsed = revocationSchema.safeParse({ ...sel, revoked_at: revokedAt, revoked_by: extra.by, reason: extra.reason });
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; '));
  return parsed.data;
}

/** Adds an identity to the list (creating the file); says what it did. Idempotent. */
export function addRevocation(file: string, sel: Selector, revokedAt: string, reason: string | undefined, by?: string): string {
  const list = load(file, true);
  const entry = entryOf(sel, revokedAt, { by, reason });
  if (list.revoked.some((e) => sameRevocation(e, entry))) return `${describeRevocation(entry)} is already on the revocation list ${file}`;
  list.revoked.push(entry);
  writeRevocationFile(file, list);
  return `${describeRevocation(entry)} added to the revocation list ${file}`;
}

const OPTIONS = {
  list: { type: 'string' },
  workload: { type: 'string' },
  agent: { type: 'string' },
  'spiffe-id': { type: 'string' },
  issuer: { type: 'string' },
  subject: { type: 'string' },
  reason: { type: 'string' },
  by: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function revocations(args: string[], out: NodeJS.WritableStream = process.stdout, now: () => number = Date.now): Promise<number> {
  const [sub, ...rest] = args;
  const { values: v } = parseArgs({ args: rest, options: OPTIONS, strict: true });
  if (v.list === undefined) throw new UsageError('--list FILE is required');
  const sel: Selector = { workload: v.workload, agent: v.agent, spiffe_id: v['spiffe-id'], issuer: v.issuer, subject: v.subject };
  switch (sub) {
    case 'add':
      out.write(`${addRevocation(v.list, sel, new Date(now()).toISOString(), v.reason, v.by)}\n`);
      return 0;
    case 'remove': {
      const list = load(v.list, false);
      const entry = entryOf(sel, new Date(now()).toISOString(), {});
      const kept = list.revoked.filter((e) => !sameRevocation(e, entry));
      if (kept.length === list.revoked.length) throw new InputError(`${describeRevocation(entry)} is not on the revocation list`);
      writeRevocationFile(v.list, { ...list, revoked: kept });
      out.write(`${describeRevocation(entry)} removed from the revocation list ${v.list}\n`);
      return 0;
    }
    case 'list': {
      const list = load(v.list, false);
      if (v.json === true) out.write(`${JSON.stringify(list.revoked, null, 2)}\n`);
      else
        for (const e of list.revoked)
          out.write(`${describeRevocation(e)}  revoked_at=${e.revoked_at}${e.revoked_by ? `  by=${e.revoked_by}` : ''}${e.reason ? `  reason=${JSON.stringify(e.reason)}` : ''}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown revocations command '${sub ?? ''}' (add, remove, list)`);
  }
}

const USAGE = `commands:
  llm-authz revocations add    --list FILE (--workload ID | --agent ID | --spiffe-id ID | --issuer ISS --subject SUB) [--reason TEXT] [--by WHO]
  llm-authz revocations remove --list FILE (--workload ID | --agent ID | --spiffe-id ID | --issuer ISS --subject SUB)
  llm-authz revocations list   --list FILE [--json]
`;

export const revocationsCommand: Command = {
  name: 'revocations',
  usage: 'revocations add|remove|list --list FILE ...',
  summary: 'the revocation list: identities denied whatever credential they present',
  help: `${USAGE}\nA running llm-authz re-reads the file within identity.revocation_list.reload_interval_ms.\nExit codes: 0 done, 2 a usage error or a list that cannot be read or written.`,
  async run(args: string[]): Promise<number> {
    try {
      return await revocations(args);
    } catch (err) {
      // A bad list file is the input's fault, not the command line's: one line, no usage.
      if (err instanceof RevocationListError) throw new InputError(err.message);
      throw err;
    }
  },
};
