/**
 * HTTP/2 conformance of the server connection under the gRPC transport (src/server/http2/), by
 * h2spec (every case of RFC 9113 and RFC 7541 it has, the strict ones included), over TCP
 * loopback. The connection runs with serve's window sizes under a plain handler that answers a
 * request once it has ended, with headers, a 2 KB body and trailers: h2spec's cases need an answer
 * with a body (flow control) and a server that waits for the request's end (stream states), which
 * a gRPC method answering a GET at once with 405 is not. What the gRPC layer adds is
 * test/unit/grpc-h2.test.ts's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h2specBin } from '../../devstack/tools.ts';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../../src/server/grpc-h2.ts';
import { Connection } from '../../src/server/http2/connection.ts';
import { encodeHeaders } from '../../src/server/http2/hpack.ts';

const run = promisify(execFile);
const BODY = Buffer.alloc(2048, 0x61);
const HEADERS = encodeHeaders([
  [':status', '200'],
  ['content-type', 'text/plain'],
]);
const TRAILERS = encodeHeaders([['x-done', '1']]);

/** h2spec's cases in the set run here (h2spec 2.2.1, --strict): a report with fewer did not run them all. */
const CASES = 146;

interface Case {
  readonly name: string;
  readonly failure: string | undefined;
  readonly skipped: boolean;
}

/** The cases of h2spec's JUnit report ("http2/6.7 Sends a PING frame"), each with what failed (undefined when it passed). */
function readReport(file: string): Case[] {
  const xml = readFileSync(file, 'utf8');
  const cases: Case[] = [];
  for (const m of xml.matchAll(/<testcase package="([^"]*)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
    const inner = m[3] as string;
    const failure = /<(failure|error)\b[^>]*>([\s\S]*?)<\/\1>/.exec(inner);
    cases.push({ name: `${m[1]} ${m[2]}`, failure: failure === null ? undefined : (failure[2] as string).trim() || failure[1], skipped: /<skipped\b/.test(inner) });
  }
  return cases;
}

/** Runs h2spec against the port (each case waits up to `timeoutS` for what it expects: a case that passes does not wait it out). */
async function h2spec(port: number, report: string, timeoutS: number, ...args: string[]): Promise<{ code: number; cases: Case[] }> {
  let code = 0;
  try {
    await run(h2specBin(), ['--host', '127.0.0.1', '--port', String(port), '--timeout', String(timeoutS), '--junit-report', report, ...args], { timeout: 120_000 });
  } catch (err) {
    code = (err as { code?: number }).code ?? -1;
  }
  return { code, cases: readReport(report) };
}

let dir: string;
const servers: net.Server[] = [];

async function listen(onSocket: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer(onSocket);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-h2spec-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP/2 conformance (h2spec)', () => {
  it(`passes every one of h2spec's ${CASES} cases, the strict ones included`, async () => {
    const port = await listen((socket) => {
      new Connection(
        socket,
        { streamWindowBytes: STREAM_WINDOW_BYTES, connectionWindowBytes: CONNECTION_WINDOW_BYTES },
        (stream) => {
          stream.events.end = () => {
            stream.respond(HEADERS, false);
            stream.write(BODY);
            stream.trailers(TRAILERS);
          };
        },
        () => undefined,
      );
    });
    const { code, cases } = await h2spec(port, path.join(dir, 'conformance.xml'), 5, '--strict');
    expect(cases.filter((c) => c.failure !== undefined).map((c) => `${c.name}: ${c.failure}`)).toEqual([]);
    expect(cases.filter((c) => c.skipped).map((c) => c.name)).toEqual([]);
    expect(cases.length).toBe(CASES);
    expect(code).toBe(0);
  }, 180_000);

  it('fails against a server that breaks the protocol (the report is read, not assumed)', async () => {
    // The preface is read and then nothing is answered: no SETTINGS, no PING ACK.
    const port = await listen((socket) => {
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
    });
    const { code, cases } = await h2spec(port, path.join(dir, 'broken.xml'), 1, 'http2/6.5.3', 'http2/6.7');
    expect(code).not.toBe(0);
    expect(cases.length).toBeGreaterThan(0);
    expect(cases.every((c) => c.failure !== undefined)).toBe(true);
  }, 60_000);
});
