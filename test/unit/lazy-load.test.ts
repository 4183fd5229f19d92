/**
 * What `serve` does not need unless configured is not loaded at start: the Redis client (quotas
 * with a Redis store), google-auth-library (Vertex AI service accounts) and @grpc/grpc-js (the
 * server is on node:http2; grpc-js is the OTLP/gRPC exporters' client, loaded when they are
 * configured). Each costs every idle server memory and start time (ioredis: about 17 MiB of idle
 * RSS, bench/idle-rss.ts).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The CommonJS packages in Node's module cache after importing `entry` in a fresh process. */
function loadedPackages(entry: string, thenRequire = ''): string[] {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(path.join(ROOT, entry))});
    const require = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
    ${thenRequire ? `require(${JSON.stringify(thenRequire)});` : ''}
    const names = new Set(Object.keys(require.cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
    process.stdout.write(JSON.stringify([...names]));
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
  });

  it('the probe can fail: a package required after the import is seen', () => {
    expect(loadedPackages('src/cli/serve.ts', 'ioredis')).toContain('ioredis');
  });
});
