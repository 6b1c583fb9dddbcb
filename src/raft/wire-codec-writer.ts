/**
 * Writing protobuf wire format into a buffer sized in advance: each helper writes at `pos` and
 * returns the position after what it wrote. Numbers are written straight from JS numbers (no
 * Long); the caller has checked that they are safe non-negative integers. Tags are one byte:
 * every field of the Raft messages has a number below 16.
 */

/** varintSize is the number of bytes `value` (an integer in [0, 2^53 - 1]) takes as a varint. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  if (value < 0x8_0000_0000) return 5;
  if (value < 0x400_0000_0000) return 6;
  if (value < 0x2_0000_0000_0000) return 7;
  return 8; // 2^53 - 1 is below 2^56
}

/** writeVarint writes `value` (an integer in [0, 2^53 - 1]) as a varint. */
export function writeVarint(bytes: Uint8Array, pos: number, value: number): number {
  if (value < 0x80) {
    bytes[pos] = value;
    return pos + 1;
  }
  let rest = value;
  // Bit operators see 32 bits: above that, shift by dividing (exact for safe integers).
  while (rest > 0x7fff_ffff) {
    bytes[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  while (rest > 0x7f) {
    bytes[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  bytes[pos++] = rest;
  return pos;
}

/** varintFieldSize is the size of a varint field, 0 for 0 (proto3 leaves defaults out). */
export function varintFieldSize(value: number): number {
  return value === 0 ? 0 : 1 + varintSize(value);
}

/** writeVarintField writes a varint field unless `value` is 0. */
export function writeVarintField(
  bytes: Uint8Array,
  pos: number,
  tag: number,
  value: number,
): number {
  if (value === 0) return pos;
  bytes[pos] = tag;
  return writeVarint(bytes, pos + 1, value);
}

/** delimitedSize is the size of a length-delimited field whose value is `length` bytes. */
export function delimitedSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** writeDelimitedHeader writes the tag and length of a length-delimited field. */
export function writeDelimitedHeader(
  bytes: Uint8Array,
  pos: number,
  tag: number,
  length: number,
): number {
  bytes[pos] = tag;
  return writeVarint(bytes, pos + 1, length);
}

/** bytesFieldSize is the size of a bytes field, 0 when empty (proto3 leaves defaults out). */
export function bytesFieldSize(data: Uint8Array): number {
  return data.length === 0 ? 0 : delimitedSize(data.length);
}

/** writeBytesField writes a bytes field unless `data` is empty. */
export function writeBytesField(
  bytes: Uint8Array,
  pos: number,
  tag: number,
  data: Uint8Array,
): number {
  if (data.length === 0) return pos;
  const start = writeDelimitedHeader(bytes, pos, tag, data.length);
  bytes.set(data, start);
  return start + data.length;
}

/** packedSize is the size of the varints of a packed repeated field, without tag and length. */
export function packedSize(values: readonly number[]): number {
  let size = 0;
  for (let i = 0; i < values.length; i++) size += varintSize(values[i]);
  return size;
}

/** packedFieldSize is the size of a packed repeated field of varints, 0 when empty. */
export function packedFieldSize(values: readonly number[]): number {
  return values.length === 0 ? 0 : delimitedSize(packedSize(values));
}

/** writePackedField writes a packed repeated field of varints unless `values` is empty. */
export function writePackedField(
  bytes: Uint8Array,
  pos: number,
  tag: number,
  values: readonly number[],
): number {
  if (values.length === 0) return pos;
  pos = writeDelimitedHeader(bytes, pos, tag, packedSize(values));
  for (let i = 0; i < values.length; i++) pos = writeVarint(bytes, pos, values[i]);
  return pos;
}
