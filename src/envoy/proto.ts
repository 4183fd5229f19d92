/**
 * Envoy's ext_authz v3 and ext_proc v3 APIs, loaded once at start from the Envoy API protos that the
 * maintained npm package @grpc/grpc-js-xds ships (deps/envoy-api and its imports).
 * Loading the .proto files (instead of generating code) keeps the wire schema exactly
 * Envoy's, pinned by the package version, with no generated tree to keep in the repo.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { encodeCheckResponse, FIELD_NUMBERS } from './response-encoder.ts';
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

/**
 * ext_authz and ext_proc, loaded together: they import mostly the same Envoy files, which one
 * load parses once (two loads held 3 MiB more of a serving process's memory).
 */
export function loadAuthorizationPackage(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync(['envoy/service/auth/v3/external_auth.proto', 'envoy/service/ext_proc/v3/external_processor.proto'], {
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

/** envoy.service.ext_proc.v3.ExternalProcessor (Process: a bidirectional stream), from the same protos. */
export function externalProcessorService(): ServiceDefinition {
  const def = loadAuthorizationPackage()['envoy.service.ext_proc.v3.ExternalProcessor'];
  if (def === undefined || !('Process' in def)) {
    throw new Error('envoy.service.ext_proc.v3.ExternalProcessor not found in the Envoy API protos');
  }
  return def as unknown as ServiceDefinition;
}

interface Descriptor {
  readonly name?: string;
  readonly field?: readonly { readonly name: string; readonly number: number }[];
  readonly nestedType?: readonly Descriptor[];
  readonly enumType?: readonly { readonly name: string; readonly value: readonly { readonly name: string; readonly number: number }[] }[];
}

/** A message's descriptor in the loaded package; a map entry (`Struct.FieldsEntry`) is a nested type of its message. */
function descriptorOf(pkg: protoLoader.PackageDefinition, typeName: string): Descriptor | undefined {
  const def = pkg[typeName];
  if (def !== undefined && 'type' in def) return def.type as Descriptor;
  const i = typeName.lastIndexOf('.');
  const parent = i > 0 ? descriptorOf(pkg, typeName.slice(0, i)) : undefined;
  const nested = typeName.slice(i + 1);
  // proto-loader names a map entry after its field (`Fields`), protoc after the entry (`FieldsEntry`).
  return parent?.nestedType?.find((n) => n.name === nested || `${n.name}Entry` === nested);
}

/**
 * The CheckResponse encoder llm-authz answers with (response-encoder.ts: one Buffer, no
 * intermediate objects; the same bytes as protobufjs). The field numbers and the header append
 * action it writes are checked against the loaded Envoy protos here, once, at start.
 */
export function checkResponseEncoder(): (r: CheckResponse) => Buffer {
  const problems = encoderMismatches(loadAuthorizationPackage());
  if (problems.length > 0) throw new Error(`the CheckResponse encoder does not match the Envoy protos: ${problems.join('; ')}`);
  return encodeCheckResponse;
}

/** Where the encoder's field numbers or append action differ from the protos of `pkg` (none: it matches). */
export function encoderMismatches(pkg: protoLoader.PackageDefinition): string[] {
  const problems: string[] = [];
  for (const [name, number] of Object.entries(FIELD_NUMBERS)) {
    const i = name.lastIndexOf('.');
    const found = descriptorOf(pkg, name.slice(0, i))?.field?.find((f) => f.name === name.slice(i + 1))?.number;
    if (found !== number) problems.push(`${name} is ${String(found)} in the protos, not ${number}`);
  }
  const action = descriptorOf(pkg, 'envoy.config.core.v3.HeaderValueOption')
    ?.enumType?.find((e) => e.name === 'HeaderAppendAction')
    ?.value.find((v) => v.name === 'OVERWRITE_IF_EXISTS_OR_ADD')?.number;
  if (action !== OVERWRITE_IF_EXISTS_OR_ADD) problems.push(`HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD is ${String(action)} in the protos, not ${OVERWRITE_IF_EXISTS_OR_ADD}`);
  return problems;
}
