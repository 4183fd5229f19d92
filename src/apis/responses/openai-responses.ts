/**
 * The OpenAI Responses API. JSON: `output[]` items (a `function_call`, `custom_tool_call` or
 * `mcp_call` names its tool; built-in tools are items of type `<tool>_call`), `status` and
 * `incomplete_details.reason`, `usage`. SSE: events named by their `type`; tool calls from
 * `response.output_item.added`, and the id, model, status and usage from the `response` object of
 * the lifecycle events, ending with `response.completed`, `response.incomplete` or
 * `response.failed` (the final event repeats every output item, text included: it is not kept,
 * only the paths below are read from it). Error bodies: `{"error":{"type","code"}}`; a
 * stream's `error` event carries `code`.
 */
import { namedReader, type FactsBuilder } from './facts.ts';
import type { Scalar } from './json-stream.ts';

const NAMED_CALLS = new Set(['function_call', 'custom_tool_call', 'mcp_call']);
const END_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/** The tool an output item calls, or undefined when the item is not a tool call. */
export function responsesToolName(type: Scalar | undefined, name: Scalar | undefined): string | undefined {
  if (typeof type !== 'string') return undefined;
  if (NAMED_CALLS.has(type)) return typeof name === 'string' ? name : undefined;
  return type.endsWith('_call') ? type.slice(0, -'_call'.length) : undefined;
}

function finishOf(facts: FactsBuilder, status: Scalar | undefined, incomplete: Scalar | undefined): void {
  facts.finish(0, incomplete ?? status ?? null);
}

export const openAiResponsesReader = namedReader(
  {
    type: 'type',
    id: 'id',
    model: 'model',
    status: 'status',
    incomplete: 'incomplete_details.reason',
    outputType: 'output.*.type',
    outputName: 'output.*.name',
    input: 'usage.input_tokens',
    output: 'usage.output_tokens',
    cached: 'usage.input_tokens_details.cached_tokens',
    reasoning: 'usage.output_tokens_details.reasoning_tokens',
    rId: 'response.id',
    rModel: 'response.model',
    rStatus: 'response.status',
    rIncomplete: 'response.incomplete_details.reason',
    rInput: 'response.usage.input_tokens',
    rOutput: 'response.usage.output_tokens',
    rCached: 'response.usage.input_tokens_details.cached_tokens',
    rReasoning: 'response.usage.output_tokens_details.reasoning_tokens',
    rErrorCode: 'response.error.code',
    itemType: 'item.type',
    itemName: 'item.name',
    errorType: 'error.type',
    errorCode: 'error.code',
    code: 'code',
  },
  (facts) => {
    // Per document: the event type, the item of an output_item event, the output items of a JSON body.
    let type: Scalar | undefined;
    let item: { type?: Scalar; name?: Scalar } = {};
    const items = new Map<number, { type?: Scalar; name?: Scalar }>();
    let status: Scalar | undefined;
    let incomplete: Scalar | undefined;
    let code: Scalar | undefined;
    const at0 = (at: readonly number[]): { type?: Scalar; name?: Scalar } => {
      const i = at[0] ?? 0;
      let x = items.get(i);
      if (x === undefined && items.size < 1024) {
        x = {};
        items.set(i, x);
      }
      return x ?? {};
    };
    return {
      value(name, v, at) {
        switch (name) {
          case 'type':
            type = v;
            return;
          case 'id':
          case 'rId':
            return facts.id(v);
          case 'model':
          case 'rModel':
            return facts.model(v);
          case 'status':
          case 'rStatus':
            status = v;
            return;
          case 'incomplete':
          case 'rIncomplete':
            incomplete = v;
            return;
          case 'outputType':
            at0(at).type = v;
            return;
          case 'outputName':
            at0(at).name = v;
            return;
          case 'input':
          case 'rInput':
            return facts.tokens('input', v);
          case 'output':
          case 'rOutput':
            return facts.tokens('output', v);
          case 'cached':
          case 'rCached':
            return facts.tokens('cacheRead', v);
          case 'reasoning':
          case 'rReasoning':
            return facts.tokens('reasoning', v);
          case 'itemType':
            item.type = v;
            return;
          case 'itemName':
            item.name = v;
            return;
          case 'errorType':
            return facts.error(v);
          case 'errorCode':
          case 'rErrorCode':
          case 'code':
            code = v;
            return;
        }
      },
      end(event) {
        const kind = typeof type === 'string' ? type : event;
        if (kind === undefined) {
          // A JSON body: the response object (or an error body).
          for (const [, x] of [...items.entries()].sort((a, b) => a[0] - b[0])) {
            const t = responsesToolName(x.type, x.name);
            if (t !== undefined) facts.tool(t);
          }
          if (status !== undefined) finishOf(facts, status, incomplete);
        } else if (kind === 'response.output_item.added') {
          const t = responsesToolName(item.type, item.name);
          if (t !== undefined) facts.tool(t);
        } else if (END_EVENTS.has(kind)) {
          finishOf(facts, status, incomplete);
          facts.finished = true;
        } else if (kind === 'error') facts.finished = true;
        if (facts.errorType === undefined && (kind === 'error' || kind === 'response.failed' || kind === undefined) && typeof code === 'string') facts.error(code);
        type = undefined;
        item = {};
        items.clear();
        status = undefined;
        incomplete = undefined;
        code = undefined;
      },
    };
  },
);
