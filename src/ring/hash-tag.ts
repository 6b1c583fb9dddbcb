/**
 * Hash tags, with Redis Cluster's rule exactly: if a key contains `{` and a later `}` with at
 * least one character between the first `{` and the first `}` after it, only the bytes
 * between them are hashed. Stream tasks keep their keys under `{task:<taskId>}/...` so all of a
 * task's state and its checkpoint land in one group and commit in one Raft entry.
 */

const OPEN_BRACE = 0x7b; // '{'
const CLOSE_BRACE = 0x7d; // '}'

/**
 * routingKeyRange returns the routing key of `key` as a range [start, end) of its indexes, so a
 * lookup can hash it in place without copying. It treats strings and bytes alike because `{`
 * and `}` are ASCII and UTF-8 never uses ASCII bytes inside a multi-byte sequence: a string and
 * its UTF-8 encoding have the same tag.
 */
export function routingKeyRange(key: Uint8Array | string): [number, number] {
  const length = key.length;
  const open = indexOfCode(key, OPEN_BRACE, 0);
  if (open < 0) return [0, length];
  const close = indexOfCode(key, CLOSE_BRACE, open + 1);
  // Redis: no closing brace, or `{}` (an empty tag), means the whole key is hashed.
  if (close < 0 || close === open + 1) return [0, length];
  return [open + 1, close];
}

/**
 * routingKey returns the part of `key` that decides its group: the hash tag when the key has a
 * non-empty one, else the whole key. A Uint8Array result is a view of the input (no copy).
 */
export function routingKey(key: string): string;
export function routingKey(key: Uint8Array): Uint8Array;
export function routingKey(key: Uint8Array | string): Uint8Array | string;
export function routingKey(key: Uint8Array | string): Uint8Array | string {
  const [start, end] = routingKeyRange(key);
  if (start === 0 && end === key.length) return key;
  return typeof key === 'string' ? key.slice(start, end) : key.subarray(start, end);
}

/** indexOfCode finds an ASCII code in a string or byte array from `from`, or returns -1. */
function indexOfCode(key: Uint8Array | string, code: number, from: number): number {
  if (typeof key === 'string') return key.indexOf(String.fromCharCode(code), from);
  return key.indexOf(code, from);
}
