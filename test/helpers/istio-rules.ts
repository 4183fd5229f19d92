/**
 * Checks for the Istio rules that Istio's CRD schemas do not express (istiod's own validating
 * webhook enforces them; no istiod runs in the tests):
 *   - an AuthorizationPolicy with action CUSTOM names a provider, and that provider is one of the
 *     mesh config's extensionProviders; any other action names none;
 *   - meshConfig.extensionProviders (no CRD at all: a field of Istio's MeshConfig proto) use only
 *     the fields of that proto (read from istio.io/api's mesh/v1alpha1/config.proto, copied by
 *     scripts/tools.sh k8s) and set the required ones.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { crdDir } from '../../devstack/kube-tools.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);

/** A message body without the messages and enums declared inside it (their fields are not its own). */
function withoutNestedTypes(body: string): string {
  let out = body;
  for (let m = /\b(message|enum)\s+\w+\s*\{/.exec(out); m !== null; m = /\b(message|enum)\s+\w+\s*\{/.exec(out)) {
    let depth = 0;
    let i = m.index + m[0].length - 1;
    for (; i < out.length; i++) {
      if (out[i] === '{') depth++;
      else if (out[i] === '}' && --depth === 0) break;
    }
    out = out.slice(0, m.index) + out.slice(i + 1);
  }
  return out;
}

/** The JSON names (lowerCamelCase) of a proto message's fields. */
export function protoMessageFields(protoText: string, message: string): Set<string> {
  const start = protoText.search(new RegExp(`\\bmessage ${message} \\{`));
  if (start < 0) throw new Error(`message ${message} not found in the proto`);
  let depth = 0;
  let end = start;
  for (let i = protoText.indexOf('{', start); i < protoText.length; i++) {
    if (protoText[i] === '{') depth++;
    else if (protoText[i] === '}' && --depth === 0) {
      end = i;
      break;
    }
  }
  const body = withoutNestedTypes(protoText.slice(protoText.indexOf('{', start) + 1, end).replace(/\/\/[^\n]*/g, ''));
  const fields = new Set<string>();
  for (const m of body.matchAll(/^\s*(?:repeated\s+|optional\s+)?[\w.<>, ]+?\s+(\w+)\s*=\s*\d+\s*(?:\[[^\]]*\])?;/gm)) {
    fields.add(m[1]!.replace(/_([a-z0-9])/g, (_x, c: string) => c.toUpperCase()));
  }
  if (fields.size === 0) throw new Error(`message ${message} has no fields: the proto changed shape`);
  return fields;
}

export function meshConfigProto(): string {
  return readFileSync(path.join(crdDir('istio'), 'config.proto'), 'utf8');
}

/** Problems with meshConfig.extensionProviders of an IstioOperator-shaped document (none: []). */
export function checkExtensionProviders(doc: unknown, proto: string): string[] {
  const problems: string[] = [];
  const providers = obj(obj(obj(doc)?.['spec'])?.['meshConfig'])?.['extensionProviders'];
  if (!Array.isArray(providers) || providers.length === 0) return ['spec.meshConfig.extensionProviders: missing or empty'];
  const grpcFields = protoMessageFields(proto, 'EnvoyExternalAuthorizationGrpcProvider');
  const bodyFields = protoMessageFields(proto, 'EnvoyExternalAuthorizationRequestBody');
  const providerKinds = protoMessageFields(proto, 'ExtensionProvider');
  const names = new Set<string>();
  providers.forEach((p, i) => {
    const at = `extensionProviders[${i}]`;
    const o = obj(p) ?? {};
    const name = o['name'];
    if (typeof name !== 'string' || name === '') problems.push(`${at}.name: required`);
    else if (names.has(name)) problems.push(`${at}.name: duplicate '${name}'`);
    else names.add(name);
    const kinds = Object.keys(o).filter((k) => k !== 'name');
    for (const k of kinds) if (!providerKinds.has(k)) problems.push(`${at}.${k}: not a field of ExtensionProvider`);
    if (kinds.length !== 1) problems.push(`${at}: exactly one provider kind expected, found ${kinds.length}`);
    const grpc = obj(o['envoyExtAuthzGrpc']);
    if (grpc === undefined) return;
    for (const k of Object.keys(grpc)) if (!grpcFields.has(k)) problems.push(`${at}.envoyExtAuthzGrpc.${k}: not a field of EnvoyExternalAuthorizationGrpcProvider`);
    if (typeof grpc['service'] !== 'string' || grpc['service'] === '') problems.push(`${at}.envoyExtAuthzGrpc.service: required`);
    const port = grpc['port'];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) problems.push(`${at}.envoyExtAuthzGrpc.port: required, 1-65535`);
    if (grpc['statusOnError'] !== undefined && !/^[1-5]\d\d$/.test(String(grpc['statusOnError']))) problems.push(`${at}.envoyExtAuthzGrpc.statusOnError: an HTTP status`);
    if (grpc['timeout'] !== undefined && !/^\d+(\.\d+)?(ms|s|m|h)$/.test(String(grpc['timeout']))) problems.push(`${at}.envoyExtAuthzGrpc.timeout: a duration`);
    const body = grpc['includeRequestBodyInCheck'];
    if (body !== undefined) {
      for (const k of Object.keys(obj(body) ?? {}))
        if (!bodyFields.has(k)) problems.push(`${at}.envoyExtAuthzGrpc.includeRequestBodyInCheck.${k}: not a field of EnvoyExternalAuthorizationRequestBody`);
    }
  });
  return problems;
}

export function extensionProviderNames(doc: unknown): Set<string> {
  const providers = obj(obj(obj(doc)?.['spec'])?.['meshConfig'])?.['extensionProviders'];
  return new Set((Array.isArray(providers) ? providers : []).map((p) => String(obj(p)?.['name'])));
}

/** Problems with AuthorizationPolicies' action/provider pairing (none: []). */
export function checkAuthorizationPolicies(objects: readonly unknown[], providers: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const d = obj(o);
    if (d?.['kind'] !== 'AuthorizationPolicy') continue;
    const name = String(obj(d['metadata'])?.['name']);
    const spec = obj(d['spec']) ?? {};
    const action = spec['action'] ?? 'ALLOW';
    const provider = obj(spec['provider'])?.['name'];
    if (action === 'CUSTOM') {
      if (typeof provider !== 'string' || provider === '') problems.push(`AuthorizationPolicy ${name}: action CUSTOM needs provider.name`);
      else if (!providers.has(provider))
        problems.push(`AuthorizationPolicy ${name}: provider '${provider}' is not an extension provider of the mesh config (${[...providers].join(', ') || 'none'})`);
    } else if (spec['provider'] !== undefined) {
      problems.push(`AuthorizationPolicy ${name}: action ${String(action)} takes no provider`);
    }
  }
  return problems;
}
