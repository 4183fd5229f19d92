/** A CheckRequest encoded once as a gRPC message frame, for load generators that send raw bytes. */
import { loadAuthorizationPackage } from '../src/envoy/proto.ts';

interface MethodDef {
  requestSerialize(value: unknown): Buffer;
}

export function checkRequestFrame(request: unknown): Buffer {
  const svc = loadAuthorizationPackage()['envoy.service.auth.v3.Authorization'] as unknown as { Check: MethodDef };
  const msg = svc.Check.requestSerialize(request);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt8(0, 0); // not compressed
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}
