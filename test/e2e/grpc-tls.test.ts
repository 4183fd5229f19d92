/**
 * Gateway mode: llm-authz's gRPC listener with mTLS (server.tls with client_ca), its files in a
 * Secret-style volume, and a gateway Envoy on envoy/gateway-tls-authz.yaml reaching it across
 * the "network" with its client certificate. A client without a valid certificate is refused
 * (none, another CA's, plaintext), Envoy with a foreign certificate fails closed (503), and a
 * certificate swapped in kubelet-style is served to new connections without a restart.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeletVolume, type KubeletVolume } from '../../devstack/kubelet-volume.ts';
import { createCa, loopbackServerCert, type IssuedCert } from '../../devstack/pki.ts';
import { startAuthz, type AuthzProcess } from '../../devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyProcess } from '../../devstack/envoy.ts';
import { startMockProvider, type MockProvider } from '../../devstack/mock-provider.ts';
import { waitFor } from '../../devstack/ports.ts';
import { PROTO_LOADER_OPTIONS } from '../../src/envoy/proto.ts';
import { CHAT_KEY, OPENAI_PROVIDER_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { rememberPrivateKeyPem } from '../helpers/suite-secrets.ts';

const work = newWorkDir('grpc-tls');
const ca = createCa(path.join(work, 'pki'), 'ca', 'llm-authz listener CA');
const server = loopbackServerCert(ca, 'server');
const client = ca.issue('envoy-client', '/CN=llm-gateway', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']);
const rogueCa = createCa(path.join(work, 'rogue'), 'rogue', 'another CA');
const rogueClient = rogueCa.issue('rogue-client', '/CN=llm-gateway', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']);
for (const k of [server, client, rogueClient]) rememberPrivateKeyPem(`grpc-tls ${path.basename(k.key)}`, readFileSync(k.key, 'utf8'));

type HealthClient = grpc.Client & { Check(req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status?: string }) => void): void };

function health(port: number, creds: grpc.ChannelCredentials): Promise<string> {
  const def = protoLoader.loadSync(healthProtoPath, PROTO_LOADER_OPTIONS)['grpc.health.v1.Health'] as grpc.ServiceDefinition;
  const Ctor = grpc.makeGenericClientConstructor(def, 'Health');
  // The certificate names localhost; the channel dials 127.0.0.1.
  const c = new Ctor(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }) as unknown as HealthClient;
  return new Promise<string>((resolve, reject) => {
    c.Check({ service: '' }, new grpc.Metadata(), { deadline: new Date(Date.now() + 5000) }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(String(res?.status));
    });
  });
}

const tlsCreds = (cert?: IssuedCert): grpc.ChannelCredentials =>
  grpc.credentials.createSsl(readFileSync(ca.cert), cert ? readFileSync(cert.key) : null, cert ? readFileSync(cert.cert) : null);

/** The serial number of the certificate the listener serves to a new connection. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key), ALPNProtocols: ['h2'] },
      () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.end();
      },
    );
    s.on('error', reject);
  });
}

describe("mTLS on llm-authz's gRPC listener", () => {
  let tls: KubeletVolume;
  let authz: AuthzProcess;
  const mocks: MockProvider[] = [];

  beforeAll(async () => {
    tls = kubeletVolume(path.join(work, 'tls'), { 'tls.crt': readFileSync(server.cert), 'tls.key': readFileSync(server.key), 'ca.crt': readFileSync(ca.cert) });
    const config = quickstartConfigWith(work, (cfg) => {
      cfg['server'] = { ...cfg['server'], tls: { cert: path.join(tls.dir, 'tls.crt'), key: path.join(tls.dir, 'tls.key'), client_ca: path.join(tls.dir, 'ca.crt') } };
    });
    authz = await startAuthz({ config, workDir: work });
  });
  afterAll(async () => {
    await authz?.stop();
    for (const m of mocks) await m.close();
  });

  it('says so at start', () => {
    expect(authz.logs().find((l) => l['msg'] === 'llm-authz serving')).toMatchObject({ tls: 'mtls' });
  });

  it('answers a client with a certificate of its client CA', async () => {
    expect(await health(authz.port, tlsCreds(client))).toBe('SERVING');
  });

  it.each([
    ['without a certificate', () => tlsCreds()],
    ["with another CA's certificate", () => grpc.credentials.createSsl(readFileSync(ca.cert), readFileSync(rogueClient.key), readFileSync(rogueClient.cert))],
    ['in plaintext', () => grpc.credentials.createInsecure()],
  ])('refuses a client %s', async (_label, creds) => {
    const err = await health(authz.port, creds()).then(
      () => undefined,
      (e: unknown) => e as grpc.ServiceError,
    );
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
  });

  async function gateway(name: string, cert: IssuedCert): Promise<EnvoyProcess> {
    if (mocks.length === 0) for (const kind of ['openai', 'anthropic', 'gemini', 'azure-openai'] as const) mocks.push(await startMockProvider(kind, '127.0.0.1', server));
    const [openai, anthropic, gemini, azure] = mocks as [MockProvider, MockProvider, MockProvider, MockProvider];
    return startEnvoy({
      name,
      workDir: work,
      render: (ports) =>
        renderEnvoyConfig('envoy/gateway-tls-authz.yaml', {
          LISTEN_ADDRESS: '127.0.0.1',
          LISTEN_PORT: ports.listen,
          ADMIN_ADDRESS: '127.0.0.1',
          ADMIN_PORT: ports.admin,
          AUTHZ_ADDRESS: 'localhost',
          AUTHZ_PORT: authz.port,
          AUTHZ_SNI: 'localhost',
          AUTHZ_CA_PATH: ca.cert,
          AUTHZ_CLIENT_CERT_PATH: cert.cert,
          AUTHZ_CLIENT_KEY_PATH: cert.key,
          OPENAI_ADDRESS: 'localhost',
          OPENAI_PORT: openai.port,
          ANTHROPIC_ADDRESS: 'localhost',
          ANTHROPIC_PORT: anthropic.port,
          GEMINI_ADDRESS: 'localhost',
          GEMINI_PORT: gemini.port,
          AZURE_OPENAI_ADDRESS: 'localhost',
          AZURE_OPENAI_PORT: azure.port,
          BEDROCK_ADDRESS: 'localhost',
          BEDROCK_PORT: openai.port,
          VERTEX_AI_ADDRESS: 'localhost',
          VERTEX_AI_PORT: gemini.port,
          UPSTREAM_CA_PATH: ca.cert,
          MAX_REQUEST_BYTES: 1048576,
          ACCESS_LOG_PATH: path.join(work, `${name}-access.log`),
          OTLP_ADDRESS: '127.0.0.1',
          OTLP_PORT: 9,
        }),
    });
  }

  const chat = (url: string): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CHAT_KEY}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hello' }] }),
    });

  it('a gateway Envoy on envoy/gateway-tls-authz.yaml with its client certificate gets decisions over mTLS', async () => {
    const envoy = await gateway('envoy-mtls', client);
    try {
      await waitFor('llm-authz healthy in Envoy', async () => ((await envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined), 15_000, 100);
      const res = await chat(`http://127.0.0.1:${envoy.ports.listen}`);
      expect(res.status).toBe(200);
      expect(mocks[0]!.requests.at(-1)!.headers['authorization']).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`);
      expect(await envoy.admin('/stats?filter=^cluster\\.llm_authz\\.ssl\\.handshake$')).toMatch(/handshake: [1-9]/);
      // The outcome record's ext_proc stream reaches llm-authz over mTLS too.
      const decisionId = res.headers.get('x-llm-authz-decision-id');
      await waitFor('the outcome record over mTLS', () => authz.outcomes().find((o) => o['decision.id'] === decisionId), 15_000);
      expect(await envoy.admin('/stats?filter=^cluster\\.llm_authz_outcomes\\.ssl\\.handshake$')).toMatch(/handshake: [1-9]/);
    } finally {
      await envoy.stop();
    }
  });

  it('a gateway Envoy with a certificate of another CA is refused by llm-authz and fails closed (503)', async () => {
    const envoy = await gateway('envoy-rogue', rogueClient);
    try {
      const before = mocks[0]!.requests.length;
      const res = await chat(`http://127.0.0.1:${envoy.ports.listen}`);
      expect(res.status).toBe(503);
      expect(mocks[0]!.requests.length).toBe(before);
    } finally {
      await envoy.stop();
    }
  });

  it('serves a certificate swapped in kubelet-style to new connections, without a restart', async () => {
    const first = await servedSerial(authz.port);
    expect(first.toLowerCase()).toBe(readSerial(server.cert));
    const next = loopbackServerCert(ca, 'server-2');
    rememberPrivateKeyPem('grpc-tls server-2.key', readFileSync(next.key, 'utf8'));
    tls.update({ 'tls.crt': readFileSync(next.cert), 'tls.key': readFileSync(next.key), 'ca.crt': readFileSync(ca.cert) });
    await waitFor('the new certificate', async () => ((await servedSerial(authz.port)).toLowerCase() === readSerial(next.cert) ? true : undefined), 10_000, 200);
    expect(authz.logs().some((l) => l['msg'] === 'gRPC listener certificate reloaded')).toBe(true);
    expect(await health(authz.port, tlsCreds(client))).toBe('SERVING');
    expect(authz.child.proc.exitCode).toBeNull();
  });

  it('keeps the last good certificate when the new files do not fit together', async () => {
    const before = await servedSerial(authz.port);
    const other = loopbackServerCert(ca, 'server-3');
    const current = readFileSync(path.join(tls.dir, 'tls.crt'));
    tls.update({ 'tls.crt': current, 'tls.key': readFileSync(other.key), 'ca.crt': readFileSync(ca.cert) });
    await waitFor(
      'the refusal in the log',
      () => (authz.logs().some((l) => l['msg'] === 'gRPC listener TLS files unusable; keeping the last good ones') ? true : undefined),
      10_000,
    );
    expect(await servedSerial(authz.port)).toBe(before);
    expect(await health(authz.port, tlsCreds(client))).toBe('SERVING');
  });
});

function readSerial(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).serialNumber.toLowerCase();
}
