/**
 * proto/envoy-api.json: the Envoy API types llm-authz speaks (ext_authz v3 and ext_proc v3 with
 * everything they import), parsed from the .proto files that @grpc/grpc-js-xds ships (pinned in
 * package.json) and written as protobufjs JSON. serve loads this file instead of parsing the
 * .proto text at start (src/envoy/proto.ts):
 *   node scripts/render-protos.ts      (test/unit/envoy-protos.test.ts checks it is current)
 */
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ENVOY_PROTO_FILE } from '../src/envoy/proto.ts';

const require = createRequire(import.meta.url);

/** The .proto files serve needs; their imports come along. */
export const ENVOY_PROTO_ROOTS = ['envoy/service/auth/v3/external_auth.proto', 'envoy/service/ext_proc/v3/external_processor.proto'];

export function envoyProtoIncludeDirs(): string[] {
  const pkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(pkg, 'deps', d));
}

/** Google's well-known protos that protobufjs does not register itself, as @grpc/proto-loader registers them. */
function addCommonProtos(): void {
  for (const name of ['api', 'descriptor', 'source_context', 'type']) {
    const json = require(`protobufjs/google/protobuf/${name}.json`) as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } } };
    protobuf.common(name, json.nested.google.nested.protobuf.nested ?? {});
  }
}

/**
 * The Envoy protos parsed from their .proto text, as @grpc/proto-loader loads them (its include
 * path resolution and well-known protos; field names as written: keepCase).
 */
export function parseEnvoyProtoFiles(): protobuf.Root {
  addCommonProtos();
  const dirs = envoyProtoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const d of dirs) {
      const f = path.join(d, target);
      if (existsSync(f)) return f;
    }
    return target;
  };
  root.loadSync(ENVOY_PROTO_ROOTS, { keepCase: true });
  root.resolveAll();
  return root;
}

export function envoyProtoJson(): string {
  return `${JSON.stringify(parseEnvoyProtoFiles().toJSON())}\n`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  writeFileSync(path.join(root, ENVOY_PROTO_FILE), envoyProtoJson());
  process.stdout.write(`wrote ${ENVOY_PROTO_FILE}\n`);
}
