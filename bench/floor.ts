/**
 * The floor: a no-op ext_authz server on the same stack (grpc-js, the same Envoy protos, the
 * same proto-loader decoding) that allows every request. What llm-authz costs is measured
 * against it.
 *   node bench/floor.ts --listen 127.0.0.1:0 [--route openai]
 * prints {"port": N} on stdout once listening. With --route, every OK response carries the
 * routing header llm-authz would set (a constant), so the floor can stand in front of Envoy.
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { authorizationService } from '../src/envoy/proto.ts';
import { raiseHttp2Windows } from './http2-window.ts';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' }, route: { type: 'string' } } });
raiseHttp2Windows(); // the same HTTP/2 receive windows as llm-authz's server
const server = new grpc.Server();
const OK = values.route
  ? { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-llm-authz-route', value: values.route }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] } }
  : { status: { code: 0 } };
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
