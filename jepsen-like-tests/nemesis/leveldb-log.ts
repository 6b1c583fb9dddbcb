/**
 * Tearing the tail of a LevelDB write-ahead log (a node's `raft/` database), for the torn-tail
 * nemesis. LevelDB's log is a sequence of 32 KiB blocks; each physical record has a 7-byte
 * header (crc32c: 4, length: 2 little-endian, type: 1) and a logical record (one write batch) is
 * one FULL record or FIRST, MIDDLE..., LAST fragments; a block tail shorter than a header is
 * zero padding. `lastRecordSpan` finds the last logical record; `tearTail` truncates the file
 * somewhere inside it, as a crash in the middle of writing it would.
 */
import { readdir, stat, truncate, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const BLOCK_BYTES = 32 * 1024;
const HEADER_BYTES = 7;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** RecordSpan is the byte range [start, end) of one logical record in a log file. */
export interface RecordSpan {
  start: number;
  end: number;
}

/** lastRecordSpan returns the span of the last complete logical record, or null if none. */
export function lastRecordSpan(bytes: Uint8Array): RecordSpan | null {
  let offset = 0;
  let recordStart = -1;
  let last: RecordSpan | null = null;
  const blocksMax = Math.ceil(bytes.length / BLOCK_BYTES) + 1;
  for (let steps = 0; offset < bytes.length && steps < blocksMax * BLOCK_BYTES; steps++) {
    const blockLeft = BLOCK_BYTES - (offset % BLOCK_BYTES);
    if (blockLeft < HEADER_BYTES) {
      offset += blockLeft;
      continue;
    }
    if (offset + HEADER_BYTES > bytes.length) break;
    const length = bytes[offset + 4]! | (bytes[offset + 5]! << 8);
    const type = bytes[offset + 6]!;
    const end = offset + HEADER_BYTES + length;
    if (type === 0 || end > bytes.length) break; // preallocated zeros or a torn record
    if (type === FULL) last = { start: offset, end };
    else if (type === FIRST) recordStart = offset;
    else if (type === LAST && recordStart >= 0) last = { start: recordStart, end };
    else if (type !== MIDDLE) break;
    offset = end;
  }
  return last;
}

/** newestLogFile returns the path of the highest-numbered `NNNNNN.log` in `dbDir`, or null. */
export async function newestLogFile(dbDir: string): Promise<string | null> {
  const names = (await readdir(dbDir)).filter((name) => /^\d+\.log$/.test(name));
  if (names.length === 0) return null;
  names.sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
  return join(dbDir, names[names.length - 1]!);
}

/** TearResult says what tearTail did. */
export interface TearResult {
  file: string | null;
  sizeBefore: number;
  sizeAfter: number;
  record: RecordSpan | null;
}

/**
 * tearTail truncates the newest log of `dbDir` at `start + floor(fraction * length)` of its
 * last logical record (fraction in [0, 1): 0 removes the whole record, anything else leaves a
 * torn one). The database must be closed (its node down).
 */
export async function tearTail(dbDir: string, fraction: number): Promise<TearResult> {
  const file = await newestLogFile(dbDir);
  if (!file) return { file: null, sizeBefore: 0, sizeAfter: 0, record: null };
  const sizeBefore = (await stat(file)).size;
  const record = lastRecordSpan(await readFile(file));
  if (!record) return { file, sizeBefore, sizeAfter: sizeBefore, record: null };
  const clamped = Math.min(Math.max(fraction, 0), 0.999);
  const cut = record.start + Math.floor(clamped * (record.end - record.start));
  await truncate(file, cut);
  return { file, sizeBefore, sizeAfter: cut, record };
}
