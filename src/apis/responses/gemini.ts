/**
 * Gemini generateContent and streamGenerateContent (a JSON object; a JSON array of chunks
 * without `alt=sse`; SSE with it). Every chunk repeats the usage so far (`usageMetadata`; the
 * last wins), the model (`modelVersion`) and `responseId`; function calls are parts with
 * `functionCall.name`; the last chunk has each candidate's `finishReason` (no other end
 * marker). Output tokens are `candidatesTokenCount`, thinking tokens `thoughtsTokenCount`.
 * Error bodies: `{"error":{"code","message","status"}}` (`status` is the error type).
 */
import { namedReader } from './facts.ts';

export const geminiReader = namedReader(
  {
    id: 'responseId',
    model: 'modelVersion',
    finish: 'candidates.*.finishReason',
    tool: 'candidates.*.content.parts.*.functionCall.name',
    input: 'usageMetadata.promptTokenCount',
    output: 'usageMetadata.candidatesTokenCount',
    cached: 'usageMetadata.cachedContentTokenCount',
    reasoning: 'usageMetadata.thoughtsTokenCount',
    errorStatus: 'error.status',
  },
  (facts) => {
    let finished = false;
    return {
      value(name, v, at) {
        switch (name) {
          case 'id':
            return facts.id(v);
          case 'model':
            return facts.model(v);
          case 'finish':
            finished = true;
            return facts.finish(at[0] ?? 0, v);
          case 'tool':
            return facts.tool(v);
          case 'input':
            return facts.tokens('input', v);
          case 'output':
            return facts.tokens('output', v);
          case 'cached':
            return facts.tokens('cacheRead', v);
          case 'reasoning':
            return facts.tokens('reasoning', v);
          case 'errorStatus':
            return facts.error(v);
        }
      },
      end() {
        if (finished || facts.errorType !== undefined) facts.finished = true;
      },
    };
  },
  // Every chunk repeats them: read once.
  ['id', 'model'],
);
