/**
 * Bedrock Converse (one JSON body) and ConverseStream (an AWS event stream, one JSON document
 * per event). JSON: `output.message.content[].toolUse.name` for each tool call, `stopReason`,
 * `usage` (input, output, cache reads and writes). Stream events: `contentBlockStart` names a
 * tool call (`start.toolUse.name`), `messageStop` carries the stop reason, `metadata` the usage
 * and ends the stream. Error types travel in the `x-amzn-errortype` header (JSON) or an
 * exception frame (stream), not in the body.
 */
import { namedReader } from './facts.ts';

export const bedrockConverseReader = namedReader(
  {
    stop: 'stopReason',
    tool: 'output.message.content.*.toolUse.name',
    streamTool: 'start.toolUse.name',
    input: 'usage.inputTokens',
    output: 'usage.outputTokens',
    cacheRead: 'usage.cacheReadInputTokens',
    cacheWrite: 'usage.cacheWriteInputTokens',
  },
  (facts) => ({
    value(name, v) {
      switch (name) {
        case 'stop':
          return facts.finish(0, v);
        case 'tool':
        case 'streamTool':
          return facts.tool(v);
        case 'input':
          return facts.tokens('input', v);
        case 'output':
          return facts.tokens('output', v);
        case 'cacheRead':
          return facts.tokens('cacheRead', v);
        case 'cacheWrite':
          return facts.tokens('cacheCreation', v);
      }
    },
    end(event) {
      // The stream's last event (after messageStop) carries the usage.
      if (event === 'metadata') facts.finished = true;
    },
  }),
);
