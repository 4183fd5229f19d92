/**
 * One gRPC call as raw HTTP/2 (node:http2's client, no gRPC library), to see exactly what a server
 * answers: the HTTP status, grpc-status and grpc-message from headers or trailers, the response
 * headers and the body bytes. For protocol edges a gRPC client will not produce (compressed flags,
 * two messages in a unary call, a body that stops, a reset).
 */
import http2 from 'node:http2';

export interface RawAnswer {
  status: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** A gRPC message frame: flag byte, 4-byte big-endian length, the message. */
export function grpcFrame(message: Buffer, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * POSTs `body` to `path` on `target` (http://HOST:PORT) with gRPC's headers (overridden by
 * `headers`). `hold`: the first 3 bytes, then the rest that many ms later; `cancelAfter`: reset
 * the stream that many ms after sending the body.
 */
export function rawGrpcCall(target: string, path: string, headers: Record<string, string>, body: Buffer, o: { hold?: number; cancelAfter?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(target);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const out: RawAnswer = { status: undefined, grpcStatus: undefined, grpcMessage: undefined, headers: {}, body: Buffer.alloc(0) };
    req.on('response', (h) => {
      out.headers = h;
      out.status = h[':status'];
      if (h['grpc-status'] !== undefined) out.grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) out.grpcMessage = String(h['grpc-message']);
    });
    req.on('trailers', (t) => {
      out.grpcStatus = String(t['grpc-status']);
      if (t['grpc-message'] !== undefined) out.grpcMessage = String(t['grpc-message']);
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('close', () => {
      out.body = Buffer.concat(chunks);
      session.close();
      resolve(out);
    });
    if (o.cancelAfter !== undefined) {
      req.write(body);
      setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), o.cancelAfter);
    } else if (o.hold !== undefined) {
      req.write(body.subarray(0, 3));
      setTimeout(() => req.end(body.subarray(3)), o.hold);
    } else req.end(body);
  });
}
