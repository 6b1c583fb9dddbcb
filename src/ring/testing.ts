/**
 * Helpers shared by the ring's tests and its measurement script: seeded key sets and a spread
 * summary. Keys come from a fixed seed so every run measures the same sample.
 */
import { mulberry32 } from '../raft/config.js';
import type { GroupRing } from './group-ring.js';

/** seededRandom returns a mulberry32 generator of uint32 values: small, fast, reproducible. */
export function seededRandom(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 4_294_967_296; // mulberry32 divides a uint32 by 2^32: exact inverse
}

/** randomKeys returns `count` random 16-byte keys drawn from `seed`. */
export function randomKeys(count: number, seed: number): Uint8Array[] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const key = new Uint8Array(16);
    const view = new DataView(key.buffer);
    for (let offset = 0; offset < 16; offset += 4) view.setUint32(offset, next());
    return key;
  });
}

/** sequentialKeys returns `key-0` .. `key-<count - 1>`. */
export function sequentialKeys(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `key-${index}`);
}

/** Spread is the fewest and most keys any group got, as fractions of an even share. */
export interface Spread {
  min: number;
  max: number;
}

/** spreadOf routes `keys` with `ring` and summarises how evenly they landed. */
export function spreadOf(ring: GroupRing, keys: readonly (Uint8Array | string)[]): Spread {
  const counts = new Uint32Array(ring.groupCount + 1);
  for (const key of keys) counts[ring.groupOf(key)]!++;
  const even = keys.length / ring.groupCount;
  const perGroup = [...counts.subarray(1)];
  return { min: Math.min(...perGroup) / even, max: Math.max(...perGroup) / even };
}
