/**
 * The e2e suite needs the real Envoy and a built llm-authz. Missing pieces fail the run with
 * a message that says what to install; nothing is skipped.
 */
import { execFileSync } from 'node:child_process';
import { cliEntry, envoyBin } from '../../src/devstack/tools.ts';

export default function setup(): void {
  const envoy = envoyBin();
  const version = execFileSync(envoy, ['--version'], { encoding: 'utf8' }).trim();
  cliEntry();
  process.stderr.write(`[e2e] ${version}\n`);
}
