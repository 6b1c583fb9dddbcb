/**
 * Big-endian integers read and written straight in byte arrays, for the record and key
 * formats of the log (log-codec.ts), the state machine (sm-records.ts) and its snapshot chunks
 * (sm-snapshot.ts). A DataView per record did the same work, but creating one was the top
 * self-time item of a node's profile under puts (a few records per put on every node). Callers
 * check bounds first: an index past the end reads as 0 here, where a DataView would throw.
 */

/** TWO_POW_32 is the weight of a u64's high word. */
const TWO_POW_32 = 0x1_0000_0000;
/** SAFE_HIGH_WORD_MAX is the largest high word of a safe integer (2^53 - 1). */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

/** putU32 writes `value` (in [0, 2^32)) at `offset`. */
export function putU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

/** getU32 reads the u32 at `offset`. */
export function getU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) |
      (bytes[offset + 1]! << 16) |
      (bytes[offset + 2]! << 8) |
      bytes[offset + 3]!) >>>
    0
  );
}

/** putU64 writes a safe non-negative integer at `offset` (the caller asserts it is one). */
export function putU64(bytes: Uint8Array, offset: number, value: number): void {
  putU32(bytes, offset, Math.floor(value / TWO_POW_32));
  putU32(bytes, offset + 4, value >>> 0);
}

/** getU64 reads the u64 at `offset`, or returns -1 when it is above 2^53 - 1. */
export function getU64(bytes: Uint8Array, offset: number): number {
  const high = getU32(bytes, offset);
  if (high > SAFE_HIGH_WORD_MAX) return -1;
  return high * TWO_POW_32 + getU32(bytes, offset + 4);
}
