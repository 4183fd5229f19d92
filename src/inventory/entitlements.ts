/**
 * The configured half of the inventory: every entitlement of a config file (its inline API keys,
 * its key store's keys, its `identity.entitlements` rules) and its revocation list, read from
 * the files without building a runtime (no provider key is read). Hashes are never kept.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { compileEntitlementRules, type EntitlementRule } from '../identity/entitlement.ts';
import { readKeyStoreFile } from '../identity/key-store.ts';
import { readRevocationFile, revokedSet, type RevokedSet } from '../identity/revocation-list.ts';
import type { RevocationEntry } from '../identity/schema.ts';

export interface Grants {
  /** Undefined: not restricted by the entitlement (policies decide). */
  readonly models: readonly string[] | undefined;
  readonly providers: readonly string[] | undefined;
  readonly tools: readonly string[] | undefined;
  readonly maxTokens: number | undefined;
}

export interface EntitlementEntry {
  /** Row key: `key:<id>` or `rule:<id>`. */
  readonly key: string;
  readonly kind: 'api_key' | 'rule';
  readonly id: string;
  /** Where it is recorded: the config's `identity.api_keys`, the key store, or a rule. */
  readonly source: 'config' | 'key_store' | 'rule';
  readonly method: string | undefined;
  /** The key's workload, or the rule's workload glob. */
  readonly workload: string | undefined;
  readonly agent: string | undefined;
  readonly issuer: string | undefined;
  readonly owner: string | undefined;
  readonly approvedBy: string | undefined;
  readonly approvedAt: string | undefined;
  readonly reviewBy: string | undefined;
  readonly createdAt: string | undefined;
  readonly expiresAt: string | undefined;
  readonly revoked: boolean;
  readonly grants: Grants;
}

export interface Entitlements {
  readonly configFile: string;
  readonly entries: readonly EntitlementEntry[];
  readonly rules: readonly EntitlementRule[];
  readonly revocations: readonly RevocationEntry[];
  readonly revoked: RevokedSet;
  readonly providers: readonly string[];
}

export class InventoryInputError extends Error {}

/** An API key's entry, from the config or the key store (the same fields; the store adds dates and revocation). */
function apiKeyEntry(
  k: Config['identity']['api_keys'][number],
  source: 'config' | 'key_store',
  stored: Pick<EntitlementEntry, 'createdAt' | 'expiresAt' | 'revoked'>,
): EntitlementEntry {
  return {
    key: `key:${k.id}`,
    kind: 'api_key',
    id: k.id,
    source,
    method: 'api_key',
    workload: k.workload,
    agent: k.agent,
    issuer: undefined,
    owner: k.owner,
    approvedBy: k.approved_by,
    approvedAt: k.approved_at,
    reviewBy: k.review_by,
    ...stored,
    grants: { models: k.models, providers: k.providers, tools: k.tools, maxTokens: k.max_tokens },
  };
}

export function entitlementsOf(config: Config, configFile: string): Entitlements {
  const base = path.dirname(path.resolve(configFile));
  const entries: EntitlementEntry[] = [];
  const ids = new Set<string>();
  for (const k of config.identity.api_keys) {
    ids.add(k.id);
    entries.push(apiKeyEntry(k, 'config', { createdAt: undefined, expiresAt: undefined, revoked: false }));
  }
  const ks = config.identity.key_store;
  if (ks !== undefined) {
    const file = path.resolve(base, ks.file);
    let store: ReturnType<typeof readKeyStoreFile>;
    try {
      store = readKeyStoreFile(file);
    } catch (err) {
      throw new InventoryInputError(err instanceof Error ? err.message : String(err));
    }
    for (const k of store.keys) {
      if (ids.has(k.id)) continue; // the config's entry wins, as at run time
      entries.push(apiKeyEntry(k, 'key_store', { createdAt: k.created_at, expiresAt: k.expires_at, revoked: k.revoked }));
    }
  }
  for (const r of config.identity.entitlements) {
    entries.push({
      key: `rule:${r.id}`,
      kind: 'rule',
      id: r.id,
      source: 'rule',
      method: r.match.method,
      workload: r.match.workload,
      agent: r.match.agent,
      issuer: r.match.issuer,
      owner: r.owner,
      approvedBy: r.approved_by,
      approvedAt: r.approved_at,
      reviewBy: r.review_by,
      createdAt: undefined,
      expiresAt: undefined,
      revoked: false,
      grants: { models: r.models, providers: r.providers, tools: r.tools, maxTokens: r.max_tokens },
    });
  }
  let revocations: RevocationEntry[] = [];
  const rl = config.identity.revocation_list;
  if (rl !== undefined) {
    const file = path.resolve(base, rl.file);
    if (existsSync(file)) {
      try {
        revocations = readRevocationFile(file).revoked;
      } catch (err) {
        throw new InventoryInputError(err instanceof Error ? err.message : String(err));
      }
    }
  }
  return {
    configFile,
    entries,
    rules: compileEntitlementRules(config.identity.entitlements),
    revocations,
    revoked: revokedSet({ version: 1, revoked: revocations }),
    providers: config.providers.map((p) => p.name),
  };
}

/** Reads the config file (validated as `serve` does) and its key store and revocation list. */
export function loadEntitlements(configFile: string): Entitlements {
  return entitlementsOf(loadConfigFile(configFile), configFile);
}
