/**
 * The machine's own penalty for the first work after a quiet spell (not part of the suite): a fixed
 * pure-JavaScript workload (JSON parse and stringify of a 2 KB chat body, a regular expression, a
 * Map), warmed, then timed as the first, second and third call after N seconds in which the
 * process does nothing (or, with --spin, runs a loop of its own instead of sleeping), against its
 * warm median, with the minor page faults of the first call. Nothing of llm-authz runs: it says how
 * much of the slower Check after idle (bench/cold-check.ts --idle-seconds, bench/cold.ts) any code
 * pays on this machine. bench/idle-baseline-native.c is the same measurement for native code.
 *   node bench/idle-baseline.ts [--idle-seconds 5,30,120] [--spin]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'idle-seconds': { type: 'string', default: '5,30,120' }, spin: { type: 'boolean', default: false } } });
const spells = values['idle-seconds'].split(',').map(Number);
if (spells.some((s) => !Number.isFinite(s) || s < 0 || s > 600)) throw new Error('--idle-seconds: comma-separated seconds, each 0-600');

const body = JSON.stringify({
  model: 'gpt-4o-mini',
  max_tokens: 256,
  stream: false,
  messages: Array.from({ length: 12 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${'x'.repeat(120)}${i}` })),
  tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
});
const MODEL = /^(gpt-4o|gpt-4\.1|claude|gemini)[-\w.]*$/;

interface Chat {
  model: string;
  messages: { role: string; content: string }[];
  tools: { function: { name: string } }[];
}

function work(): number {
  let n = 0;
  for (let k = 0; k < 4; k++) {
    const o = JSON.parse(body) as Chat;
    n += MODEL.test(o.model) ? 1 : 0;
    const m = new Map<string, unknown>();
    for (const msg of o.messages) m.set(msg.role + msg.content.length, msg);
    n += JSON.stringify({ a: o.model, b: [...m.keys()], c: o.tools.map((t) => t.function.name) }).length;
  }
  return n;
}

function time(): number {
  const t = performance.now();
  work();
  return performance.now() - t;
}

for (let i = 0; i < 5000; i++) work();
const warm = Array.from({ length: 201 }, time).sort((a, b) => a - b)[100] ?? Number.NaN;
console.log(`warm median ${warm.toFixed(3)} ms`);
for (const s of spells) {
  for (let i = 0; i < 200; i++) work();
  if (values.spin) {
    // Busy instead of asleep: the process keeps its CPU, running other code.
    const end = performance.now() + s * 1000;
    while (performance.now() < end) {
      // spin
    }
  } else await new Promise((resolve) => setTimeout(resolve, s * 1000));
  const faults = process.resourceUsage().minorPageFault;
  const a = time();
  const firstFaults = process.resourceUsage().minorPageFault - faults;
  const [b, c] = [time(), time()];
  console.log(
    `after ${s} s ${values.spin ? 'spinning' : 'idle'}: first ${a.toFixed(3)} ms (${(a / warm).toFixed(1)}x warm, ${firstFaults} minor page faults), second ${b.toFixed(3)}, third ${c.toFixed(3)}`,
  );
}
