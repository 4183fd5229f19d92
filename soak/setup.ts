/**
 * The soak's world: the local stack (mock providers, llm-authz, the gateway Envoy) on a config
 * with a key store, a JWT issuer (a JWKS server whose keys rotate), a SPIFFE trust domain and a
 * watched policy folder, plus a second Envoy with an mTLS listener (envoy/sidecar-mtls.yaml) for
 * the SPIFFE callers. Everything on loopback, in one work folder.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Agent as HttpsAgent } from 'node:https';
import { keys } from '../src/cli/keys.ts';
import { startEnvoy, type EnvoyProcess } from '../devstack/envoy.ts';
import { renderSidecarMtls } from '../devstack/mtls-stack.ts';
import { freePort } from '../devstack/ports.ts';
import { startStack, type Stack } from '../devstack/stack.ts';
import { ROOT } from '../devstack/tools.ts';
import { createPki } from '../test/helpers/identity-pki.ts';
import { signingKey, signToken, type SigningKey } from '../test/helpers/identity.ts';
import { startJwksServer, type JwksServer } from '../test/helpers/jwks-server.ts';

export const JWT_ISSUER = 'https://jwt.soak.test';
export const TRUST_DOMAIN = 'soak.test';
export const ALLOWED_SPIFFE = `spiffe://${TRUST_DOMAIN}/ns/apps/sa/chat`;
export const DENIED_SPIFFE = `spiffe://${TRUST_DOMAIN}/ns/apps/sa/denied`;

export interface SoakWorld {
  readonly dir: string;
  readonly stack: Stack;
  readonly mtls: EnvoyProcess;
  readonly jwks: JwksServer;
  readonly metricsPort: number;
  readonly store: string;
  readonly policies: string;
  /** mTLS clients (keep-alive agents with a client certificate each). */
  readonly spiffeAgents: { readonly allowed: HttpsAgent; readonly denied: HttpsAgent };
  /** The current API key (replaced by rotations) and its id. */
  apiKey: { id: string; key: string };
  /** The current JWT (re-signed when the issuer's key rotates). */
  token: string;
  signing: SigningKey;
  stop(): Promise<void>;
}

export const POLICY = (generation: number): string => `# generation ${generation}
rules:
  - id: identified
    effect: allow
    when: identity.workload != "" && llm.operation != "unknown"
  - id: no-gpt-4-1-for-jwt-callers
    effect: deny
    reason: model_not_allowed
    when: identity.method == "jwt" && llm.model == "gpt-4.1"
  - id: denied-workload
    effect: deny
    when: identity.workload == "${DENIED_SPIFFE}"
`;

/** `llm-authz keys ...` in process; returns what it printed on stdout. */
export async function keysCli(args: string[]): Promise<string> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const stderr = process.stderr.write.bind(process.stderr);
  process.stderr.write = () => true;
  try {
    await keys(args, out);
  } finally {
    process.stderr.write = stderr;
  }
  return chunks.join('');
}

export function printedKey(text: string): { id: string; key: string } {
  const id = /^id: (\S+)$/m.exec(text)?.[1];
  const key = /^key: (\S+)$/m.exec(text)?.[1];
  if (id === undefined || key === undefined) throw new Error('keys printed no key');
  return { id, key };
}

export async function setupSoak(dir: string): Promise<SoakWorld> {
  mkdirSync(dir, { recursive: true });
  const pki = createPki(path.join(dir, 'pki'));
  const signing = await signingKey('soak-1', 'ES256');
  const jwks = await startJwksServer([signing.publicJwk], '/jwks.json');
  jwks.setKeys([], '/envoy-jwks.json');
  const metricsPort = await freePort();
  const store = path.join(dir, 'keys.json');
  const apiKey = printedKey(await keysCli(['create', '--store', store, '--workload', 'key-app', '--models', 'gpt-4o-mini']));
  const policies = path.join(dir, 'policies');
  mkdirSync(policies, { recursive: true });
  writeFileSync(path.join(policies, '10-rules.yaml'), POLICY(0));
  const secrets = path.join(ROOT, 'examples/quickstart/secrets');
  const config = path.join(dir, 'llm-authz.yaml');
  writeFileSync(
    config,
    `providers:
  - {name: openai, api: openai, credential: {file: ${path.join(secrets, 'openai-api-key')}}}
  - {name: anthropic, api: anthropic, credential: {file: ${path.join(secrets, 'anthropic-api-key')}}}
identity:
  key_store: {file: ${store}, reload_interval_ms: 500}
  jwt:
    issuers:
      - {issuer: "${JWT_ISSUER}", audiences: [llm-authz], jwks: {url: "${jwks.url}", cooldown_s: 1, timeout_ms: 2000}}
  spiffe: {trust_domains: [${TRUST_DOMAIN}]}
policy: {dir: ${policies}, watch: true}
decision_log: {sink: ${path.join(dir, 'decisions.jsonl')}}
telemetry:
  traces: {exporter: none}
  metrics: {prometheus: {listen: "127.0.0.1:${metricsPort}"}}
`,
  );
  const stack = await startStack({ config, workDir: dir });
  const mtls = await startEnvoy({
    workDir: dir,
    name: 'envoy-mtls',
    render: (ports) =>
      renderSidecarMtls({
        ports,
        authzPort: stack.authz.port,
        openaiPort: stack.openai.port,
        anthropicPort: stack.anthropic.port,
        accessLog: path.join(dir, 'mtls-access.log'),
        tls: { serverCert: pki.serverCert, serverKey: pki.serverKey, clientCa: pki.caCert },
        jwt: { issuer: 'https://envoy.soak.test', audience: 'llm-authz', jwksPort: jwks.port, jwksPath: '/envoy-jwks.json' },
      }),
  });
  const agent = (name: string, id: string): HttpsAgent => {
    const c = pki.client(name, id);
    return new HttpsAgent({ keepAlive: true, maxSockets: 32, cert: readFileSync(c.cert), key: readFileSync(c.key), ca: readFileSync(pki.caCert) });
  };
  const spiffeAgents = { allowed: agent('chat', ALLOWED_SPIFFE), denied: agent('denied', DENIED_SPIFFE) };
  const world: SoakWorld = {
    dir,
    stack,
    mtls,
    jwks,
    metricsPort,
    store,
    policies,
    spiffeAgents,
    apiKey,
    signing,
    token: await signToken(signing, { iss: JWT_ISSUER, aud: 'llm-authz', sub: 'jwt-app' }),
    async stop() {
      spiffeAgents.allowed.destroy();
      spiffeAgents.denied.destroy();
      await mtls.stop();
      await stack.stop({ keep: true });
      await jwks.close();
    },
  };
  return world;
}
