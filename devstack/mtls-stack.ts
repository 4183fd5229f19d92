/**
 * llm-authz behind the real Envoy's mTLS sidecar template (envoy/sidecar-mtls.yaml), with mock
 * OpenAI and Anthropic providers, on loopback: workloads call it with client certificates whose
 * URI SAN is their SPIFFE ID. The caller brings the PKI files, the JWKS location Envoy's
 * jwt_authn verifies against, and the llm-authz config.
 */
import path from 'node:path';
import { startAuthz, type AuthzProcess } from './authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyProcess } from './envoy.ts';
import { startMockProvider, type MockProvider } from './mock-provider.ts';
import { waitFor } from './ports.ts';

export interface MtlsStack {
  readonly authz: AuthzProcess;
  readonly envoy: EnvoyProcess;
  readonly openai: MockProvider;
  readonly anthropic: MockProvider;
  /** Envoy's mTLS listener port. */
  readonly port: number;
  stop(): Promise<void>;
}

export interface MtlsStackOptions {
  readonly workDir: string;
  readonly config: string;
  readonly tls: { readonly serverCert: string; readonly serverKey: string; readonly clientCa: string };
  readonly jwt: { readonly issuer: string; readonly audience: string; readonly jwksPort: number; readonly jwksPath: string };
  readonly env?: NodeJS.ProcessEnv;
}

export interface SidecarMtlsParams {
  readonly ports: { readonly listen: number; readonly admin: number };
  readonly authzPort: number;
  readonly openaiPort: number;
  readonly anthropicPort: number;
  readonly accessLog: string;
  readonly tls: MtlsStackOptions['tls'];
  readonly jwt: MtlsStackOptions['jwt'];
}

/** envoy/sidecar-mtls.yaml rendered for loopback (every address 127.0.0.1). */
export function renderSidecarMtls(p: SidecarMtlsParams): string {
  return renderEnvoyConfig('envoy/sidecar-mtls.yaml', {
    LISTEN_ADDRESS: '127.0.0.1',
    LISTEN_PORT: p.ports.listen,
    ADMIN_ADDRESS: '127.0.0.1',
    ADMIN_PORT: p.ports.admin,
    AUTHZ_ADDRESS: '127.0.0.1',
    AUTHZ_PORT: p.authzPort,
    OPENAI_ADDRESS: '127.0.0.1',
    OPENAI_PORT: p.openaiPort,
    ANTHROPIC_ADDRESS: '127.0.0.1',
    ANTHROPIC_PORT: p.anthropicPort,
    MAX_REQUEST_BYTES: 65536,
    ACCESS_LOG_PATH: p.accessLog,
    TLS_CERT_PATH: p.tls.serverCert,
    TLS_KEY_PATH: p.tls.serverKey,
    CLIENT_CA_PATH: p.tls.clientCa,
    JWT_ISSUER: p.jwt.issuer,
    JWT_AUDIENCE: p.jwt.audience,
    JWKS_ADDRESS: '127.0.0.1',
    JWKS_PORT: p.jwt.jwksPort,
    JWKS_PATH: p.jwt.jwksPath,
  });
}

export async function startMtlsStack(o: MtlsStackOptions): Promise<MtlsStack> {
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const openai = await startMockProvider('openai');
    stops.push(() => openai.close());
    const anthropic = await startMockProvider('anthropic');
    stops.push(() => anthropic.close());
    const authz = await startAuthz({ config: o.config, workDir: o.workDir, env: o.env ?? {} });
    stops.push(() => authz.stop());
    const envoy = await startEnvoy({
      workDir: o.workDir,
      render: (ports) =>
        renderSidecarMtls({
          ports,
          authzPort: authz.port,
          openaiPort: openai.port,
          anthropicPort: anthropic.port,
          accessLog: path.join(o.workDir, 'access.log'),
          tls: o.tls,
          jwt: o.jwt,
        }),
    });
    stops.push(() => envoy.stop());
    await waitFor('Envoy to see llm-authz healthy', async () => ((await envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined));
    return {
      authz,
      envoy,
      openai,
      anthropic,
      port: envoy.ports.listen,
      async stop() {
        for (const s of stops.reverse()) await s().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    throw err;
  }
}
