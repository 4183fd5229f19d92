/**
 * What `serve` does not need unless configured is not loaded at start: the Redis client (quotas
 * with a Redis store), google-auth-library (Vertex AI service accounts), @grpc/grpc-js (the
 * server is on node:http2, and so are the OTLP/gRPC exporters; grpc-js is the client of
 * `llm-authz health` and of the tests) and the OTLP span exporter with its request encoder. Each costs every idle server memory and start time (ioredis: about 17 MiB of idle
 * RSS, bench/idle-rss.ts).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The packages loaded after importing `entry` in a fresh process: CommonJS ones from Node's module
 * cache, ES modules from a load hook.
 */
function loadedPackages(entry: string, thenRequire = '', thenImport = '', thenRun = ''): string[] {
  const script = `
    import { createRequire, registerHooks } from 'node:module';
    const esm = [];
    registerHooks({ load(url, context, next) { esm.push(url); return next(url, context); } });
    await import(${JSON.stringify(path.join(ROOT, entry))});
    const require = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
    ${thenRequire ? `require(${JSON.stringify(thenRequire)});` : ''}
    ${thenImport ? `await import(${JSON.stringify(thenImport)});` : ''}
    ${thenRun}
    const files = [...Object.keys(require.cache), ...esm];
    const names = new Set(files.map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
    process.stdout.write(JSON.stringify([...names]));
    process.exit(0);
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })) as string[];
}

describe('lazy loading', () => {
  it('importing the serve command loads neither the Redis client, google-auth-library nor grpc-js', () => {
    const loaded = loadedPackages('src/cli/serve.ts');
    expect(loaded).toContain('protobufjs'); // the probe sees what serve does load
    expect(loaded).not.toContain('ioredis');
    expect(loaded).not.toContain('google-auth-library');
    expect(loaded).not.toContain('@grpc/grpc-js');
    // The OTLP span exporter and its request encoder (ES modules) load when spans are exported.
    expect(loaded).toContain('@opentelemetry/sdk-trace'); // an ES module serve does load: the hook sees them
    expect(loaded).not.toContain('@opentelemetry/otlp-transformer');
    expect(loaded).not.toContain('@opentelemetry/otlp-exporter-base');
  });

  it('exporting spans and metrics over OTLP/gRPC loads the exporters but not grpc-js (their transport is node:http2)', () => {
    const otel = path.join(ROOT, 'src/telemetry/otel.ts');
    const schema = path.join(ROOT, 'src/telemetry/schema.ts');
    const start = `const { startTelemetry } = await import(${JSON.stringify(otel)}); const { telemetrySchema } = await import(${JSON.stringify(schema)});
      const tel = await startTelemetry(telemetrySchema.parse({ traces: { protocol: 'grpc', endpoint: 'http://127.0.0.1:9' }, metrics: { protocol: 'grpc', endpoint: 'http://127.0.0.1:9' } }), { version: 't', env: {} });
      if (!tel.tracesTo.startsWith('otlp grpc') || !tel.metricsTo.startsWith('otlp grpc')) throw new Error(tel.tracesTo + ' ' + tel.metricsTo);`;
    const loaded = loadedPackages('src/cli/serve.ts', '', '', start);
    expect(loaded).toContain('@opentelemetry/otlp-exporter-base');
    expect(loaded).toContain('@opentelemetry/exporter-metrics-otlp-http');
    expect(loaded).not.toContain('@grpc/grpc-js');
  });

  it('the probe can fail: a package required or imported after the import is seen', () => {
    expect(loadedPackages('src/cli/serve.ts', 'ioredis')).toContain('ioredis');
    expect(loadedPackages('src/cli/serve.ts', '@grpc/grpc-js')).toContain('@grpc/grpc-js');
    expect(loadedPackages('src/cli/serve.ts', '', '@opentelemetry/otlp-transformer')).toContain('@opentelemetry/otlp-transformer');
  });
});
