/**
 * Envoy's ext_authz v3 API, loaded once at start from the Envoy API protos that the
 * maintained npm package @grpc/grpc-js-xds ships (deps/envoy-api and its imports).
 * Loading the .proto files (instead of generating code) keeps the wire schema exactly
 * Envoy's, pinned by the package version, with no generated tree to keep in the repo.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/grpc-js';

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

export function authorizationService(): ServiceDefinition {
  const def = loadAuthorizationPackage()['envoy.service.auth.v3.Authorization'];
  if (def === undefined || !('Check' in def)) {
    throw new Error('envoy.service.auth.v3.Authorization not found in the Envoy API protos');
  }
  return def as unknown as ServiceDefinition;
}
