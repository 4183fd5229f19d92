/**
 * A local OTLP/gRPC sink for the benchmarks: accepts trace and metric exports (from llm-authz
 * and Envoy) and answers each with an empty, valid response, so exporting costs what it costs
 * without a collector's own work in the measurement. Prints {"port": N} once listening.
 */
import * as grpc from '@grpc/grpc-js';

const same = (b: Buffer): Buffer => b;
function exportMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same };
}

let requests = 0;
let bytes = 0;
const handler = (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => {
  requests++;
  bytes += call.request.length;
  cb(null, Buffer.alloc(0));
};

const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
server.addService({ Export: exportMethod('/opentelemetry.proto.collector.trace.v1.TraceService/Export') }, { Export: handler });
server.addService({ Export: exportMethod('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export') }, { Export: handler });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`otlp-sink: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => {
  process.stderr.write(`${JSON.stringify({ requests, bytes })}\n`);
  server.forceShutdown();
});
