/**
 * The e2e suite needs the real Envoy, the real Jaeger and a built llm-authz. Missing pieces
 * fail the run with a message that says what to install; nothing is skipped.
 *
 * One Jaeger runs for the whole suite: every llm-authz the tests spawn exports its spans to it
 * (OTEL_EXPORTER_OTLP_ENDPOINT in the environment the test processes inherit) and every Envoy
 * the tests start traces to it (test/helpers/telemetry.ts otlpParams()). The last e2e file,
 * suite-secret-scan.test.ts, scans every span in it and every log file under test-results/
 * for the secrets the suite uses; this teardown only stops Jaeger.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startJaeger, type JaegerProcess } from '../../devstack/jaeger.ts';
import { cliEntry, envoyBin, jaegerBin, ROOT } from '../../devstack/tools.ts';
import { ENV_JAEGER_QUERY, ENV_OTLP_GRPC_PORT } from '../helpers/telemetry.ts';

const RESULTS = path.join(ROOT, 'test-results');
/** What test.sh writes itself; everything else under test-results/ is from an earlier run. */
const KEEP = new Set(['vitest.json']);

export default async function setup(): Promise<() => Promise<void>> {
  const envoy = envoyBin();
  const version = execFileSync(envoy, ['--version'], { encoding: 'utf8' }).trim();
  const jaeger = jaegerBin();
  execFileSync(jaeger, ['version'], { stdio: 'ignore' });
  cliEntry();
  process.stderr.write(`[e2e] ${version}\n[e2e] jaeger: ${jaeger}\n`);

  mkdirSync(RESULTS, { recursive: true });
  for (const name of readdirSync(RESULTS)) if (!KEEP.has(name)) rmSync(path.join(RESULTS, name), { recursive: true, force: true });
  const dir = path.join(RESULTS, 'suite-jaeger');
  mkdirSync(dir, { recursive: true });
  let j: JaegerProcess;
  try {
    j = await startJaeger({ workDir: dir });
  } catch (err) {
    throw new Error(`[e2e] the test Jaeger did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.env[ENV_JAEGER_QUERY] = j.queryUrl;
  process.env[ENV_OTLP_GRPC_PORT] = String(j.otlpGrpcPort);
  process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = `http://127.0.0.1:${j.otlpHttpPort}`;
  process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/protobuf';

  return async () => {
    await j.stop();
  };
}
