/** Every Envoy config the project ships passes the real Envoy's `--mode validate`. */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER_CLUSTERS, QUICKSTART_ENVOY_PARAMS, renderTemplate, startEnvoy, withTlsUpstreams } from '../../devstack/envoy.ts';
import { envoyBin, ROOT } from '../../devstack/tools.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { createPki } from '../helpers/identity-pki.ts';
import { withAuthzTls } from '../../devstack/envoy-variants.ts';
import { withAuthzPipe } from '../../devstack/envoy-uds.ts';

const run = promisify(execFile);

/** Parameters for rendering templates; the quickstart values (see examples/quickstart/README.md). */

/** Extra parameters of envoy/sidecar-mtls.yaml; the certificate files are written by beforeAll. */
const PKI_DIR = newWorkDir('validate-pki');
const SIDECAR_MTLS_PARAMS = {
  TLS_CERT_PATH: path.join(PKI_DIR, 'server.crt'),
  TLS_KEY_PATH: path.join(PKI_DIR, 'server.key'),
  CLIENT_CA_PATH: path.join(PKI_DIR, 'ca.crt'),
  JWT_ISSUER: 'https://issuer.example',
  JWT_AUDIENCE: 'llm-authz',
  JWKS_ADDRESS: '127.0.0.1',
  JWKS_PORT: 8443,
  JWKS_PATH: '/jwks.json',
  UPSTREAM_CA_PATH: path.join(PKI_DIR, 'ca.crt'),
  // envoy/gateway-tls-authz.yaml: mTLS to llm-authz (any certificate of the test CA will do here).
  AUTHZ_SNI: 'localhost',
  AUTHZ_CA_PATH: path.join(PKI_DIR, 'ca.crt'),
  AUTHZ_CLIENT_CERT_PATH: path.join(PKI_DIR, 'server.crt'),
  AUTHZ_CLIENT_KEY_PATH: path.join(PKI_DIR, 'server.key'),
  // envoy/gateway-uds.yaml: llm-authz on a Unix domain socket.
  AUTHZ_SOCKET: path.join(PKI_DIR, 'authz.sock'),
};

const templates = readdirSync(path.join(ROOT, 'envoy'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => `envoy/${f}`);
const rendered = ['examples/quickstart/envoy.yaml'];

async function validate(text: string, name: string): Promise<string> {
  const dir = newWorkDir('validate');
  const file = path.join(dir, path.basename(name));
  writeFileSync(file, text);
  const { stdout } = await run(envoyBin(), ['--mode', 'validate', '-c', file, '--log-level', 'warn']);
  return stdout;
}

describe('Envoy configs', () => {
  beforeAll(() => {
    createPki(PKI_DIR);
  });

  it('ships at least one template', () => {
    expect(templates.length).toBeGreaterThan(0);
  });

  it.each(templates)('%s renders and passes envoy --mode validate', async (file) => {
    const text = renderTemplate(readFileSync(path.join(ROOT, file), 'utf8'), { ...QUICKSTART_ENVOY_PARAMS, ...SIDECAR_MTLS_PARAMS });
    expect(text).not.toMatch(/\$\{/);
    expect(await validate(text, file)).toContain('OK');
  });

  it.each(rendered)('%s passes envoy --mode validate', async (file) => {
    expect(await validate(readFileSync(path.join(ROOT, file), 'utf8'), file)).toContain('OK');
  });

  it('examples/quickstart/envoy.yaml is envoy/gateway.yaml rendered with the quickstart values (node scripts/render-envoy.ts)', () => {
    const expected = renderTemplate(readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8'), QUICKSTART_ENVOY_PARAMS);
    expect(readFileSync(path.join(ROOT, 'examples/quickstart/envoy.yaml'), 'utf8')).toBe(expected);
  });

  it('envoy/gateway-tls.yaml is envoy/gateway.yaml with TLS to every provider (node scripts/render-envoy.ts)', () => {
    const expected = withTlsUpstreams(readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8'));
    expect(readFileSync(path.join(ROOT, 'envoy/gateway-tls.yaml'), 'utf8')).toBe(expected);
    expect(expected.match(/UpstreamTlsContext/g)).toHaveLength(PROVIDER_CLUSTERS.length);
    expect(PROVIDER_CLUSTERS).toHaveLength(6);
  });

  it('envoy/gateway-uds.yaml is envoy/gateway.yaml reaching llm-authz on a Unix socket (node scripts/render-envoy.ts)', () => {
    const expected = withAuthzPipe(readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8'));
    expect(readFileSync(path.join(ROOT, 'envoy/gateway-uds.yaml'), 'utf8')).toBe(expected);
    expect(expected).not.toContain('AUTHZ_PORT');
  });

  it('envoy/gateway-tls-authz.yaml is envoy/gateway-tls.yaml with mTLS to llm-authz (node scripts/render-envoy.ts)', () => {
    const expected = withAuthzTls(readFileSync(path.join(ROOT, 'envoy/gateway-tls.yaml'), 'utf8'));
    expect(readFileSync(path.join(ROOT, 'envoy/gateway-tls-authz.yaml'), 'utf8')).toBe(expected);
    // One per provider cluster, and llm-authz twice: Check's cluster and the outcome records' ext_proc cluster.
    expect(expected.match(/UpstreamTlsContext/g)).toHaveLength(PROVIDER_CLUSTERS.length + 2);
  });

  it('rejects a config with an unknown field (the validation is real)', async () => {
    const text = renderTemplate(readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8'), QUICKSTART_ENVOY_PARAMS).replace(
      'clear_route_cache: true',
      'clear_route_cache: true\n              no_such_field: 1',
    );
    await expect(validate(text, 'broken.yaml')).rejects.toThrow(/no_such_field/);
  });

  it('starts Envoy again on new ports when a port picked free was taken before Envoy bound it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    const listenPorts: number[] = [];
    const dir = newWorkDir('envoy-port-taken');
    const envoy = await startEnvoy({
      workDir: dir,
      name: 'port-taken',
      render: (ports) => {
        listenPorts.push(listenPorts.length === 0 ? taken : ports.listen);
        return renderTemplate(readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8'), {
          ...QUICKSTART_ENVOY_PARAMS,
          LISTEN_PORT: listenPorts.at(-1)!,
          ADMIN_PORT: ports.admin,
          ACCESS_LOG_PATH: path.join(dir, 'access.log'),
        });
      },
    });
    try {
      expect(listenPorts).toHaveLength(2);
      expect(envoy.ports.listen).toBe(listenPorts[1]);
      expect(await envoy.admin('/ready')).toContain('LIVE');
    } finally {
      await envoy.stop();
      blocker.close();
    }
  });
});
