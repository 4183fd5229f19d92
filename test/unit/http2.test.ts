/**
 * The HTTP/2 server connection under the gRPC transport (src/server/http2/): HPACK against the
 * RFC 7541 examples and against nghttp2's encoder (node:http2's client), and the framing with raw
 * bytes on a socket: settings and pings, header blocks split over CONTINUATION with padding, both
 * directions' flow control, the limits on a peer (concurrent streams, stream resets) and each
 * protocol error's GOAWAY code.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcFrame } from '../../devstack/grpc-raw.ts';
import { parseListen } from '../../src/core/listen.ts';
import { ErrorCode, Flag, FrameType, MAX_BUFFERED_OUT, MAX_STREAMS, RESET_BURST, frame } from '../../src/server/http2/connection.ts';
import { encodeHeaders, HpackDecoder, HpackError } from '../../src/server/http2/hpack.ts';
import { createGrpcServer, type GrpcServer, type Method } from '../../src/server/grpc-h2.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer, max = 64 * 1024): [string, string][] {
  const out: [string, string][] = [];
  d.decode(block, { field: (n, v) => out.push([n, v]) }, max);
  return out;
}

describe('HPACK decoding', () => {
  it('reads the RFC 7541 C.3 and C.4 request sequences (without and with Huffman) through the dynamic table', () => {
    for (const blocks of [
      ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'],
      ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'],
    ]) {
      const d = new HpackDecoder();
      expect(decode(d, hex(blocks[0] as string))).toEqual([
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
      ]);
      expect(d.tableSize).toBe(57);
      expect(decode(d, hex(blocks[1] as string)).at(-1)).toEqual(['cache-control', 'no-cache']);
      expect(d.tableSize).toBe(110);
      expect(decode(d, hex(blocks[2] as string))).toEqual([
        [':method', 'GET'],
        [':scheme', 'https'],
        [':path', '/index.html'],
        [':authority', 'www.example.com'],
        ['custom-key', 'custom-value'],
      ]);
      expect([d.tableSize, d.tableLength]).toEqual([164, 3]);
    }
    // The second block refers to the first one's table entry: without it, it cannot be read.
    expect(() => decode(new HpackDecoder(), hex('8286 84be 5886 a8eb 1064 9cbf'))).toThrow(HpackError);
  });

  it('evicts the oldest entries from a small table (RFC 7541 C.6, 256 bytes)', () => {
    const d = new HpackDecoder(256);
    d.decode(hex('3f e1 01'), { field: () => undefined }, 1024); // a table size update to 256
    expect(decode(d, hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'))).toEqual([
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    expect(d.tableSize).toBe(222);
    expect(decode(d, hex('4883 640e ff c1 c0 bf'))).toEqual([
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    // ":status: 302" went out to make room for ":status: 307".
    expect([d.tableSize, d.tableLength]).toEqual([222, 4]);
  });

  it('refuses malformed blocks with an HpackError: index 0 or past the tables, bad Huffman padding, EOS, oversized lists and table updates', () => {
    const bad = ['80', 'ff 00', '41 81 00', '41 84 ff ff ff ff', '41 8c f1e3c2e5f23a6ba0ab90f400', '3f e2 1f', '41 05 61 62'];
    for (const b of bad) expect(() => decode(new HpackDecoder(), hex(b)), b).toThrow(HpackError);
    // A list larger than allowed, counted as HPACK counts it (32 bytes per field more).
    const big = encodeHeaders([['x-a', 'a'.repeat(100)]]);
    expect(() => decode(new HpackDecoder(), big, 100)).toThrow(HpackError);
    expect(decode(new HpackDecoder(), big, 200)).toEqual([['x-a', 'a'.repeat(100)]]);
  });

  it('encodes response headers that it and nghttp2 read back: static entries indexed, the rest literal', () => {
    const fields: [string, string][] = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '13'],
      ['grpc-message', 'x'.repeat(300)],
    ];
    const block = encodeHeaders(fields);
    expect(block[0]).toBe(0x88); // ":status: 200" is static entry 8
    expect(decode(new HpackDecoder(), block)).toEqual(fields);
  });
});

const LOOPBACK = parseListen('127.0.0.1:0');
if (!LOOPBACK.ok) throw new Error(LOOPBACK.problem);
const loopback = LOOPBACK.value;

const servers: GrpcServer[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

const ECHO_HEADERS = '/test.Echo/Headers';
const SIZED = '/test.Echo/Sized';
const BIG = '/test.Echo/Big';
const methods: Record<string, Method> = {
  // The call's headers back, as JSON.
  [ECHO_HEADERS]: { kind: 'unary', handle: (_m, headers) => Buffer.from(JSON.stringify(headers)) },
  // As many bytes as the request's first byte says (x 1).
  [SIZED]: { kind: 'unary', handle: (m) => Buffer.alloc(m[0] ?? 0, 0x61) },
  // One MiB.
  [BIG]: { kind: 'unary', handle: () => Buffer.alloc(1024 * 1024, 0x62) },
};

async function start(): Promise<number> {
  const server = createGrpcServer(methods, { maxMessageBytes: 1024 * 1024, streamWindowBytes: 1024 * 1024, connectionWindowBytes: 4 * 1024 * 1024 });
  servers.push(server);
  return server.listen(loopback);
}

describe('HPACK from nghttp2 (node:http2 client)', () => {
  it('reads every header of 300 calls on one connection, with values repeated, new, long and Huffman-coded (dynamic table churn and eviction)', async () => {
    const port = await start();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      let seed = 7;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&*+/=?@^|';
      const value = (len: number): string => Array.from({ length: len }, () => alphabet[rand(alphabet.length)]).join('');
      const pool = Array.from({ length: 20 }, (_, i) => [`x-h${i}`, value(5 + rand(200))] as const);
      for (let call = 0; call < 300; call++) {
        const sent: Record<string, string> = { traceparent: `00-${value(32)}-${value(16)}-01` };
        for (let k = rand(8); k > 0; k--) {
          const [n, v] = pool[rand(pool.length)] as readonly [string, string];
          sent[n] = rand(4) === 0 ? value(1 + rand(3000)) : v;
        }
        const got = await new Promise<Record<string, unknown>>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': ECHO_HEADERS, 'content-type': 'application/grpc', ...sent });
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).subarray(5).toString()) as Record<string, unknown>));
          req.on('error', reject);
          req.end(grpcFrame(Buffer.alloc(1)));
        });
        for (const [n, v] of Object.entries(sent)) expect(got[n], `call ${call}, ${n}`).toBe(v);
        expect(got[':path']).toBe(ECHO_HEADERS);
      }
    } finally {
      session.close();
    }
  });
});

/** A raw HTTP/2 client on a socket: frames out, the server's frames in. */
class RawPeer {
  readonly frames: { type: number; flags: number; id: number; payload: Buffer }[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  readonly socket: net.Socket;
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3] as number, flags: this.buf[4] as number, id: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  static async open(port: number, preface = true): Promise<RawPeer> {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    await new Promise((r) => socket.once('connect', r));
    const peer = new RawPeer(socket);
    if (preface) socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]));
    return peer;
  }
  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }
  async until<T>(find: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (this.closed || Date.now() > deadline) throw new Error(`not seen: ${what}${this.closed ? ' (connection closed)' : ''}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  goAwayCode(): Promise<number> {
    return this.until(() => this.frames.find((f) => f.type === FrameType.GOAWAY)?.payload.readUInt32BE(4), 'GOAWAY');
  }
}

const callHeaders = (path: string): Buffer =>
  encodeHeaders([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
  ]);

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

describe('HTTP/2 framing, raw', () => {
  it("sends its SETTINGS, acknowledges the peer's and answers a PING with the same bytes", async () => {
    const peer = await RawPeer.open(await start());
    peer.send(frame(FrameType.PING, 0, 0, Buffer.from('12345678')));
    const settings = await peer.until(() => peer.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0), 'SETTINGS');
    const values = new Map<number, number>();
    for (let i = 0; i < settings.payload.length; i += 6) values.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
    expect(values.get(0x3)).toBe(MAX_STREAMS);
    expect(values.get(0x4)).toBe(1024 * 1024);
    await peer.until(() => peer.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK), 'SETTINGS ACK');
    const pong = await peer.until(() => peer.frames.find((f) => f.type === FrameType.PING), 'PING ACK');
    expect([pong.flags, pong.payload.toString()]).toEqual([Flag.ACK, '12345678']);
  });

  it('reads a header block split over HEADERS and CONTINUATION, with padding on HEADERS and DATA, and answers the call', async () => {
    const peer = await RawPeer.open(await start());
    const block = callHeaders(SIZED);
    const padded = Buffer.concat([Buffer.from([3]), block.subarray(0, 10), Buffer.alloc(3)]);
    const data = Buffer.concat([Buffer.from([2]), grpcFrame(Buffer.from([5])), Buffer.alloc(2)]);
    peer.send(
      frame(FrameType.HEADERS, Flag.PADDED, 1, padded),
      frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 20)),
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(20)),
      frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, data),
    );
    const trailers = await peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM), 'trailers');
    expect(decode(new HpackDecoder(), trailers.payload)).toEqual([['grpc-status', '0']]);
    const body = Buffer.concat(peer.frames.filter((f) => f.type === FrameType.DATA && f.id === 1).map((f) => f.payload));
    expect(body.subarray(5).toString()).toBe('aaaaa');
  });

  it("never sends more DATA than the peer's windows allow, and sends the rest once they open", async () => {
    const peer = await RawPeer.open(await start(), false);
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(10, 2); // a 10-byte stream window
    peer.send(
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      frame(FrameType.SETTINGS, 0, 0, settings),
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders(SIZED)),
      frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from([100]))),
    );
    const sent = (): number => peer.frames.filter((f) => f.type === FrameType.DATA && f.id === 1).reduce((n, f) => n + f.payload.length, 0);
    await peer.until(() => (sent() > 0 ? true : undefined), 'the first DATA');
    await new Promise((r) => setTimeout(r, 100));
    expect(sent()).toBe(10);
    expect(peer.frames.some((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM)).toBe(false);
    peer.send(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(1000)));
    await peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM), 'trailers');
    expect(sent()).toBe(105);
  });

  it.each([
    ['a frame larger than 16 KiB', () => frame(FrameType.DATA, 0, 1, Buffer.alloc(16385)), ErrorCode.FRAME_SIZE_ERROR],
    ['HEADERS on an even stream', () => frame(FrameType.HEADERS, Flag.END_HEADERS, 2, callHeaders(SIZED)), ErrorCode.PROTOCOL_ERROR],
    ['DATA on stream 0', () => frame(FrameType.DATA, 0, 0, Buffer.alloc(1)), ErrorCode.PROTOCOL_ERROR],
    ['DATA on a stream never opened', () => frame(FrameType.DATA, 0, 9, Buffer.alloc(1)), ErrorCode.PROTOCOL_ERROR],
    ['a header block HPACK cannot read', () => frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80])), ErrorCode.COMPRESSION_ERROR],
    ['a PUSH_PROMISE', () => frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), ErrorCode.PROTOCOL_ERROR],
    [
      'another frame inside a header block',
      () => Buffer.concat([frame(FrameType.HEADERS, 0, 1, callHeaders(SIZED).subarray(0, 4)), frame(FrameType.PING, 0, 0, Buffer.alloc(8))]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['a SETTINGS frame of 5 bytes', () => frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), ErrorCode.FRAME_SIZE_ERROR],
    ['a window past 2^31-1', () => frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)), ErrorCode.FLOW_CONTROL_ERROR],
  ])('ends the connection with GOAWAY for %s', async (_what, bytes, code) => {
    const peer = await RawPeer.open(await start());
    peer.send(bytes());
    expect(await peer.goAwayCode()).toBe(code);
    await peer.until(() => (peer.closed ? true : undefined), 'the connection closed');
  });

  it.each([
    [
      'HEADERS on a stream below one already opened',
      () => Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 3, callHeaders(SIZED)), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders(SIZED))]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'HEADERS whose stream depends on itself',
      () => frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, Buffer.concat([u32(1), Buffer.from([16]), callHeaders(SIZED)])),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['a PRIORITY frame whose stream depends on itself', () => frame(FrameType.PRIORITY, 0, 3, Buffer.concat([u32(3), Buffer.from([16])])), ErrorCode.PROTOCOL_ERROR],
  ])('ends the connection with GOAWAY for %s (RFC 9113 sections 5.1.1, 5.3.1)', async (_what, bytes, code) => {
    const peer = await RawPeer.open(await start());
    peer.send(bytes());
    expect(await peer.goAwayCode()).toBe(code);
  });

  const call = (id: number, size = 2): Buffer[] => [
    frame(FrameType.HEADERS, Flag.END_HEADERS, id, callHeaders(SIZED)),
    frame(FrameType.DATA, Flag.END_STREAM, id, grpcFrame(Buffer.from([size]))),
  ];
  const answered = (peer: RawPeer, id: number) =>
    peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.id === id && f.flags & Flag.END_STREAM), `the answer on stream ${id}`);

  it('ends the connection with GOAWAY STREAM_CLOSED for DATA on a call the client had ended, once answered (RFC 9113 section 5.1, closed)', async () => {
    const peer = await RawPeer.open(await start());
    peer.send(...call(1));
    await answered(peer, 1);
    peer.send(frame(FrameType.DATA, 0, 1, Buffer.alloc(10)));
    expect(await peer.goAwayCode()).toBe(ErrorCode.STREAM_CLOSED);
  });

  it('answers DATA on a stream the client reset with RST_STREAM STREAM_CLOSED, and serves the next call', async () => {
    const peer = await RawPeer.open(await start());
    peer.send(
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders(SIZED)),
      frame(FrameType.RST_STREAM, 0, 1, u32(8 /* CANCEL */)),
      frame(FrameType.DATA, 0, 1, Buffer.alloc(10)),
    );
    const rst = await peer.until(() => peer.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === 1), 'RST_STREAM');
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.STREAM_CLOSED);
    peer.send(...call(3));
    await answered(peer, 3);
    expect(peer.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  /** A request's header fields: the call's pseudo-header fields (`undefined` leaves one out), content-type, then `extra`. */
  const request = (pseudo: Record<string, string | undefined> = {}, extra: [string, string][] = []): [string, string][] => [
    ...Object.entries({ ':method': 'POST', ':scheme': 'http', ':path': SIZED, ':authority': 'localhost', ...pseudo }).filter((f): f is [string, string] => f[1] !== undefined),
    ['content-type', 'application/grpc'],
    ...extra,
  ];
  it.each([
    ['a field name in capitals', request({}, [['X-Caller', 'a']])],
    ['a connection-specific field', request({}, [['connection', 'keep-alive']])],
    ['transfer-encoding', request({}, [['transfer-encoding', 'chunked']])],
    ['te other than "trailers"', request({}, [['te', 'gzip']])],
    ['an unknown pseudo-header field', request({ ':foo': 'bar' })],
    ['a response pseudo-header field', request({ ':status': '200' })],
    ['a pseudo-header field after a regular one', [...request({ ':authority': undefined }), [':authority', 'localhost']] as [string, string][]],
    ['a pseudo-header field twice', [[':path', SIZED], ...request()] as [string, string][]],
    ['no :method', request({ ':method': undefined })],
    ['no :scheme', request({ ':scheme': undefined })],
    ['no :path', request({ ':path': undefined })],
    ['an empty :path', request({ ':path': '' })],
    ['a content-length that is not a number', request({}, [['content-length', '6x']])],
    ['a content-length the body does not match', request({}, [['content-length', '7']])],
  ])('resets a request with %s (malformed, RFC 9113 section 8.1.1) with RST_STREAM PROTOCOL_ERROR, and serves the next call', async (_what, fields) => {
    const peer = await RawPeer.open(await start());
    peer.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, encodeHeaders(fields)), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from([2]))));
    const rst = await peer.until(() => peer.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === 1), 'RST_STREAM');
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.PROTOCOL_ERROR);
    peer.send(...call(3));
    await answered(peer, 3);
    expect(peer.frames.some((f) => (f.type === FrameType.HEADERS && f.id === 1) || f.type === FrameType.GOAWAY)).toBe(false);
  });

  it('serves a request with te: trailers and a content-length its body matches (the checks above refuse only what is malformed)', async () => {
    const peer = await RawPeer.open(await start());
    const body = grpcFrame(Buffer.from([2]));
    peer.send(
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        1,
        encodeHeaders(
          request({}, [
            ['te', 'trailers'],
            ['content-length', String(body.length)],
          ]),
        ),
      ),
      frame(FrameType.DATA, 0, 1, body.subarray(0, 3)),
      frame(FrameType.DATA, Flag.END_STREAM, 1, body.subarray(3)),
    );
    await answered(peer, 1);
    expect(peer.frames.some((f) => f.type === FrameType.RST_STREAM || f.type === FrameType.GOAWAY)).toBe(false);
  });

  it('resets a call whose trailers carry a pseudo-header field (RST_STREAM PROTOCOL_ERROR)', async () => {
    const peer = await RawPeer.open(await start());
    peer.send(
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders(SIZED)),
      frame(FrameType.DATA, 0, 1, grpcFrame(Buffer.from([2]))),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, encodeHeaders([[':path', '/x']])),
    );
    const rst = await peer.until(() => peer.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === 1), 'RST_STREAM');
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('drops, without a connection error, what a client still sends on a call it answered early, and serves the next call', async () => {
    const peer = await RawPeer.open(await start());
    const tooLarge = Buffer.alloc(5);
    tooLarge.writeUInt32BE(2 * 1024 * 1024, 1); // the length prefix says 2 MiB: over the limit
    peer.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders(SIZED)), frame(FrameType.DATA, 0, 1, tooLarge));
    const early = await peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.id === 1), 'the early answer');
    expect(decode(new HpackDecoder(), early.payload)).toContainEqual(['grpc-status', '8']);
    await peer.until(() => peer.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === 1), 'RST_STREAM');
    peer.send(
      frame(FrameType.DATA, 0, 1, Buffer.alloc(1000)),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, encodeHeaders([['x-trailer', 'late']])),
      frame(FrameType.HEADERS, Flag.END_HEADERS, 3, callHeaders(SIZED)),
      frame(FrameType.DATA, Flag.END_STREAM, 3, grpcFrame(Buffer.from([2]))),
    );
    await peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.id === 3 && f.flags & Flag.END_STREAM), 'the next answer');
    expect(peer.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it('closes a connection whose first bytes are not the HTTP/2 preface, without a frame', async () => {
    const peer = await RawPeer.open(await start(), false);
    peer.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await peer.until(() => (peer.closed ? true : undefined), 'the connection closed');
    expect(peer.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it(`refuses stream ${MAX_STREAMS + 1} while ${MAX_STREAMS} are open (REFUSED_STREAM), and serves again once one ends`, async () => {
    const peer = await RawPeer.open(await start());
    const block = callHeaders(SIZED);
    const opens: Buffer[] = [];
    for (let i = 0; i <= MAX_STREAMS; i++) opens.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, block));
    peer.send(...opens);
    const last = 1 + 2 * MAX_STREAMS;
    const refused = await peer.until(() => peer.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === last), 'RST_STREAM');
    expect(refused.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    expect(peer.frames.filter((f) => f.type === FrameType.RST_STREAM)).toHaveLength(1);
    peer.send(frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from([1]))), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, last + 2, block));
    await peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.id === last + 2 && f.flags & Flag.END_STREAM), 'an answer on a new stream');
    expect(peer.frames.some((f) => f.type === FrameType.HEADERS && f.id === 1 && f.flags & Flag.END_STREAM)).toBe(true);
  });

  it(`answers a burst of more than ${RESET_BURST} stream resets ("rapid reset") with GOAWAY ENHANCE_YOUR_CALM`, async () => {
    const peer = await RawPeer.open(await start());
    const block = callHeaders(SIZED);
    const burst: Buffer[] = [];
    // 100 past the burst: the refill (RESET_RATE per second) cannot make up for them while the burst is read.
    for (let i = 0; i < RESET_BURST + 100; i++) burst.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, block), frame(FrameType.RST_STREAM, 0, 1 + 2 * i, u32(8)));
    peer.send(...burst);
    expect(await peer.goAwayCode()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('takes fewer resets than the burst without complaint (the limit is not hit by ordinary cancels)', async () => {
    const peer = await RawPeer.open(await start());
    const block = callHeaders(SIZED);
    const some: Buffer[] = [];
    for (let i = 0; i < 100; i++) some.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, block), frame(FrameType.RST_STREAM, 0, 1 + 2 * i, u32(8)));
    some.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 201, block), frame(FrameType.DATA, Flag.END_STREAM, 201, grpcFrame(Buffer.from([1]))));
    peer.send(...some);
    await peer.until(() => peer.frames.find((f) => f.type === FrameType.HEADERS && f.id === 201 && f.flags & Flag.END_STREAM), 'the answer');
    expect(peer.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it(`drops a peer that opens its windows, asks for more than ${MAX_BUFFERED_OUT / 1024 / 1024} MiB and does not read it`, async () => {
    const port = await start();
    const peer = await RawPeer.open(port, false);
    peer.socket.pause();
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(0x7fffffff, 2);
    const calls: Buffer[] = [
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      frame(FrameType.SETTINGS, 0, 0, settings),
      frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fffffff - 65535)),
    ];
    const n = MAX_BUFFERED_OUT / (1024 * 1024) + 16;
    for (let i = 0; i < n; i++)
      calls.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, callHeaders(BIG)), frame(FrameType.DATA, Flag.END_STREAM, 1 + 2 * i, grpcFrame(Buffer.alloc(1))));
    peer.send(...calls);
    // Paused, the socket sees the server's end only when it writes: a PING now and then until a write fails.
    const deadline = Date.now() + 20_000;
    while (!peer.closed && !peer.socket.destroyed && Date.now() < deadline) {
      peer.socket.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(peer.closed || peer.socket.destroyed).toBe(true);
    const answered = peer.frames.filter((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM).length;
    expect(answered).toBeLessThan(n);
    // Another connection is served.
    const other = await RawPeer.open(port);
    other.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders(SIZED)), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from([3]))));
    await other.until(() => other.frames.find((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM), 'an answer');
  });
});
