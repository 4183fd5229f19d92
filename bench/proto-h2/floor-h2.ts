/**
 * Prototype (bench only): the no-op floor on node:http2 (grpc-h2.ts), the counterpart of
 * bench/floor.ts on grpc-js with the same work per call: the request decoded by the same
 * proto-loader deserializer over the same Envoy protos, the same constant OK response serialized
 * by proto-loader. Differences between the two floors are the transport's.
 *   node bench/proto-h2/out/bench/proto-h2/floor-h2.js [--listen 127.0.0.1:0] [--route openai]
 * Prints {"port": N} on stdout once listening.
 */
import { parseArgs } from 'node:util';
import { authorizationService } from '../../src/envoy/proto.ts';
import { createGrpcH2Server } from './grpc-h2.ts';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' }, route: { type: 'string' } } });
const method = authorizationService().Check;
const OK = values.route
  ? { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-llm-authz-route', value: values.route }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] } }
  : { status: { code: 0 } };
const server = createGrpcH2Server(
  {
    '/envoy.service.auth.v3.Authorization/Check': (message) => {
      method.requestDeserialize(message);
      return method.responseSerialize(OK);
    },
  },
  { streamWindowBytes: 4 * 1024 * 1024, connectionWindowBytes: 16 * 1024 * 1024 },
);
const listen = values.listen ?? '127.0.0.1:0';
const i = listen.lastIndexOf(':');
server.listen(Number(listen.slice(i + 1)), listen.slice(0, i), () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : -1 })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
