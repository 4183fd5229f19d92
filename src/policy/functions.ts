/**
 * The CEL environment policies run in: the standard library, the strings extension, the
 * SPIFFE and glob helpers, and a `matches` whose patterns are compiled once and cached.
 */
import { celEnv, celMethod, CelScalar, listType, type CelEnv, type CelFunc } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { RE2JS } from '@bufbuild/re2';
import { globMatch } from '../core/glob.ts';

const { STRING, BOOL } = CelScalar;

/** `spiffe://trust.domain/path` -> [trust domain, path]; undefined when not a SPIFFE ID. */
export function splitSpiffeId(id: string): [string, string] | undefined {
  if (!id.startsWith('spiffe://')) return undefined;
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const domain = slash === -1 ? rest : rest.slice(0, slash);
  if (domain === '') return undefined;
  return [domain.toLowerCase(), slash === -1 ? '' : rest.slice(slash)];
}

export const POLICY_FUNCS: readonly CelFunc[] = [
  celMethod('spiffeTrustDomain', STRING, [], STRING, function () {
    return splitSpiffeId(this)?.[0] ?? '';
  }),
  celMethod('spiffePath', STRING, [], STRING, function () {
    return splitSpiffeId(this)?.[1] ?? '';
  }),
  celMethod('glob', STRING, [STRING], BOOL, function (pattern) {
    return globMatch(pattern, this);
  }),
  celMethod('globAny', STRING, [listType(STRING)], BOOL, function (patterns) {
    for (const p of patterns) if (typeof p === 'string' && globMatch(p, this)) return true;
    return false;
  }),
];

/** Compiled regular expressions by pattern. Constant patterns are compiled at load; others on first use. */
export class RegexCache {
  readonly #compiled = new Map<string, RE2JS>();
  readonly #max: number;
  constructor(max = 1024) {
    this.#max = max;
  }
  /** Compiles (or fetches) a pattern; throws on an invalid pattern. */
  compile(pattern: string): { test(text: string): boolean } {
    let re = this.#compiled.get(pattern);
    if (re === undefined) {
      re = RE2JS.compile(pattern);
      if (this.#compiled.size >= this.#max) this.#compiled.clear();
      this.#compiled.set(pattern, re);
    }
    return re;
  }
  get size(): number {
    return this.#compiled.size;
  }
}

export function policyEnv(regex: RegexCache): CelEnv {
  return celEnv({ funcs: [...strings, ...POLICY_FUNCS], re2: regex });
}
