/**
 * Envoy's ext_authz v3 and ext_proc v3 APIs, loaded once at start from the Envoy API protos that the
 * maintained npm package @grpc/grpc-js-xds ships (deps/envoy-api and its imports).
 * Loading the .proto files (instead of generating code) keeps the wire schema exactly
 * Envoy's, pinned by the package version, with no generated tree to keep in the repo.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { OVERWRITE_IF_EXISTS_OR_ADD, type CheckResponse } from './response.ts';

const require = createRequire(import.meta.url);

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
  arrays: true,
  objects: false,
  oneofs: true,
};

export function envoyProtoIncludeDirs(): string[] {
  const pkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(pkg, 'deps', d));
}

let cached: protoLoader.PackageDefinition | undefined;

export function loadAuthorizationPackage(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: envoyProtoIncludeDirs(),
  });
  return cached;
}

/** The Authorization service definition; it has Check (checked here, once, at start). */
export function authorizationService(): ServiceDefinition & { readonly Check: MethodDefinition<unknown, unknown> } {
  const def = loadAuthorizationPackage()['envoy.service.auth.v3.Authorization'];
  if (def === undefined || !('Check' in def)) {
    throw new Error('envoy.service.auth.v3.Authorization not found in the Envoy API protos');
  }
  return def as unknown as ServiceDefinition & { readonly Check: MethodDefinition<unknown, unknown> };
}

let cachedProcessing: protoLoader.PackageDefinition | undefined;

/** envoy.service.ext_proc.v3.ExternalProcessor (Process: a bidirectional stream), from the same protos. */
export function externalProcessorService(): ServiceDefinition {
  cachedProcessing ??= protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: envoyProtoIncludeDirs(),
  });
  const def = cachedProcessing['envoy.service.ext_proc.v3.ExternalProcessor'];
  if (def === undefined || !('Process' in def)) {
    throw new Error('envoy.service.ext_proc.v3.ExternalProcessor not found in the Envoy API protos');
  }
  return def as unknown as ServiceDefinition;
}

/**
 * The CheckResponse encoder llm-authz answers with: protobufjs's generated encoder on the
 * response object as built (numeric enums), without the fromObject conversion pass that
 * proto-loader's serializer runs first. Same bytes, about 40% less time per response (measured:
 * 9.7 vs 17.1 µs for an allow with headers and dynamic metadata). Loaded once, at start.
 */
export function checkResponseEncoder(): (r: CheckResponse) => Buffer {
  const dirs = envoyProtoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const d of dirs) {
      const file = path.join(d, target);
      if (existsSync(file)) return file;
    }
    return target;
  };
  root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
  root.resolveAll();
  const action = root.lookupEnum('envoy.config.core.v3.HeaderValueOption.HeaderAppendAction').values['OVERWRITE_IF_EXISTS_OR_ADD'];
  if (action !== OVERWRITE_IF_EXISTS_OR_ADD) throw new Error(`HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD is ${String(action)} in the protos, not ${OVERWRITE_IF_EXISTS_OR_ADD}`);
  const type = root.lookupType('envoy.service.auth.v3.CheckResponse');
  return (r) => {
    const bytes = type.encode(r as unknown as protobuf.Message).finish();
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}
