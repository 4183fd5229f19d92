/**
 * AWS event streams (`application/vnd.amazon.eventstream`: Bedrock's ConverseStream and
 * InvokeModelWithResponseStream), read as the bytes arrive. Frames are split by their length
 * prefix; each is decoded (headers parsed, both CRCs checked) by @smithy/eventstream-codec, the
 * AWS SDK's own codec. An event's payload is one JSON document named by its `:event-type`; a
 * `chunk` event of InvokeModelWithResponseStream carries the model's own event, base64 in
 * `{"bytes"}`, which is what is passed on. An exception frame gives the error type.
 *
 * Memory: one frame at a time, at most MAX_FRAME bytes (a Bedrock event is one delta, a few
 * hundred bytes); a larger frame is malformed and reading stops.
 */
import { createRequire } from 'node:module';
import type { EventStreamCodec } from '@smithy/eventstream-codec';

/** Longest frame read (AWS allows 16 MiB; a larger one stops reading as malformed). */
export const MAX_FRAME = 1024 * 1024;
/** A frame's smallest size: prelude (12 bytes) and message CRC (4). */
const MIN_FRAME = 16;

export interface EventStreamHandler {
  /** One event's JSON document (its payload, or the model event of a `chunk`). */
  document(event: string, json: Uint8Array): void;
  /** An exception or error frame: its type. */
  exception(type: string): void;
}

export type EventStreamState = 'complete' | 'incomplete' | 'malformed';

const requireLazily = createRequire(import.meta.url);
let codec: EventStreamCodec | undefined;

/**
 * The codec, loaded when the first event stream is read: importing it costs about 26 ms of CPU
 * (one cold import, Node 24), which a server that never reads one need not pay at start.
 */
function eventStreamCodec(): EventStreamCodec {
  if (codec === undefined) {
    const { EventStreamCodec: Codec } = requireLazily('@smithy/eventstream-codec') as typeof import('@smithy/eventstream-codec');
    codec = new Codec(
      (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'),
      (s) => new Uint8Array(Buffer.from(s, 'utf8')),
    );
  }
  return codec;
}

function headerString(headers: Record<string, { type: string; value: unknown }>, name: string): string | undefined {
  const h = headers[name];
  return h?.type === 'string' && typeof h.value === 'string' ? h.value : undefined;
}

export class EventStream {
  readonly #h: EventStreamHandler;
  #buf: Buffer = Buffer.alloc(0);
  #malformed = false;

  constructor(h: EventStreamHandler) {
    this.#h = h;
  }

  write(b: Uint8Array): void {
    if (this.#malformed) return;
    this.#buf = this.#buf.length === 0 ? Buffer.from(b) : Buffer.concat([this.#buf, b]);
    while (this.#buf.length >= 4) {
      const total = this.#buf.readUInt32BE(0);
      if (total < MIN_FRAME || total > MAX_FRAME) {
        this.#fail();
        return;
      }
      if (this.#buf.length < total) return;
      const frame = this.#buf.subarray(0, total);
      this.#buf = this.#buf.subarray(total);
      if (!this.#frame(frame)) {
        this.#fail();
        return;
      }
    }
  }

  state(): EventStreamState {
    if (this.#malformed) return 'malformed';
    return this.#buf.length === 0 ? 'complete' : 'incomplete';
  }

  #fail(): void {
    this.#malformed = true;
    this.#buf = Buffer.alloc(0);
  }

  /** One whole frame; false when it is not a valid event-stream message. */
  #frame(frame: Buffer): boolean {
    let message: ReturnType<EventStreamCodec['decode']>;
    try {
      message = eventStreamCodec().decode(frame);
    } catch {
      return false;
    }
    const headers = message.headers as Record<string, { type: string; value: unknown }>;
    const kind = headerString(headers, ':message-type');
    if (kind === 'exception' || kind === 'error') {
      const type = headerString(headers, ':exception-type') ?? headerString(headers, ':error-code');
      if (type !== undefined) this.#h.exception(type);
      return true;
    }
    const event = headerString(headers, ':event-type') ?? '';
    const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    if (event !== 'chunk') {
      this.#h.document(event, body);
      return true;
    }
    // A PayloadPart: {"bytes": "<base64 of the model's own event>"} (one small event).
    let part: unknown;
    try {
      part = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    const bytes = typeof part === 'object' && part !== null ? (part as { bytes?: unknown }).bytes : undefined;
    if (typeof bytes !== 'string') return false;
    this.#h.document(event, Buffer.from(bytes, 'base64'));
    return true;
  }
}
