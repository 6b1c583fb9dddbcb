/**
 * Keys as the client accepts them (`string | Uint8Array`, strings as UTF-8) and the byte
 * helpers routing needs: ordering, and whether a key selection stays within one group (it does
 * when every key it can match shares a complete `{hash tag}`).
 */
import { routingKey } from '../ring/index.js';

/** Key is a key or value as the client accepts it: bytes, or a string encoded as UTF-8. */
export type Key = string | Uint8Array;

/** ZERO_KEY is the one-byte range end that means "every key from the start on" (etcd's). */
export const ZERO_KEY: Uint8Array = new Uint8Array([0]);

/** toBytes returns a key's bytes: a string's UTF-8 encoding, or the bytes themselves. */
export function toBytes(key: Key): Uint8Array {
  if (typeof key === 'string') return Buffer.from(key, 'utf8');
  if (key instanceof Uint8Array) return key;
  throw new TypeError(`a key or value must be a string or a Uint8Array, got ${typeof key}`);
}

/** compareBytes orders byte strings as the store does (unsigned, bytewise, shorter first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(asBuffer(a), asBuffer(b));
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** commonPrefix returns the longest common prefix of two byte strings (a view of `a`). */
export function commonPrefix(a: Uint8Array, b: Uint8Array): Uint8Array {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a[i] === b[i]) i++;
  return a.subarray(0, i);
}

/** hasCompleteTag says whether `bytes` contains a non-empty `{hash tag}` (its routing key). */
export function hasCompleteTag(bytes: Uint8Array): boolean {
  return routingKey(bytes).length !== bytes.length;
}

/**
 * tagScope returns a key that routes like every key a selection can match, or null when the
 * selection may span groups. A prefix with a complete tag fixes the tag of every key under it;
 * a range [start, end) fixes the common prefix of start and end for every key inside it, so a
 * complete tag in that prefix fixes the group. An exact key is its own scope.
 */
export function tagScope(selection: { key: Uint8Array; rangeEnd: Uint8Array; prefix: boolean }) {
  if (!selection.prefix && selection.rangeEnd.length === 0) return selection.key;
  if (selection.prefix) return hasCompleteTag(selection.key) ? selection.key : null;
  if (selection.rangeEnd.length === 1 && selection.rangeEnd[0] === 0) return null;
  if (compareBytes(selection.rangeEnd, selection.key) <= 0) return null;
  const shared = commonPrefix(selection.key, selection.rangeEnd);
  return hasCompleteTag(shared) ? shared : null;
}

/** printable renders a key for an error message: text when it is UTF-8, else hex, cut short. */
export function printable(key: Uint8Array, max = 64): string {
  const text = Buffer.from(key.buffer, key.byteOffset, key.length).toString('utf8');
  const clean = !text.includes('\uFFFD') && !/[\p{Cc}]/u.test(text);
  const shown = clean ? JSON.stringify(text) : `0x${Buffer.from(key).toString('hex')}`;
  return shown.length > max ? `${shown.slice(0, max)}...` : shown;
}
