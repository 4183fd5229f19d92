/**
 * Anthropic Messages, JSON and SSE. JSON: `content[]` blocks (`tool_use`, `server_tool_use` and
 * `mcp_tool_use` name their tool), `stop_reason`, `usage` (input, output, cache reads and
 * writes). SSE: `message_start` carries the id, model and input usage; `content_block_start` each
 * block (tool calls by name); `message_delta` the stop reason and the output tokens so far;
 * `message_stop` ends the stream; an `error` event carries `error.type`. Error bodies:
 * `{"type":"error","error":{"type"}}`.
 */
import { namedReader } from './facts.ts';
import type { Scalar } from './json-stream.ts';

const TOOL_BLOCKS = new Set(['tool_use', 'server_tool_use', 'mcp_tool_use']);

function toolOf(type: Scalar | undefined, name: Scalar | undefined): Scalar | undefined {
  return typeof type === 'string' && TOOL_BLOCKS.has(type) ? (name ?? null) : undefined;
}

export const anthropicMessagesReader = namedReader(
  {
    type: 'type',
    id: 'id',
    model: 'model',
    stop: 'stop_reason',
    contentType: 'content.*.type',
    contentName: 'content.*.name',
    input: 'usage.input_tokens',
    output: 'usage.output_tokens',
    cacheRead: 'usage.cache_read_input_tokens',
    cacheCreation: 'usage.cache_creation_input_tokens',
    mId: 'message.id',
    mModel: 'message.model',
    mInput: 'message.usage.input_tokens',
    mOutput: 'message.usage.output_tokens',
    mCacheRead: 'message.usage.cache_read_input_tokens',
    mCacheCreation: 'message.usage.cache_creation_input_tokens',
    blockType: 'content_block.type',
    blockName: 'content_block.name',
    deltaStop: 'delta.stop_reason',
    errorType: 'error.type',
  },
  (facts) => {
    let type: Scalar | undefined;
    let block: { type?: Scalar; name?: Scalar } = {};
    const blocks = new Map<number, { type?: Scalar; name?: Scalar }>();
    const blockAt = (at: readonly number[]): { type?: Scalar; name?: Scalar } => {
      const i = at[0] ?? 0;
      let x = blocks.get(i);
      if (x === undefined && blocks.size < 1024) {
        x = {};
        blocks.set(i, x);
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
          case 'mId':
            return facts.id(v);
          case 'model':
          case 'mModel':
            return facts.model(v);
          case 'stop':
          case 'deltaStop':
            return facts.finish(0, v);
          case 'contentType':
            blockAt(at).type = v;
            return;
          case 'contentName':
            blockAt(at).name = v;
            return;
          case 'input':
          case 'mInput':
            return facts.tokens('input', v);
          case 'output':
          case 'mOutput':
            return facts.tokens('output', v);
          case 'cacheRead':
          case 'mCacheRead':
            return facts.tokens('cacheRead', v);
          case 'cacheCreation':
          case 'mCacheCreation':
            return facts.tokens('cacheCreation', v);
          case 'blockType':
            block.type = v;
            return;
          case 'blockName':
            block.name = v;
            return;
          case 'errorType':
            return facts.error(v);
        }
      },
      end(event) {
        const kind = typeof type === 'string' ? type : event;
        if (kind === 'message') {
          for (const [, b] of [...blocks.entries()].sort((x, y) => x[0] - y[0])) {
            const t = toolOf(b.type, b.name);
            if (t !== undefined) facts.tool(t);
          }
        } else if (kind === 'content_block_start') {
          const t = toolOf(block.type, block.name);
          if (t !== undefined) facts.tool(t);
        } else if (kind === 'message_stop' || (kind === 'error' && event !== undefined)) facts.finished = true;
        type = undefined;
        block = {};
        blocks.clear();
      },
    };
  },
);
