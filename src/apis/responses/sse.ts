/**
 * Server-sent events (text/event-stream), read as the bytes arrive: the data of each event is
 * passed on as it comes (never gathered into a line or an event, so one huge event costs no
 * memory), and the end of each event is reported with its `event:` name. Lines end in LF, CR
 * or CRLF (Gemini writes CRLF), possibly split across chunks. `data: [DONE]` (OpenAI's end
 * marker, not JSON) is recognised without passing it on.
 */

export interface SseHandler {
  /** Bytes of the current event's data; its lines are joined with `\n`, as the SSE spec says. */
  data(b: Uint8Array, from: number, to: number): void;
  /** The event ended; `done`: its data was exactly `[DONE]`. */
  event(name: string | undefined, done: boolean): void;
}

const LINE_START = 0;
const FIELD = 1;
const DATA = 2;
const EVENT_NAME = 3;
const SKIP = 4;

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

const MAX_FIELD = 16;
const MAX_EVENT_NAME = 64;
const DONE = Buffer.from('[DONE]');
const NEWLINE = Buffer.from('\n');
const DATA_FIELD = Buffer.from('data');
const EVENT_FIELD = Buffer.from('event');

export class SseStream {
  readonly #h: SseHandler;
  #state = LINE_START;
  #afterCr = false;
  readonly #field = Buffer.allocUnsafe(MAX_FIELD);
  #fieldLen = 0;
  readonly #name = Buffer.allocUnsafe(MAX_EVENT_NAME);
  #nameLen = 0;
  /** Whether the space after `data:` may still be skipped. */
  #lineStart = false;
  #dataLines = 0;
  /** The first bytes of the event's data, held until it is clear they are not `[DONE]`. */
  readonly #held = Buffer.allocUnsafe(DONE.length);
  #heldLen = 0;
  #holding = false;
  #done = false;
  #events = 0;

  constructor(handler: SseHandler) {
    this.#h = handler;
  }

  /** Events ended so far. */
  get events(): number {
    return this.#events;
  }

  write(bytes: Uint8Array, from = 0, to = bytes.length): void {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // The next LF and CR of this chunk, found once each (data lines are found with indexOf).
    let lf = -2;
    let cr = -2;
    const eolFrom = (x: number): number => {
      if (lf !== -1 && lf < x) lf = b.indexOf(LF, x);
      if (cr !== -1 && cr < x) cr = b.indexOf(CR, x);
      const a = lf === -1 || lf >= to ? to : lf;
      const c = cr === -1 || cr >= to ? to : cr;
      return Math.min(a, c);
    };
    let i = from;
    if (this.#afterCr && i < to) {
      this.#afterCr = false;
      if (b[i] === LF) i++;
    }
    while (i < to) {
      const c = b[i] ?? 0;
      switch (this.#state) {
        case LINE_START:
          if (c === LF || c === CR) {
            this.#dispatch();
            i = this.#eol(b, i, to);
            continue;
          }
          this.#fieldLen = 0;
          this.#state = c === COLON ? SKIP : FIELD;
          if (c !== COLON) continue;
          i++;
          continue;
        case FIELD:
          if (c === COLON || c === LF || c === CR) {
            this.#startValue();
            if (c === COLON) i++;
            continue;
          }
          if (this.#fieldLen < MAX_FIELD) this.#field[this.#fieldLen] = c;
          this.#fieldLen++;
          i++;
          continue;
        case DATA: {
          const j = eolFrom(i);
          let start = i;
          if (this.#lineStart && start < j) {
            this.#lineStart = false;
            if (b[start] === SPACE) start++;
          }
          this.#dataBytes(b, start, j);
          if (j < to) {
            this.#endDataLine();
            i = this.#eol(b, j, to);
          } else i = j;
          continue;
        }
        case EVENT_NAME:
          if (c === LF || c === CR) {
            i = this.#eol(b, i, to);
            continue;
          }
          if (this.#lineStart) {
            this.#lineStart = false;
            if (c === SPACE) {
              i++;
              continue;
            }
          }
          if (this.#nameLen < MAX_EVENT_NAME) this.#name[this.#nameLen++] = c;
          i++;
          continue;
        default: // SKIP
          if (c === LF || c === CR) i = this.#eol(b, i, to);
          else i++;
      }
    }
  }

  /**
   * The end of the body. An event whose blank line never came is still reported (its data may
   * be whole); returns whether one was pending.
   */
  end(): boolean {
    if (this.#state === DATA) this.#endDataLine();
    const pending = this.#dataLines > 0 || this.#done;
    if (pending) this.#dispatch();
    this.#state = LINE_START;
    return pending;
  }

  /** Consumes the line end at i (LF, CR or CRLF, the LF possibly in the next chunk). */
  #eol(b: Uint8Array, i: number, to: number): number {
    this.#state = LINE_START;
    if (b[i] === CR) {
      if (i + 1 < to) return b[i + 1] === LF ? i + 2 : i + 1;
      this.#afterCr = true;
    }
    return i + 1;
  }

  #is(word: Buffer): boolean {
    if (this.#fieldLen !== word.length) return false;
    for (let i = 0; i < word.length; i++) if (this.#field[i] !== word[i]) return false;
    return true;
  }

  #startValue(): void {
    this.#lineStart = true;
    if (this.#is(DATA_FIELD)) {
      this.#state = DATA;
      if (this.#dataLines > 0) {
        this.#flushHeld();
        this.#h.data(NEWLINE, 0, 1);
      } else {
        this.#holding = true;
        this.#heldLen = 0;
      }
      this.#dataLines++;
    } else if (this.#is(EVENT_FIELD)) {
      this.#state = EVENT_NAME;
      this.#nameLen = 0;
    } else this.#state = SKIP;
  }

  #dataBytes(b: Uint8Array, from: number, to: number): void {
    if (from >= to) return;
    if (this.#holding) {
      const room = DONE.length - this.#heldLen;
      if (to - from <= room) {
        this.#held.set(b.subarray(from, to), this.#heldLen);
        this.#heldLen += to - from;
        return;
      }
      this.#flushHeld();
    }
    this.#h.data(b, from, to);
  }

  #flushHeld(): void {
    if (!this.#holding) return;
    this.#holding = false;
    if (this.#heldLen > 0) this.#h.data(this.#held, 0, this.#heldLen);
  }

  #endDataLine(): void {
    this.#state = LINE_START;
    if (this.#holding && this.#dataLines === 1 && this.#heldLen === DONE.length && this.#held.equals(DONE)) {
      this.#holding = false;
      this.#done = true;
      return;
    }
    this.#flushHeld();
  }

  #dispatch(): void {
    if (this.#dataLines === 0 && !this.#done) {
      this.#nameLen = 0;
      return;
    }
    this.#flushHeld();
    const name = this.#nameLen > 0 ? this.#name.toString('utf8', 0, this.#nameLen) : undefined;
    const done = this.#done;
    this.#dataLines = 0;
    this.#nameLen = 0;
    this.#done = false;
    this.#events++;
    this.#h.event(name, done);
  }
}
