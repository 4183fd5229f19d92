/**
 * Envoy's ext_authz v3 and ext_proc v3 APIs, as the gRPC service definitions serve registers.
 * The types come from proto/envoy-api.json: the Envoy API protos that the maintained npm package
 * @grpc/grpc-js-xds ships (deps/envoy-api and its imports), parsed by scripts/render-protos.ts and
 * written as protobufjs JSON; a test checks that the file is what the pinned package's .proto files
 * give. serve loads the JSON instead of parsing the .proto text at start, and makes no
 * @grpc/proto-loader descriptors of every type (it does not use them). In the bundled CLI
 * (scripts/bundle.ts) that took serve's idle RSS from 90.2 to 82.4 MiB (bench/idle-rss.ts): the
 * parse and the descriptors' encoding were the start-up work hot enough to start V8's optimising
 * compiler, whose code then stayed resident (5.5 MiB of the Node binary's pages), and the
 * descriptors took about 1 MiB of heap.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs/light.js';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type { Options } from '@grpc/proto-loader';
import { encodeCheckResponse, FIELD_NUMBERS } from './response-encoder.ts';
import { OVERWRITE_IF_EXISTS_OR_ADD, type CheckResponse } from './response.ts';

/** How messages become objects (and back): the options of @grpc/proto-loader that llm-authz uses everywhere. */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
  arrays: true,
  objects: false,
  oneofs: true,
};

/** Relative to the package root. */
export const ENVOY_PROTO_FILE = 'proto/envoy-api.json';

/** src/envoy/proto.ts, dist/envoy/proto.js or a bundle in dist/NAME/ -> the package root. */
function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** A new Root of the Envoy types from proto/envoy-api.json, resolved. */
export function readEnvoyProtos(): protobuf.Root {
  const json = JSON.parse(readFileSync(path.join(packageRoot(), ENVOY_PROTO_FILE), 'utf8')) as protobuf.INamespace;
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  return root;
}

let cached: protobuf.Root | undefined;

/** ext_authz and ext_proc, loaded together, once. */
export function envoyProtos(): protobuf.Root {
  cached ??= readEnvoyProtos();
  return cached;
}

/** What @grpc/proto-loader's serializer does: an object to its message's bytes. */
function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
  };
}

/** What @grpc/proto-loader's deserializer does: bytes to an object, with PROTO_LOADER_OPTIONS. */
function deserializer(type: protobuf.Type): (bytes: Buffer) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), PROTO_LOADER_OPTIONS);
}

/** A service's definition for @grpc/grpc-js, shaped as @grpc/proto-loader makes it (without the descriptors). */
function serviceDefinition(root: protobuf.Root, name: string, method: string): ServiceDefinition {
  const service = root.lookup(name);
  if (!(service instanceof protobuf.Service) || service.methods[method] === undefined) {
    throw new Error(`${name}/${method} not found in the Envoy API protos`);
  }
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType;
    const res = m.resolvedResponseType;
    if (req === null || res === null) throw new Error(`${name}/${m.name}: its message types are not in the Envoy API protos`);
    def[m.name] = {
      path: `/${name}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return def as ServiceDefinition;
}

let authorization: (ServiceDefinition & { readonly Check: MethodDefinition<unknown, unknown> }) | undefined;

/** The Authorization service definition; it has Check (checked here, once, at start). */
export function authorizationService(): ServiceDefinition & { readonly Check: MethodDefinition<unknown, unknown> } {
  authorization ??= serviceDefinition(envoyProtos(), 'envoy.service.auth.v3.Authorization', 'Check') as ServiceDefinition & {
    readonly Check: MethodDefinition<unknown, unknown>;
  };
  return authorization;
}

/** envoy.service.ext_proc.v3.ExternalProcessor (Process: a bidirectional stream), from the same protos. */
export function externalProcessorService(): ServiceDefinition {
  return serviceDefinition(envoyProtos(), 'envoy.service.ext_proc.v3.ExternalProcessor', 'Process');
}

/**
 * The CheckResponse encoder llm-authz answers with (response-encoder.ts: one Buffer, no
 * intermediate objects; the same bytes as protobufjs). The field numbers and the header append
 * action it writes are checked against the loaded Envoy protos here, once, at start.
 */
export function checkResponseEncoder(): (r: CheckResponse) => Buffer {
  const problems = encoderMismatches(envoyProtos());
  if (problems.length > 0) throw new Error(`the CheckResponse encoder does not match the Envoy protos: ${problems.join('; ')}`);
  return encodeCheckResponse;
}

function fieldNumber(root: protobuf.Root, typeName: string, field: string): number | undefined {
  const type = root.lookup(typeName);
  return type instanceof protobuf.Type ? type.fields[field]?.id : undefined;
}

/**
 * A map entry's field (`google.protobuf.Struct.FieldsEntry.key`): protobufjs has no entry type, only
 * the map field (`Struct.fields`); an entry's key is field 1 and its value field 2 (protobuf's
 * encoding of maps). Undefined when `typeName` is not the entry of a map field.
 */
function mapEntryNumber(root: protobuf.Root, typeName: string, field: string): number | undefined {
  const i = typeName.lastIndexOf('.');
  const entry = typeName.slice(i + 1);
  if (!entry.endsWith('Entry')) return undefined;
  const parent = root.lookup(typeName.slice(0, i));
  if (!(parent instanceof protobuf.Type)) return undefined;
  const name = entry.slice(0, -'Entry'.length);
  const map = Object.values(parent.fields).find((f) => f instanceof protobuf.MapField && (f.name === name || f.name === name.charAt(0).toLowerCase() + name.slice(1)));
  if (map === undefined) return undefined;
  return field === 'key' ? 1 : field === 'value' ? 2 : undefined;
}

/** Where the encoder's field numbers or append action differ from the protos of `root` (none: it matches). */
export function encoderMismatches(root: protobuf.Root): string[] {
  const problems: string[] = [];
  for (const [name, number] of Object.entries(FIELD_NUMBERS)) {
    const i = name.lastIndexOf('.');
    const found = mapEntryNumber(root, name.slice(0, i), name.slice(i + 1)) ?? fieldNumber(root, name.slice(0, i), name.slice(i + 1));
    if (found !== number) problems.push(`${name} is ${String(found)} in the protos, not ${number}`);
  }
  const actions = root.lookup('envoy.config.core.v3.HeaderValueOption.HeaderAppendAction');
  const action = actions instanceof protobuf.Enum ? actions.values['OVERWRITE_IF_EXISTS_OR_ADD'] : undefined;
  if (action !== OVERWRITE_IF_EXISTS_OR_ADD) problems.push(`HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD is ${String(action)} in the protos, not ${OVERWRITE_IF_EXISTS_OR_ADD}`);
  return problems;
}
