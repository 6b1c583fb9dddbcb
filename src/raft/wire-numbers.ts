/**
 * Pieces shared by the protobuf codecs (src/raft/codec.ts, src/store/kv-codec.ts): decoded
 * uint64 values are validated the same way everywhere (each codec wraps the reason in its own
 * typed error), and plain values are viewed as the generated encoders' input the same way.
 */
import protobuf from 'protobufjs/minimal.js';
import { WireReader } from './wire-codec-reader.js';

/**
 * Wire is how a plain value looks to a generated encoder: the same fields, with our enums and
 * branded ids seen as plain numbers (which the generated enum types accept).
 */
export type Wire<T> = T extends Uint8Array
  ? Uint8Array
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends number
      ? number
      : T extends object
        ? { [K in keyof T]: Wire<T[K]> }
        : T;

/** asWire views a plain value as its Wire form (a type-level view: nothing is copied). */
export function asWire<T>(value: T): Wire<T> {
  return value as unknown as Wire<T>;
}

/** WireLong is the Long protobufjs returns for uint64 fields (when the long package loads). */
export interface WireLong {
  low: number;
  high: number;
}

/** Two to the 32nd: the weight of a Long's high word. */
const HIGH_WORD = 0x1_0000_0000;
/** The largest high word of a safe integer: 2^53 - 1 is high 0x1fffff, low 0xffffffff. */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

/**
 * uint64ToSafeNumber converts a decoded uint64 to a number; it returns the reason as a string
 * when the value is above 2^53 - 1 (or not a non-negative integer). Absent values read as 0.
 */
export function uint64ToSafeNumber(value: number | WireLong | null | undefined): number | string {
  if (value == null) return 0;
  if (typeof value === 'number') {
    // Without Long, protobufjs rounds big values, but never below 2^53: they stay unsafe.
    if (Number.isSafeInteger(value) && value >= 0) return value;
    return `${value} is not an integer in [0, 2^53 - 1]`;
  }
  const high = value.high >>> 0;
  if (high > SAFE_HIGH_WORD_MAX) {
    const exact = (BigInt(high) << 32n) | BigInt(value.low >>> 0);
    return `${exact} exceeds 2^53 - 1`;
  }
  return high * HIGH_WORD + (value.low >>> 0);
}

/**
 * NumberReader is a protobufjs Reader whose uint64 fields are read by the Raft codec's own
 * WireReader, straight into numbers: the stock reader builds a LongBits and a Long per field,
 * which showed in the allocation profile of a node (every command is decoded on every
 * replica). Values up to 2^53 - 1 come out as numbers; larger ones as their two words (a
 * WireLong), which uint64ToSafeNumber refuses with the exact value, as it refused the Long.
 * Pass one to a generated `decode` instead of the bytes.
 */
export class NumberReader extends protobuf.Reader {
  readonly #wire: WireReader;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.#wire = new WireReader(bytes);
  }

  /** uint64 reads a varint of up to 10 bytes (see WireReader.uint64). */
  override uint64(): ReturnType<protobuf.Reader['uint64']> {
    const wire = this.#wire;
    wire.pos = this.pos;
    const value = wire.uint64(this.len);
    this.pos = wire.pos;
    // The generated decoders take a number or an object with `low` and `high`, as here.
    return value as unknown as ReturnType<protobuf.Reader['uint64']>;
  }
}
