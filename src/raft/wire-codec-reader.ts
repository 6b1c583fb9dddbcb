/**
 * Reading protobuf wire format with no allocation per value: varints go straight into JS numbers
 * (no Long), byte fields are views of the buffer being read. The rules follow protobufjs's
 * reader, which the Raft codec used before, so that both accept and refuse the same bytes:
 * - a varint has at most 10 bytes; a uint64 keeps its low 64 bits, a uint32 or int32 its low
 *   32 bits, a bool is true when any bit is set;
 * - a tag has at most 5 bytes and fits in 32 bits; a length has at most 5 bytes and is below
 *   2^31; field number 0 and wire types 6 and 7 are malformed.
 * Two deliberate differences, both in fields the schema does not know: groups (wire types 3
 * and 4) are refused as malformed instead of skipped (proto3 has no groups, so no peer of ours
 * sends one), and so is a skipped varint over 10 bytes (protobufjs skips any length).
 * Every read is bounded by an `end` offset (the end of the enclosing message) and throws
 * WireFormatError when the bytes are not protobuf.
 */
import { EMPTY_BYTES } from './types.js';
import type { WireUint64 } from './wire-codec-validate.js';

/** WireType is the low three bits of a tag: how the field's value is laid out. */
export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Delimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

/** WireFormatError says bytes are not well-formed protobuf (the decoders report it as such). */
export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

/** The largest high word of a safe integer: 2^53 - 1 is high 0x1fffff, low 0xffffffff. */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;
/** Two to the 32nd: the weight of a uint64's high word. */
const HIGH_WORD = 0x1_0000_0000;

/** WireReader reads one buffer from front to back; `pos` is the next byte to read. */
export class WireReader {
  private readonly bytes: Uint8Array;
  /** Invariant: 0 <= pos <= the `end` of every read so far (never past the buffer). */
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** tag reads a field's key: field number << 3 | wire type. */
  tag(end: number): number {
    // Fields 1 to 15 take one byte; at the end, shortVarint reports the truncation.
    const first = this.pos < end ? this.bytes[this.pos] : 0x80;
    if (first < 0x80) {
      this.pos++;
      return first;
    }
    return this.shortVarint(end, 0x0f, 'tag');
  }

  /** delimited reads the length of a length-delimited field; returns where the field ends. */
  delimited(end: number): number {
    const length = this.shortVarint(end, 0x07, 'length');
    const fieldEnd = this.pos + length;
    if (fieldEnd > end) {
      throw new WireFormatError(`length ${length} at byte ${this.pos} runs past the end (${end})`);
    }
    return fieldEnd;
  }

  /** bytesField reads a length-delimited field as a view of the buffer (EMPTY_BYTES when empty). */
  bytesField(end: number): Uint8Array {
    const fieldEnd = this.delimited(end);
    const start = this.pos;
    this.pos = fieldEnd;
    return fieldEnd === start ? EMPTY_BYTES : this.bytes.subarray(start, fieldEnd);
  }

  /**
   * uint64 reads a varint: a number when it is at most 2^53 - 1 (the only case on the hot
   * path), else its two words, allocated only then.
   */
  uint64(end: number): WireUint64 {
    const bytes = this.bytes;
    let pos = this.pos;
    let low = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw truncated(pos, end);
      const byte = bytes[pos++];
      low |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        return low;
      }
    }
    // The fifth byte holds bits 28 to 34: four for the low word, three for the high word.
    if (pos >= end) throw truncated(pos, end);
    let byte = bytes[pos++];
    low = (low | ((byte & 0x0f) << 28)) >>> 0;
    let high = (byte & 0x7f) >> 4;
    // Bytes six to ten hold bits 35 to 69; bits past 63 are dropped, as protobufjs does.
    for (let shift = 3; byte >= 0x80; shift += 7) {
      if (shift > 31) throw new WireFormatError(`varint longer than 10 bytes at byte ${pos}`);
      if (pos >= end) throw truncated(pos, end);
      byte = bytes[pos++];
      high |= (byte & 0x7f) << shift;
    }
    this.pos = pos;
    high >>>= 0;
    return high <= SAFE_HIGH_WORD_MAX ? high * HIGH_WORD + low : { low, high };
  }

  /** uint32 reads a varint and keeps its low 32 bits (how protobuf reads uint32 fields). */
  uint32(end: number): number {
    const value = this.uint64(end);
    return typeof value === 'number' ? value >>> 0 : value.low;
  }

  /** int32 reads a varint as a signed 32-bit number (enums are int32 on the wire). */
  int32(end: number): number {
    return this.uint32(end) | 0;
  }

  /** bool reads a varint: true when any of its bits is set. */
  bool(end: number): boolean {
    return this.varintBits(end) !== 0;
  }

  /** skipVarint steps over a varint (at most 10 bytes, like every varint). */
  skipVarint(end: number): void {
    this.varintBits(end);
  }

  /** skip steps over the value of a field this reader does not know (by its wire type). */
  skip(tag: number, end: number): void {
    if (tag >>> 3 === 0) throw new WireFormatError(`field number 0 at byte ${this.pos}`);
    const wireType = tag & 7;
    switch (wireType) {
      case WireType.Varint:
        this.skipVarint(end);
        return;
      case WireType.Fixed64:
        this.advance(8, end);
        return;
      case WireType.Delimited:
        this.pos = this.delimited(end);
        return;
      case WireType.Fixed32:
        this.advance(4, end);
        return;
      case WireType.StartGroup:
      case WireType.EndGroup:
        throw new WireFormatError(`group (wire type ${wireType}) at byte ${this.pos}: not proto3`);
      default:
        throw new WireFormatError(`invalid wire type ${wireType} at byte ${this.pos}`);
    }
  }

  /** varintBits reads a varint of up to 10 bytes; returns the OR of its 7-bit groups. */
  private varintBits(end: number): number {
    const bytes = this.bytes;
    let bits = 0;
    for (let count = 0; count < 10; count++) {
      if (this.pos >= end) throw truncated(this.pos, end);
      const byte = bytes[this.pos++];
      bits |= byte & 0x7f;
      if (byte < 0x80) return bits;
    }
    throw new WireFormatError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /**
   * shortVarint reads a varint of at most 5 bytes whose fifth byte is at most `fifthMax` (so
   * that a tag fits in 32 bits and a length in 31, as protobufjs requires).
   */
  private shortVarint(end: number, fifthMax: number, what: string): number {
    const bytes = this.bytes;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw truncated(pos, end);
      const byte = bytes[pos++];
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        return value;
      }
    }
    if (pos >= end) throw truncated(pos, end);
    const fifth = bytes[pos++];
    if (fifth > fifthMax) throw new WireFormatError(`invalid ${what} encoding at byte ${pos - 1}`);
    this.pos = pos;
    return (value | (fifth << 28)) >>> 0;
  }

  /** advance steps over `count` bytes of a fixed-width value. */
  private advance(count: number, end: number): void {
    if (this.pos + count > end) throw truncated(end, end);
    this.pos += count;
  }
}

/** truncated is the error for a value that runs past the end of its message. */
function truncated(pos: number, end: number): WireFormatError {
  return new WireFormatError(`truncated: a value runs past the end (${end}) at byte ${pos}`);
}

/**
 * WireLayout names, for one message type, the length-delimited fields that hold a nested
 * message (by its layout) or packed varints; every other field is a plain value.
 */
export interface WireLayout {
  readonly [field: number]: WireLayout | 'packed' | undefined;
}

/**
 * checkStructure reads a message of `layout` only for its structure (tags, lengths, varints,
 * nested messages), values ignored; throws WireFormatError where the bytes are not protobuf.
 */
export function checkStructure(reader: WireReader, end: number, layout: WireLayout): void {
  while (reader.pos < end) {
    const tag = reader.tag(end);
    const inner = (tag & 7) === WireType.Delimited ? layout[tag >>> 3] : undefined;
    if (inner === undefined) {
      reader.skip(tag, end);
    } else {
      const innerEnd = reader.delimited(end);
      if (inner === 'packed') {
        while (reader.pos < innerEnd) reader.skipVarint(innerEnd);
      } else {
        checkStructure(reader, innerEnd, inner);
      }
    }
  }
}
