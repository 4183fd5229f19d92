/**
 * The no-op floor on serve's gRPC transport (src/server/grpc-h2.ts on src/server/http2/), the counterpart of
 * bench/floor.ts on grpc-js with the same work per call: the request decoded by the same
 * proto-loader deserializer over the same Envoy protos, the same constant OK response serialized
 * by proto-loader. Differences between the two floors are the transport's.
 *   node bench/proto-h2/out/bench/proto-h2/floor-h2.js [--listen 127.0.0.1:0] [--route openai]
 * Prints {"port": N} on stdout once listening.
 */
import { parseArgs } from 'node:util';
import { authorizationService } from '../../src/envoy/proto.ts';
import { parseListen } from '../../src/core/listen.ts';
import { CONNECTION_WINDOW_BYTES, createGrpcServer, MAX_MESSAGE_BYTES, STREAM_WINDOW_BYTES } from '../../src/server/grpc-h2.ts';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' }, route: { type: 'string' } } });
const method = authorizationService().Check;
const OK = values.route
  ? { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-llm-authz-route', value: values.route }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] } }
  : { status: { code: 0 } };
const server = createGrpcServer(
  {
    '/envoy.service.auth.v3.Authorization/Check': {
      kind: 'unary',
      handle: (message) => {
        method.requestDeserialize(message);
        return method.responseSerialize(OK);
      },
    },
  },
  { maxMessageBytes: MAX_MESSAGE_BYTES, streamWindowBytes: STREAM_WINDOW_BYTES, connectionWindowBytes: CONNECTION_WINDOW_BYTES },
);
const listen = parseListen(values.listen ?? '127.0.0.1:0');
if (!listen.ok) throw new Error(listen.problem);
const port = await server.listen(listen.value);
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.on('SIGTERM', () => {
  void server.close(1000).then(() => process.exit(0));
});
