/**
 * A protobuf wire-format reader over one Buffer, for the hand-written decoders of the server's
 * request messages (src/envoy/check-request-decoder.ts, the health request in
 * src/server/health.ts). Every read is bounds-checked: a truncated or malformed message throws.
 */
export class ProtoReader {
  pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      if (i < 8) result += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return result;
    }
    throw new Error('varint too long');
  }
  /** The end of a length-delimited field that starts here (its length read). */
  end(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new Error('truncated field');
    return end;
  }
  /** The bytes of a length-delimited field, without copying. */
  bytes(): Buffer {
    const end = this.end();
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }
  string(): string {
    const end = this.end();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }
  double(): number {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  /**
   * Skips a field the caller does not read (or not with this wire type). A field its message
   * declares (`declared`: wire type by field number, -1 or absent for none) arriving with another
   * wire type is refused.
   */
  skipField(tag: number, declared: readonly number[]): void {
    const field = tag >>> 3;
    const wire = tag & 7;
    const expected = declared[field];
    if (expected !== undefined && expected !== -1 && expected !== wire) throw new Error(`field ${field} with wire type ${wire}`);
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.end();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
  /** After a message's fields: its last field must end where the message does (not run past it). */
  ended(end: number): void {
    if (this.pos !== end) throw new Error('a field runs past the end of its message');
  }
  /** The next tag of a message ending at `end`: field number * 8 + wire type. */
  tag(): number {
    const t = this.varint();
    if (t >>> 3 === 0) throw new Error('field number 0');
    return t;
  }
}
