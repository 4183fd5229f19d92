/** A gRPC client for llm-authz's Check and Health services, with Envoy's own protos. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { authorizationService, PROTO_LOADER_OPTIONS } from '../src/envoy/proto.ts';

export { checkRequest } from '../src/envoy/check-request.ts';

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => grpc.ClientUnaryCall;

export interface AuthzClient {
  check(req: unknown, opts?: { metadata?: grpc.Metadata; deadlineMs?: number }): Promise<Record<string, unknown>>;
  health(service?: string): Promise<string>;
  /** Sends raw bytes as a Check request (for malformed-protobuf tests). */
  checkRaw(bytes: Buffer): Promise<Buffer>;
  close(): void;
}

export function createAuthzClient(address: string): AuthzClient {
  const AuthzCtor = grpc.makeGenericClientConstructor(authorizationService(), 'Authorization');
  const authz = new AuthzCtor(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: Unary };
  const healthDef = protoLoader.loadSync(healthProtoPath, PROTO_LOADER_OPTIONS)['grpc.health.v1.Health'];
  const HealthCtor = grpc.makeGenericClientConstructor(healthDef as grpc.ServiceDefinition, 'Health');
  const health = new HealthCtor(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: Unary };
  const deadline = (ms: number): Date => new Date(Date.now() + ms);
  return {
    check(req, opts = {}) {
      return new Promise((resolve, reject) => {
        authz.Check(req, opts.metadata ?? new grpc.Metadata(), { deadline: deadline(opts.deadlineMs ?? 10_000) }, (err, res) =>
          err ? reject(err) : resolve(res as Record<string, unknown>),
        );
      });
    },
    health(service = '') {
      return new Promise((resolve, reject) => {
        health.Check({ service }, new grpc.Metadata(), { deadline: deadline(5_000) }, (err, res) => (err ? reject(err) : resolve(String((res as { status?: unknown }).status))));
      });
    },
    checkRaw(bytes) {
      return new Promise((resolve, reject) => {
        authz.makeUnaryRequest(
          '/envoy.service.auth.v3.Authorization/Check',
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          new grpc.Metadata(),
          { deadline: deadline(5_000) },
          (err, res) => (err ? reject(err) : resolve(res as Buffer)),
        );
      });
    },
    close() {
      authz.close();
      health.close();
    },
  };
}

/**
 * A CheckRequest encoded as one gRPC message frame (uncompressed flag, length, message), for
 * clients that send raw bytes over HTTP/2 (load generators, window tests).
 */
export function checkRequestFrame(request: unknown): Buffer {
  const msg = authorizationService()['Check']!.requestSerialize(request);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}
