/**
 * OpenAI chat completions (also legacy completions and embeddings, which share the usage and
 * choices fields), JSON and SSE: every chunk may carry the model and id; tool names arrive in
 * `delta.tool_calls[].function.name` (the first delta of each call), finish reasons per choice,
 * usage in the last chunk only when the request asked for `stream_options.include_usage`;
 * `data: [DONE]` ends the stream. Error bodies: `{"error":{"type","code",...}}`.
 */
import { namedReader } from './facts.ts';
import type { Scalar } from './json-stream.ts';

/** Tool calls remembered per stream to name each (choice, call) once. */
const MAX_SEEN = 1024;

export const openAiChatReader = namedReader(
  {
    id: 'id',
    model: 'model',
    choiceIndex: 'choices.*.index',
    finish: 'choices.*.finish_reason',
    messageTool: 'choices.*.message.tool_calls.*.function.name',
    deltaTool: 'choices.*.delta.tool_calls.*.function.name',
    deltaToolIndex: 'choices.*.delta.tool_calls.*.index',
    messageFunction: 'choices.*.message.function_call.name',
    deltaFunction: 'choices.*.delta.function_call.name',
    input: 'usage.prompt_tokens',
    output: 'usage.completion_tokens',
    cached: 'usage.prompt_tokens_details.cached_tokens',
    reasoning: 'usage.completion_tokens_details.reasoning_tokens',
    errorType: 'error.type',
    errorCode: 'error.code',
  },
  (facts) => {
    // A stream names each call once, in its first delta (some servers repeat it): a call is
    // known by its choice's `index` and its own `index`, not by its place in the chunk's arrays.
    const seen = new Set<string>();
    let errorCode: string | undefined;
    // Per document (chunk): positions -> the indices the chunk gives, the names and reasons found there.
    const choiceIndex = new Map<number, number>();
    const toolIndex = new Map<string, number>();
    const deltaNames: { at: readonly number[]; name: Scalar }[] = [];
    const finishes: { at: number; v: Scalar }[] = [];
    const choiceOf = (pos: number): number => choiceIndex.get(pos) ?? pos;
    return {
      value(name, v, at) {
        switch (name) {
          case 'id':
            return facts.id(v);
          case 'model':
            return facts.model(v);
          case 'choiceIndex':
            if (typeof v === 'number' && Number.isSafeInteger(v)) choiceIndex.set(at[0] ?? 0, v);
            return;
          case 'finish':
            finishes.push({ at: at[0] ?? 0, v });
            return;
          case 'messageTool':
          case 'messageFunction':
            return facts.tool(v);
          case 'deltaTool':
          case 'deltaFunction':
            if (deltaNames.length < MAX_SEEN) deltaNames.push({ at: name === 'deltaTool' ? at : [at[0] ?? 0, -1], name: v });
            return;
          case 'deltaToolIndex':
            if (typeof v === 'number' && Number.isSafeInteger(v)) toolIndex.set(`${at[0] ?? 0}:${at[1] ?? 0}`, v);
            return;
          case 'input':
            return facts.tokens('input', v);
          case 'output':
            return facts.tokens('output', v);
          case 'cached':
            return facts.tokens('cacheRead', v);
          case 'reasoning':
            return facts.tokens('reasoning', v);
          case 'errorType':
            return facts.error(v);
          case 'errorCode':
            if (typeof v === 'string') errorCode = v;
            return;
        }
      },
      end(_event, done) {
        for (const f of finishes) facts.finish(choiceOf(f.at), f.v);
        for (const d of deltaNames) {
          const pos = d.at[0] ?? 0;
          const call = d.at[1] === -1 ? 'f' : String(toolIndex.get(`${pos}:${d.at[1] ?? 0}`) ?? d.at[1] ?? 0);
          const key = `${choiceOf(pos)}:${call}`;
          if (seen.has(key)) continue;
          if (seen.size < MAX_SEEN) seen.add(key);
          facts.tool(d.name);
        }
        choiceIndex.clear();
        toolIndex.clear();
        deltaNames.length = 0;
        finishes.length = 0;
        if (facts.errorType === undefined && errorCode !== undefined) facts.error(errorCode);
        if (done) facts.finished = true;
      },
    };
  },
  // Every chunk repeats them: read once.
  ['id', 'model'],
);
