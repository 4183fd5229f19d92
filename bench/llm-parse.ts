/**
 * Cost of the LLM request phase against body size: `node bench/llm-parse.ts`.
 * Runs the whole phase (content type, UTF-8 decode, structural scan, field reads, model
 * checks) on chat bodies from 1 KB to 1 MB in three shapes, and JSON.parse on the same text
 * for reference. Prints the median and p90 per call. Not a test: nothing here passes or fails.
 */
import { performance } from 'node:perf_hooks';
import { checkRequest } from '../devstack/grpc-client.ts';
import { parseCheckRequest, type RequestContext } from '../src/envoy/request-context.ts';
import { understand } from '../src/llm/index.ts';

type Shape = 'one long message' | 'many short messages' | 'escaped text';

function body(shape: Shape, size: number): string {
  const head = { model: 'gpt-4o-mini', stream: true, max_completion_tokens: 256, tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }] };
  if (shape === 'one long message') {
    const text = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(size / 27)).slice(0, size);
    return JSON.stringify({
      ...head,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: text },
      ],
    });
  }
  if (shape === 'escaped text') {
    const text = 'line "quoted" \\ path\n\ttab é '.repeat(Math.ceil(size / 40)).slice(0, Math.floor(size * 0.8));
    return JSON.stringify({ ...head, messages: [{ role: 'user', content: text }] });
  }
  const messages: object[] = [];
  let n = 0;
  while (n < size) {
    const m = { role: messages.length % 2 ? 'assistant' : 'user', content: `message number ${messages.length} with a few words in it` };
    messages.push(m);
    n += JSON.stringify(m).length + 1;
  }
  return JSON.stringify({ ...head, messages });
}

function ctxFor(text: string): RequestContext {
  const r = parseCheckRequest(checkRequest({ headers: { 'content-type': 'application/json' }, body: text }));
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function measure(fn: () => void, budgetMs: number): { median: number; p90: number; runs: number } {
  for (let i = 0; i < 5; i++) fn();
  const times: number[] = [];
  const end = performance.now() + budgetMs;
  while (performance.now() < end || times.length < 20) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] ?? 0, p90: times[Math.floor(times.length * 0.9)] ?? 0, runs: times.length };
}

const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;
const sizes = [1024, 10 * 1024, 100 * 1024, 1024 * 1024];
console.log(`node ${process.version}; the LLM request phase (understand) vs JSON.parse of the same text`);
console.log('shape                  | body       | understand median | p90        | JSON.parse median | runs');
for (const shape of ['one long message', 'many short messages', 'escaped text'] as Shape[]) {
  for (const size of sizes) {
    const text = body(shape, size);
    const ctx = ctxFor(text);
    const check = understand(ctx);
    if (!check.ok) throw new Error(`fixture rejected: ${check.reason} ${check.detail ?? ''}`);
    const u = measure(() => void understand(ctx), 1000);
    const j = measure(() => void JSON.parse(text), 500);
    console.log(
      `${shape.padEnd(22)} | ${String(Buffer.byteLength(text)).padStart(10)} | ${fmt(u.median).padStart(17)} | ${fmt(u.p90).padStart(10)} | ${fmt(j.median).padStart(17)} | ${u.runs}`,
    );
  }
}
