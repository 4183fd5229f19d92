/**
 * Writes the Envoy files derived from envoy/gateway.yaml: envoy/gateway-tls.yaml (TLS to the
 * providers), envoy/gateway-tls-authz.yaml (and mTLS to llm-authz), envoy/gateway-uds.yaml
 * (llm-authz on a Unix domain socket) and
 * examples/quickstart/envoy.yaml (rendered with the quickstart's values).
 *   node scripts/render-envoy.ts      (test/e2e/envoy-configs.test.ts checks they are current)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { QUICKSTART_ENVOY_PARAMS, renderTemplate, withTlsUpstreams } from '../devstack/envoy.ts';
import { ROOT } from '../devstack/tools.ts';
import { withAuthzTls } from '../devstack/envoy-variants.ts';
import { withAuthzPipe } from '../devstack/envoy-uds.ts';

const gateway = readFileSync(path.join(ROOT, 'envoy/gateway.yaml'), 'utf8');
const gatewayTls = withTlsUpstreams(gateway);
writeFileSync(path.join(ROOT, 'envoy/gateway-tls.yaml'), gatewayTls);
writeFileSync(path.join(ROOT, 'envoy/gateway-tls-authz.yaml'), withAuthzTls(gatewayTls));
writeFileSync(path.join(ROOT, 'envoy/gateway-uds.yaml'), withAuthzPipe(gateway));
writeFileSync(path.join(ROOT, 'examples/quickstart/envoy.yaml'), renderTemplate(gateway, QUICKSTART_ENVOY_PARAMS));
process.stdout.write('wrote envoy/gateway-tls.yaml, envoy/gateway-tls-authz.yaml, envoy/gateway-uds.yaml and examples/quickstart/envoy.yaml\n');
