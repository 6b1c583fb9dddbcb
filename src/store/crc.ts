/**
 * CRC-32 (the IEEE polynomial of zlib, gzip and PNG) for checksumming persisted records.
 *
 * Node has `zlib.crc32` since 20.15 / 22.2; package.json allows any Node 20, so on an older
 * runtime a table-driven implementation computing the same function is used instead. Both take
 * a running value so one checksum can cover several buffers (for example a key and its value).
 */
import * as zlib from 'node:zlib';

/** Crc32Function computes CRC-32 of `data`, continuing from `value` (0 to start). */
export type Crc32Function = (data: Uint8Array, value?: number) => number;

const CRC_TABLE: Uint32Array = makeTable();

function makeTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** crc32Table is the portable, table-driven CRC-32 (same results as zlib.crc32). */
export function crc32Table(data: Uint8Array, value = 0): number {
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) {
    crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// The namespace lookup (not a named import) keeps this module loadable where crc32 is missing.
const nativeCrc32 = (zlib as { crc32?: Crc32Function }).crc32;

/** crc32 is CRC-32 of `data` continuing from `value`: zlib's native one when available. */
export const crc32: Crc32Function =
  typeof nativeCrc32 === 'function' ? (data, value = 0) => nativeCrc32(data, value) : crc32Table;
