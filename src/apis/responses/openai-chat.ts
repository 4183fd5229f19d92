/**
 * OpenAI chat completions (also legacy completions and embeddings, which share the usage and
 * choices fields), JSON and SSE: every chunk may carry the model and id; tool names arrive in
 * `delta.tool_calls[].function.name` (the first delta of each call), finish reasons per choice,
 * usage in the last chunk only when the request asked for `stream_options.include_usage`;
 * `data: [DONE]` ends the stream. Error bodies: `{"error":{"type","code",...}}`.
 */
import { namedReader } from './facts.ts';

/** Tool calls remembered per stream to name each (choice, call) once. */
const MAX_SEEN = 1024;

export const openAiChatReader = namedReader(
  {
    id: 'id',
    model: 'model',
    finish: 'choices.*.finish_reason',
    messageTool: 'choices.*.message.tool_calls.*.function.name',
    deltaTool: 'choices.*.delta.tool_calls.*.function.name',
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
    const seen = new Set<string>();
    let errorCode: string | undefined;
    return {
      value(name, v, at) {
        switch (name) {
          // Every chunk repeats them: read once.
          case 'id':
            facts.id(v);
            return facts.responseId === undefined;
          case 'model':
            facts.model(v);
            return facts.responseModel === undefined;
          case 'finish':
            return facts.finish(at[0] ?? 0, v);
          case 'messageTool':
          case 'messageFunction':
            return facts.tool(v);
          case 'deltaTool':
          case 'deltaFunction': {
            // A stream names each call in its first delta; some servers repeat it.
            const key = `${at[0] ?? 0}:${name === 'deltaTool' ? (at[1] ?? 0) : 'f'}`;
            if (seen.has(key)) return;
            if (seen.size < MAX_SEEN) seen.add(key);
            return facts.tool(v);
          }
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
        if (facts.errorType === undefined && errorCode !== undefined) facts.error(errorCode);
        if (done) facts.finished = true;
      },
    };
  },
);
