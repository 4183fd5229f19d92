/**
 * Bytes on a TCP connection, for requests no HTTP client library would send (request
 * smuggling shapes, folded headers, pipelined requests): writes them, then collects every
 * response status line until the server closes the connection or it goes quiet.
 */
import { connect } from 'node:net';

export interface RawExchange {
  /** Status codes of the responses, in order. */
  readonly statuses: number[];
  /** Everything received (for failure messages). */
  readonly text: string;
}

export function rawExchange(port: number, bytes: string | Buffer, quietMs = 1500): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1]));
      resolve({ statuses, text });
    };
    const quiet = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    socket.on('connect', () => {
      socket.write(bytes);
      quiet();
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      quiet();
    });
    socket.on('end', done);
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) done();
      else reject(err);
    });
  });
}
