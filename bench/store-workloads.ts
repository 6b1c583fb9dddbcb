/**
 * The store benchmark's workloads, the same for every system: closed loops of puts, gets or a
 * 50/50 mix over 10,000 keys picked by a seeded random source (the same sequence for each
 * system and every repeat), plus stream-task checkpoints of N distinct keys drawn the same way
 * (they run only on a system with the `checkpoint` capability: Strata).
 */
import type { Operation } from './store-load.js';
import type { BenchSystem, Capability, ReadMode } from './store-system.js';

/** KEY_COUNT is the number of distinct keys every workload picks from. */
export const KEY_COUNT = 10_000;
/** VALUE_BYTES_SMALL is the value size of puts and pre-loaded keys unless a workload says. */
export const VALUE_BYTES_SMALL = 100;

/** Workload is one closed-loop configuration. */
export interface Workload {
  name: string;
  kind: 'put' | 'get' | 'mix' | 'checkpoint';
  inFlight: number;
  /** valueBytes is the size of the values put (puts and the mix). */
  valueBytes: number;
  /** read is the consistency of gets (gets and the mix). */
  read?: ReadMode;
  /** needs names a capability a system must have to run this workload. */
  needs?: Capability;
  /** dirtyKeys is the number of keys in one checkpoint (checkpoint workloads). */
  dirtyKeys?: number;
}

const put = (name: string, inFlight: number, valueBytes: number): Workload => ({
  name,
  kind: 'put',
  inFlight,
  valueBytes,
});
const get = (name: string, read: ReadMode, needs?: Capability): Workload => ({
  name,
  kind: 'get',
  inFlight: 64,
  valueBytes: VALUE_BYTES_SMALL,
  read,
  ...(needs ? { needs } : {}),
});
const checkpoint = (dirtyKeys: number): Workload => ({
  name: `checkpoint-${dirtyKeys}`,
  kind: 'checkpoint',
  inFlight: 1,
  valueBytes: VALUE_BYTES_SMALL,
  needs: 'checkpoint',
  dirtyKeys,
});

/** WORKLOADS run in this order: puts first, then reads of pre-loaded keys, then the rest. */
export const WORKLOADS: readonly Workload[] = [
  put('put-1', 1, VALUE_BYTES_SMALL),
  put('put-64', 64, VALUE_BYTES_SMALL),
  put('put-256', 256, VALUE_BYTES_SMALL),
  put('put-1k-64', 64, 1_024),
  put('put-64k-64', 64, 65_536),
  get('get-linearizable-64', 'linearizable'),
  get('get-serializable-64', 'serializable'),
  get('get-at-index-64', 'at-index', 'get-at-index'),
  { ...put('mix-64', 64, VALUE_BYTES_SMALL), kind: 'mix', read: 'linearizable' },
  checkpoint(100),
  checkpoint(1_000),
  checkpoint(10_000),
];

/** readsKeys tells whether a workload reads pre-loaded keys (so they must hold small values). */
export function readsKeys(workload: Workload): boolean {
  return workload.kind === 'get' || workload.kind === 'mix';
}

/** canRun tells whether `system` has what `workload` needs. */
export function canRun(system: BenchSystem, workload: Workload): boolean {
  return workload.needs === undefined || system.capabilities.has(workload.needs);
}

/** xorshift32 is a small seeded random source, so every run picks the same keys. */
export function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}

/** KEYS are the benchmark's keys, `bench/key-00000` to `bench/key-09999`. */
export const KEYS: readonly Uint8Array[] = Array.from({ length: KEY_COUNT }, (_, i) =>
  Buffer.from(`bench/key-${String(i).padStart(5, '0')}`),
);

const values = new Map<number, Uint8Array>();

/** valueOf returns the (shared, never modified) value of `bytes` bytes. */
export function valueOf(bytes: number): Uint8Array {
  let value = values.get(bytes);
  if (!value) {
    value = new Uint8Array(bytes).map((_, i) => 97 + (i % 26));
    values.set(bytes, value);
  }
  return value;
}

/**
 * BenchDataError says the store did not hold what the benchmark wrote: a get did not return the
 * pre-loaded value, or a checkpoint did not commit what it was given.
 */
export class BenchDataError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'WRONG_VALUE' | 'WRONG_CHECKPOINT',
    message: string,
  ) {
    super(message);
    this.name = 'BenchDataError';
  }
}

/**
 * distinctKeys returns a function that draws `count` distinct key numbers per call, by a
 * partial Fisher-Yates shuffle of one permutation of the keys (kept from call to call), so a
 * checkpoint has exactly `count` dirty keys, picked by `random`.
 */
export function distinctKeys(random: () => number, count: number): () => number[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > KEY_COUNT) {
    throw new RangeError(`dirty keys ${count} is not in [1, ${KEY_COUNT}]`);
  }
  const permutation = Array.from({ length: KEY_COUNT }, (_, i) => i);
  return () => {
    for (let i = 0; i < count; i++) {
      const j = i + (random() % (KEY_COUNT - i));
      const key = permutation[j];
      permutation[j] = permutation[i];
      permutation[i] = key;
    }
    return permutation.slice(0, count);
  };
}

async function checkedGet(system: BenchSystem, key: number, read: ReadMode): Promise<void> {
  const value = await system.get(key, read);
  if (value === null) throw new BenchDataError('NOT_FOUND', `key ${key} is missing`);
  if (value.length !== VALUE_BYTES_SMALL) {
    throw new BenchDataError('WRONG_VALUE', `key ${key} has ${value.length} bytes`);
  }
}

/** operationOf builds a workload's operation on `system`, keys drawn from `seed`. */
export function operationOf(system: BenchSystem, workload: Workload, seed: number): Operation {
  const random = xorshift32(seed);
  const value = valueOf(workload.valueBytes);
  const read = workload.read ?? 'linearizable';
  switch (workload.kind) {
    case 'put':
      return () => system.put(random() % KEY_COUNT, value);
    case 'get':
      return () => checkedGet(system, random() % KEY_COUNT, read);
    case 'mix':
      return () => {
        const draw = random();
        const key = (draw >>> 1) % KEY_COUNT;
        return (draw & 1) === 0 ? system.put(key, value) : checkedGet(system, key, read);
      };
    case 'checkpoint': {
      const { checkpoint } = system;
      if (!checkpoint) throw new Error(`${system.name} cannot run ${workload.name}`);
      const draw = distinctKeys(random, workload.dirtyKeys ?? 0);
      return () => checkpoint.call(system, draw(), value);
    }
    default: {
      const never: never = workload.kind;
      throw new Error(`unknown workload kind ${String(never)}`);
    }
  }
}
