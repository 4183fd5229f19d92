/**
 * HTTP/2 receive windows for the benchmark's grpc-js servers (the no-op floor, the worker
 * prototype), the same as llm-authz's own server sets (src/server/server.ts), so the floor
 * differs from llm-authz in the work done per call only.
 *
 * grpc-js's server leaves Node's default windows in place: 64 KiB per stream and 64 KiB per
 * connection (it has no server option for them; the client-side `grpc-node.flow_control_window`
 * is not read by the server). With 64 KiB, Envoy must wait for a WINDOW_UPDATE after every
 * 64 KiB of a CheckRequest: a 1 MiB prompt body takes 16 round trips before llm-authz sees it
 * (measured on loopback: about 4.3 ms per 1 MiB request instead of 1.3 ms).
 *
 * The windows are raised on each connection when its first stream arrives, through Node's
 * public `http2.server.stream.created` diagnostics channel (in the Node 24 llm-authz runs on;
 * a Node without it keeps the defaults): a SETTINGS frame for the per-stream window and a
 * WINDOW_UPDATE for the connection. grpc-js reads every
 * DATA frame as it arrives and caps a message at `grpc.max_receive_message_length`, so larger
 * windows change how fast a body arrives, not how much is held.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../src/server/grpc-h2.ts';

const raised = new WeakSet<Http2Session>();

function raise(message: unknown): void {
  const session = (message as { stream?: ServerHttp2Stream }).stream?.session;
  if (session === undefined || raised.has(session) || session.destroyed) return;
  raised.add(session);
  try {
    session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
  } catch {
    // A session closing under us keeps its default windows: slower, never wrong.
  }
}

let installed = false;

/** Raises the windows of every HTTP/2 server session in this process (idempotent). */
export function raiseHttp2Windows(): void {
  if (installed) return;
  installed = true;
  diagnostics.subscribe('http2.server.stream.created', raise);
}
