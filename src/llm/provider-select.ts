/** Which configured provider serves a request: the first of its API whose models match. */
import type { ProviderRuntime, Providers } from '../providers/runtime.ts';
import type { ApiKind } from '../providers/schema.ts';
import type { WireApi } from './types.ts';

/** Provider kinds that accept each wire format. */
const SERVED_BY: Readonly<Record<WireApi, readonly ApiKind[]>> = {
  openai: ['openai', 'openai-compatible'],
  'azure-openai': ['azure-openai'],
  anthropic: ['anthropic'],
  gemini: ['gemini'],
};

/** Whether a provider of this kind accepts requests in this wire format. */
export function speaks(kind: ApiKind, api: WireApi): boolean {
  return SERVED_BY[api].includes(kind);
}

export type SelectProvider = (api: WireApi, model: string | undefined) => ProviderRuntime | undefined;

/** Built at load: one candidate list per wire format, in config order. */
export function createProviderSelector(providers: Pick<Providers, 'list'>): SelectProvider {
  const byApi = new Map<WireApi, readonly ProviderRuntime[]>();
  for (const api of Object.keys(SERVED_BY) as WireApi[]) {
    byApi.set(api, providers.list.filter((p) => SERVED_BY[api].includes(p.api)));
  }
  return (api, model) => {
    const candidates = byApi.get(api) ?? [];
    if (model === undefined) return candidates[0];
    return candidates.find((p) => p.serves(model));
  };
}
