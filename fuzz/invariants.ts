/**
 * What must hold for every Check answer, whatever the request. The oracle is the fuzzer's own
 * (scopes read from world.ts, the body read with JSON.parse), not llm-authz's code:
 *  1. the answer is well formed: an allow (code 0, ok_response) or a deny with a status and a
 *     reason code of the closed set, and a JSON body;
 *  2. an allow is for a known credential, within its scope: model, provider (the one routed to),
 *     tools (also as JSON.parse reads the body), max_tokens (also as JSON.parse reads it), no
 *     stored context under a tool scope; or for Envoy-verified claims / a SPIFFE ID the case
 *     really carried;
 *  3. the routing header is set on an allow only, to the provider's route;
 *  4. no client credential is forwarded: every request header holding an llm-authz key is removed
 *     or overwritten, and no URL holding one is allowed;
 *  5. exactly one decision record per Check, with the answer's decision id and effect;
 *  6. no credential, provider key or prompt text in the record, the metadata or a deny body.
 */
import type { AuditRecord } from '../src/audit/record.ts';
import { REASONS } from '../src/core/reasons.ts';
import type { CheckResponse } from '../src/envoy/response.ts';
import type { FuzzCase } from './cases.ts';
import { BROAD, NARROW, PROVIDER_KEYS, ROUTING_HEADER, TRUST_DOMAIN, type KeyScope } from './world.ts';

/** `*` matches any run of characters (the fuzzer's own, deliberately plain). */
function glob(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return re.test(value);
}

const ROUTES: Readonly<Record<string, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'gemini',
  'azure-openai': 'azure-openai',
  'openai-other': 'openai-other',
  bedrock: 'bedrock',
  'vertex-ai': 'vertex-ai',
};

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);

/** Tool names and output-token limits as JSON.parse reads the body (undefined: not JSON). */
function bodyView(body: Buffer | undefined, path: string): { tools: string[]; limits: unknown[]; stored: boolean } | undefined {
  if (body === undefined) return { tools: [], limits: [], stored: false };
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const b = obj(v);
  if (b === undefined) return undefined;
  const tools: string[] = [];
  // The endpoints whose provider offers the model tools (legacy completions and embeddings do not).
  const offersTools =
    /\/chat\/completions$|\/responses$|\/messages$|:(generateContent|streamGenerateContent|rawPredict|streamRawPredict)$|\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.test(
      path.split('?')[0] ?? '',
    );
  // Bedrock Converse: toolConfig.tools[].toolSpec.name.
  const toolConfig = obj(b['toolConfig']);
  for (const t of offersTools && Array.isArray(toolConfig?.['tools']) ? (toolConfig['tools'] as unknown[]) : []) {
    const name = obj(obj(t)?.['toolSpec'])?.['name'];
    if (typeof name === 'string') tools.push(name);
  }
  for (const t of offersTools && Array.isArray(b['tools']) ? b['tools'] : []) {
    const to = obj(t);
    if (to === undefined) continue;
    const fn = obj(to['function']);
    for (const d of Array.isArray(to['functionDeclarations']) ? to['functionDeclarations'] : []) {
      const name = obj(d)?.['name'];
      if (typeof name === 'string') tools.push(name);
    }
    const name = fn?.['name'] ?? to['name'] ?? (Array.isArray(to['functionDeclarations']) ? undefined : to['type']);
    if (typeof name === 'string') tools.push(name);
  }
  // The output-token fields each API reads.
  const p = path.split('?')[0] ?? '';
  const gen = obj(b['generationConfig']) ?? obj(b['generation_config']);
  const fields = /:(rawPredict|streamRawPredict)$|\/(invoke|invoke-with-response-stream)$/.test(p)
    ? [b['max_tokens']]
    : /\/(converse|converse-stream)$/.test(p)
      ? [obj(b['inferenceConfig'])?.['maxTokens']]
      : /:[A-Za-z]+$/.test(p)
        ? [gen?.['maxOutputTokens'], gen?.['max_output_tokens']]
        : p.endsWith('/responses')
          ? [b['max_output_tokens']]
          : p.endsWith('/chat/completions')
            ? [b['max_tokens'], b['max_completion_tokens']]
            : [b['max_tokens']];
  // (null is the APIs' "not set")
  const limits = fields.filter((x) => x !== undefined && x !== null);
  // Stored context: a saved prompt on OpenAI Responses, cached content on Gemini.
  // (null is the APIs' "not set" here too)
  const set = (x: unknown): boolean => x !== undefined && x !== null;
  const stored = path.includes('/responses') ? set(b['prompt']) : /:[A-Za-z]+$/.test(path.split('?')[0] ?? '') ? set(b['cachedContent']) || set(b['cached_content']) : false;
  return { tools, limits, stored };
}

function headerValues(res: CheckResponse): Map<string, string> {
  const list = res.ok_response?.headers ?? res.denied_response?.headers ?? [];
  return new Map(list.map((h) => [h.header.key, h.header.value]));
}

function scopeProblems(k: KeyScope, record: AuditRecord, c: FuzzCase): string[] {
  const p: string[] = [];
  const model = record['gen_ai.request.model'];
  const provider = record['llm.provider'];
  if (model !== undefined && model !== '' && !k.models.some((m) => glob(m, model))) p.push(`model '${model}' outside the scope`);
  if (k.providers !== undefined && (provider === undefined || !k.providers.includes(provider))) p.push(`provider '${provider ?? ''}' outside the scope`);
  const view = bodyView(c.body, c.path);
  if (k.tools !== undefined) {
    const tools = [...(record['llm.tools'] ?? []), ...(view?.tools ?? [])];
    const out = tools.find((t) => !k.tools!.some((g) => glob(g, t)));
    if (out !== undefined) p.push(`tool '${out}' outside the scope`);
    if ((record['llm.stored_context'] ?? []).length > 0 || view?.stored === true) p.push('stored context under a tool scope');
  }
  if (k.maxTokens !== undefined) {
    const mt = record['gen_ai.request.max_tokens'];
    if (mt === undefined || mt > k.maxTokens) p.push(`max_tokens ${mt ?? '(unset)'} outside the scope`);
    const over = view?.limits.find((l) => typeof l !== 'number' || l > k.maxTokens!);
    if (over !== undefined) p.push(`a body token limit ${JSON.stringify(over)} outside the scope`);
  }
  return p;
}

const SECRETS = [NARROW.key, BROAD.key, ...Object.values(PROVIDER_KEYS), 'fuzz case prompt'];

export function violations(c: FuzzCase, res: CheckResponse, records: readonly AuditRecord[]): string[] {
  const v: string[] = [];
  const allow = res.status.code === 0;
  const headers = headerValues(res);
  // 1. well formed
  if (allow && res.ok_response === undefined) v.push('allow without ok_response');
  if (!allow) {
    const d = res.denied_response;
    const reason = headers.get('x-llm-authz-reason') ?? '';
    if (d === undefined) v.push('deny without denied_response');
    else if (!Object.hasOwn(REASONS, reason) || reason === 'allowed') v.push(`deny with reason '${reason}'`);
    else if (REASONS[reason as keyof typeof REASONS].status !== d.status.code) v.push(`deny status ${d.status.code} for ${reason}`);
    try {
      JSON.parse(d?.body ?? '');
    } catch {
      v.push('deny body is not JSON');
    }
    if (reason === 'internal_error') v.push('internal_error (an exception in a Check)');
  }
  // 5. one record, same id and effect
  const record = records[0];
  const decisionId = allow
    ? res.ok_response?.response_headers_to_add.find((h) => h.header.key === 'x-llm-authz-decision-id')?.header.value
    : headers.get('x-llm-authz-decision-id');
  if (records.length !== 1 || record === undefined) {
    v.push(`${records.length} decision records`);
    return v;
  }
  if (record['decision.id'] !== decisionId) v.push('the record and the answer have different decision ids');
  if (record['decision.effect'] !== (allow ? 'allow' : 'deny')) v.push('the record and the answer have different effects');
  // 3. routing header only on allow, to the provider's route
  const route = headers.get(ROUTING_HEADER);
  if (!allow && route !== undefined) v.push('a deny sets the routing header');
  if (allow && (route === undefined || route !== ROUTES[record['llm.provider'] ?? '']))
    v.push(`an allow routes to '${route ?? ''}' for provider '${record['llm.provider'] ?? ''}'`);
  if (allow) {
    // 2. who, and within which scope
    const id = record['identity.credential_id'];
    const key = id === NARROW.id ? NARROW : id === BROAD.id ? BROAD : undefined;
    if (key !== undefined) v.push(...scopeProblems(key, record, c));
    else if (
      record['identity.method'] === 'envoy_jwt'
        ? !c.trustedClaims
        : record['identity.method'] === 'spiffe'
          ? !c.trustedPrincipal || !(record['identity.workload'] ?? '').toLowerCase().startsWith(`spiffe://${TRUST_DOMAIN}/`)
          : true
    ) {
      v.push(`allowed for ${record['identity.method'] ?? '?'} identity '${record['identity.workload'] ?? ''}' the case did not establish`);
    }
    // 4. no client credential forwarded
    const removed = new Set([...(res.ok_response?.headers_to_remove ?? []), ...headers.keys()]);
    for (const [h, value] of Object.entries(c.headers)) {
      const name = h.toLowerCase();
      if (name.startsWith(':') || name === 'host') continue;
      if (/lla_[A-Za-z0-9]{4,32}_/.test(value) && !removed.has(name)) v.push(`header '${name}' holding a key is forwarded`);
      if (name.startsWith('x-llm-authz-') && name !== ROUTING_HEADER && !removed.has(name)) v.push(`header '${name}' is forwarded`);
    }
    let url = c.path;
    for (let i = 0; i < 3; i++) {
      try {
        url = decodeURIComponent(url);
      } catch {
        break;
      }
    }
    if (/lla_[A-Za-z0-9]{4,32}_/.test(url)) v.push('a URL holding a key is allowed');
    // A request llm-authz signs (SigV4) goes without the client's own AWS headers.
    if (record['llm.provider'] === 'bedrock') {
      for (const h of Object.keys(c.headers)) if (h.toLowerCase().startsWith('x-amz-') && !removed.has(h.toLowerCase())) v.push(`the client's '${h}' is forwarded to Bedrock`);
    }
  }
  // 6. no secret in what leaves llm-authz
  const out = JSON.stringify(record) + JSON.stringify(res.dynamic_metadata) + (res.denied_response?.body ?? '');
  for (const s of SECRETS) if (out.includes(s)) v.push(`a secret (${s.slice(0, 8)}…) in the record, metadata or deny body`);
  return v;
}
