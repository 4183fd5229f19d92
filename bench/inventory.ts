/**
 * `llm-authz inventory` over a large decision log (not part of the suite):
 *   node bench/inventory.ts [--lines 1000000] [--identities 500] [--files 4] [--format md] [--node-option=--max-old-space-size=64]
 * Writes that many decision lines (realistic audit records, one outcome line per 4 allowed
 * decisions on top), spread over rotated files like logrotate leaves them (the older ones
 * gzip-compressed, the newest plain), then runs the built CLI under /usr/bin/time and prints
 * the wall time, CPU time and peak RSS of the inventory alone.
 * Needs `npm run build` first.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { cliEntry } from '../devstack/tools.ts';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    identities: { type: 'string', default: '500' },
    files: { type: 'string', default: '4' },
    format: { type: 'string', default: 'md' },
    keep: { type: 'boolean', default: false },
    'node-option': { type: 'string', multiple: true, default: [] },
  },
});
const LINES = Number(values.lines);
const IDS = Number(values.identities);
const FILES = Number(values.files);
const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-inventory-bench-'));
const now = Date.now();
const windowMs = 29 * 86_400_000;

const keys = Array.from({ length: IDS }, (_, i) => `bench${String(i).padStart(6, '0')}`);
writeFileSync(
  path.join(dir, 'llm-authz.yaml'),
  `providers:
  - {name: openai, api: openai}
  - {name: anthropic, api: anthropic}
identity:
  api_keys:
${keys.map((id, i) => `    - {id: ${id}, hash: "sha256:${i.toString(16).padStart(64, '0')}", workload: "spiffe://bench.test/ns/apps/sa/w${i % 97}", models: [gpt-4o-mini, "claude-*"], owner: team-${i % 13}, review_by: "2030-01-01T00:00:00Z"}`).join('\n')}
`,
);

const MODELS = ['gpt-4o-mini', 'claude-3-5-haiku', 'gpt-4o'];
function line(i: number): string {
  const t = new Date(now - windowMs + Math.floor((i / LINES) * windowMs)).toISOString();
  const k = i % (IDS + 20);
  const allow = i % 7 !== 0;
  const model = MODELS[i % 3] ?? 'gpt-4o-mini';
  const id = `0b1c2d3e-${String(i).padStart(12, '0')}-4f5a-8b9c-0d1e2f3a4b5c`;
  const rec: Record<string, unknown> = {
    time: t,
    'decision.id': id,
    'decision.effect': allow ? 'allow' : 'deny',
    'decision.reason': allow ? 'allowed' : 'model_not_allowed',
    'decision.status': allow ? 200 : 403,
    'decision.phase': 'policy',
    'decision.duration_ms': 0.412,
    'http.request.method': 'POST',
    'url.path': '/v1/chat/completions',
    'http.request.id': `req-${i}`,
    'client.address': '10.0.0.7',
  };
  if (k < IDS) {
    Object.assign(rec, {
      'identity.method': 'api_key',
      'identity.workload': `spiffe://bench.test/ns/apps/sa/w${k % 97}`,
      'identity.credential_id': keys[k],
      'identity.owner': `team-${k % 13}`,
      'identity.review_overdue': false,
    });
  } else {
    Object.assign(rec, { 'identity.method': 'jwt', 'identity.workload': `svc-${k}`, 'identity.issuer': 'https://issuer.bench.test' });
  }
  Object.assign(rec, {
    'policy.version': 'a1b2c3d4e5f6',
    'policy.rule': allow ? 'allow-apps' : 'deny-expensive',
    'policy.matched_rules': [allow ? 'allow-apps' : 'deny-expensive'],
    'gen_ai.provider.name': model.startsWith('claude') ? 'anthropic' : 'openai',
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': model,
    'llm.api': 'openai.chat_completions',
    'llm.stream': i % 2 === 0,
    'gen_ai.request.max_tokens': 512,
    'llm.tools': i % 5 === 0 ? ['search', 'calculator'] : [],
    'llm.message_count': 3,
    'llm.input_bytes': 1834,
    'llm.body_complete': true,
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    span_id: '00f067aa0ba902b7',
  });
  let out = `${JSON.stringify(rec)}\n`;
  if (allow && i % 4 === 1)
    out += `${JSON.stringify({ time: t, kind: 'outcome', 'decision.id': id, 'gen_ai.usage.input_tokens': 420, 'gen_ai.usage.output_tokens': 96, 'gen_ai.response.model': model, 'llm.response.tool_calls': i % 5 === 0 ? ['search'] : [] })}\n`;
  return out;
}

async function writeFile(file: string, from: number, to: number, gzip: boolean): Promise<void> {
  const out = createWriteStream(file);
  const sink = gzip ? createGzip() : out;
  if (gzip) sink.pipe(out);
  let buf = '';
  for (let i = from; i < to; i++) {
    buf += line(i);
    if (buf.length > 1 << 20) {
      if (!sink.write(buf)) await once(sink, 'drain');
      buf = '';
    }
  }
  sink.end(buf);
  await once(out, 'finish');
}

const started = Date.now();
const per = Math.ceil(LINES / FILES);
const logs = path.join(dir, 'logs');
execFileSync('mkdir', ['-p', logs]);
for (let f = 0; f < FILES; f++) {
  // decisions.log.3.gz (oldest) ... decisions.log.1.gz, then decisions.log (newest, plain).
  const n = FILES - 1 - f;
  const name = n === 0 ? 'decisions.log' : `decisions.log.${n}.gz`;
  await writeFile(path.join(logs, name), f * per, Math.min(LINES, (f + 1) * per), n !== 0);
}
const bytes = ['decisions.log', ...Array.from({ length: FILES - 1 }, (_, i) => `decisions.log.${i + 1}.gz`)].reduce((a, f) => a + statSync(path.join(logs, f)).size, 0);
process.stderr.write(
  `[bench] ${LINES} decision lines in ${FILES} files (${(bytes / 1048576).toFixed(0)} MiB on disk) written in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);

const out = path.join(dir, `report.${values.format}`);
// /usr/bin/time and the CLI both write to stderr (the CLI's one-line summary, then the figures).
const res = execFileSync(
  '/bin/sh',
  [
    '-c',
    `/usr/bin/time -f 'TIME %e s wall, %U s user, %S s sys, %M KiB max RSS' "${process.execPath}" ${values['node-option'].join(' ')} "${cliEntry()}" inventory --config "${path.join(dir, 'llm-authz.yaml')}" --decisions "${logs}" --since 30d --format ${values.format} --out "${out}" 2>&1`,
  ],
  { encoding: 'utf8' },
);
process.stdout.write(res);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
else process.stderr.write(`[bench] kept ${dir}\n`);
