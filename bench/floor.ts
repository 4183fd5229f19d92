/**
 * The floor: a no-op ext_authz server on the same stack (grpc-js, the same Envoy protos, the
 * same proto-loader decoding) that allows every request. What llm-authz costs is measured
 * against it.
 *   node bench/floor.ts --listen 127.0.0.1:0   (prints {"port": N} on stdout once listening)
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { authorizationService } from '../src/envoy/proto.ts';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' } } });
const server = new grpc.Server();
const OK = { status: { code: 0 } };
server.addService(authorizationService(), {
  Check(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
    cb(null, OK);
  },
});
server.bindAsync(values.listen ?? '127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`floor: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
