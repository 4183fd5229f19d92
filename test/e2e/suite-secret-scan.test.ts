/**
 * The suite-wide secret scan, as a test: every span the suite's Jaeger received (every
 * service) and every log file under test-results/ are searched for the secrets the suite uses
 * (test/helpers/suite-secrets.ts). It runs after every other e2e file (test/e2e/sequencer.ts),
 * once their processes have stopped. A leak is a failed test, so it counts in the vitest
 * report and in scripts/test.sh's closing line; so is a scan that read nothing it should have
 * (no log file, no trace of llm-authz while an llm-authz ran), e.g. when the scan runs alone.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';
import { formatHits, scanJaeger, scanLogFiles } from '../helpers/secret-scan.ts';
import { suiteSecrets } from '../helpers/suite-secrets.ts';
import { jaegerQueryUrl } from '../helpers/telemetry.ts';

const RESULTS = path.join(ROOT, 'test-results');

/** Log files of llm-authz processes the e2e tests started (devstack/authz.ts names them llm-authz*.log). */
function authzLogFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...authzLogFiles(p));
    else if (/^llm-authz.*\.log$/.test(name)) out.push(p);
  }
  return out;
}

describe('suite-wide secret scan (after every other e2e test)', () => {
  // Its time grows with what the suite produced (every trace of every service, fetched per
  // service): 60 s was not enough on a cold machine at load 14-17, so it has its own bound.
  it('finds no secret in any span in Jaeger or any log line under test-results/, and scanned what the suite produced', { timeout: 300_000 }, async () => {
    const started = performance.now();
    // Envoy exports its spans on shutdown and Jaeger batches for 100 ms: give the last ones time to land.
    await new Promise((r) => setTimeout(r, 1500));
    const secrets = suiteSecrets();
    const spans = await scanJaeger(jaegerQueryUrl(), secrets);
    const logs = scanLogFiles(RESULTS, secrets);
    const hits = [...spans.hits, ...logs.hits];
    const summary = `secret scan: ${secrets.length} secrets; ${spans.traces} traces / ${spans.spans} spans of ${spans.services.length} services (${spans.services.join(', ')}) in Jaeger; ${logs.files} log files / ${logs.lines} lines under test-results/; ${((performance.now() - started) / 1000).toFixed(1)} s`;
    writeFileSync(path.join(RESULTS, 'secret-scan.txt'), `${summary}\nhits: ${hits.length}\n${formatHits(hits)}\n`);
    process.stderr.write(`[e2e] ${summary}\n`);

    expect(hits, `SECRET SCAN FAILED: ${hits.length} hit(s)\n${formatHits(hits)}`).toEqual([]);

    // What the scan must have read: the suite's own Jaeger log at least, and every llm-authz
    // the tests started exported spans to this Jaeger (OTEL_EXPORTER_OTLP_ENDPOINT).
    expect(logs.files, 'log files scanned under test-results/').toBeGreaterThan(0);
    expect(logs.lines, 'log lines scanned').toBeGreaterThan(0);
    const authzRan = authzLogFiles(RESULTS).length;
    expect(authzRan, 'llm-authz log files: no e2e test ran before the scan').toBeGreaterThan(0);
    expect(spans.services, 'services in Jaeger').toContain('llm-authz');
    expect(spans.traces, 'traces scanned in Jaeger').toBeGreaterThan(0);
    expect(spans.spans, 'spans scanned in Jaeger').toBeGreaterThanOrEqual(spans.traces);
  });
});
