/** Which configured provider serves a request: the first one speaking its wire API whose models match. */
import { speaks, WIRE_APIS, type WireApi } from '../apis/index.ts';
import type { ProviderRuntime, Providers } from '../providers/runtime.ts';

export type SelectProvider = (api: WireApi, model: string | undefined) => ProviderRuntime | undefined;

/** Built at load: one candidate list per wire API, in config order. */
export function createProviderSelector(providers: Pick<Providers, 'list'>): SelectProvider {
  const byApi = new Map<WireApi, readonly ProviderRuntime[]>();
  for (const api of WIRE_APIS)
    byApi.set(
      api,
      providers.list.filter((p) => speaks(p.api, api)),
    );
  return (api, model) => {
    const candidates = byApi.get(api);
    if (candidates === undefined) return undefined;
    if (model === undefined) return candidates[0];
    for (const p of candidates) if (p.serves(model)) return p;
    return undefined;
  };
}
