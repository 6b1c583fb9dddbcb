/**
 * CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0, no reflection), the checksum Redis
 * Cluster uses for key slots: `crc16(key) & 16383` is Redis's `CLUSTER KEYSLOT`. Chosen over
 * md5 for keys because it runs in a few nanoseconds per byte in plain JavaScript, needs no
 * allocation, and (being linear) spreads sequential keys at least as well as a random hash.
 */

/** CRC16_TABLE holds the CRC of every byte value, so the loop does one lookup per byte. */
const CRC16_TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[byte] = crc;
  }
  return table;
}

/** crc16Bytes returns the CRC16 of `bytes[start, end)`. */
export function crc16Bytes(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!;
  }
  return crc;
}

/**
 * crc16String returns the CRC16 of the UTF-8 encoding of `text[start, end)` without building
 * the encoding, so a lookup by string key allocates nothing. Lone surrogates are encoded as
 * U+FFFD, exactly as TextEncoder and Buffer.from do, so a string key and its encoded bytes
 * always route to the same group.
 */
export function crc16String(text: string, start = 0, end = text.length): number {
  let crc = 0;
  const step = (byte: number): void => {
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >>> 8) ^ byte) & 0xff]!;
  };
  for (let i = start; i < end; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      step(code);
      continue;
    }
    if (code < 0x800) {
      step(0xc0 | (code >> 6));
      step(0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < end ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        step(0xf0 | (code >> 18));
        step(0x80 | ((code >> 12) & 0x3f));
        step(0x80 | ((code >> 6) & 0x3f));
        step(0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    step(0xe0 | (code >> 12));
    step(0x80 | ((code >> 6) & 0x3f));
    step(0x80 | (code & 0x3f));
  }
  return crc;
}
