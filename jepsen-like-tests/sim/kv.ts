/**
 * The simulated state machine: a per-key register store (write, read, compare-and-set) whose
 * commands travel as JSON inside entry data. JSON is fine here (the simulator is not the hot
 * path); every command carries a unique op id so a client can recognise its own entry.
 */

/** RegisterValue is the value of one register; null means "never written". */
export type RegisterValue = number | null;

/** KvCommand is one state-machine command. `op` is unique per run (0 for probes). */
export type KvCommand =
  | { op: number; f: 'write'; key: string; value: number }
  | { op: number; f: 'cas'; key: string; expected: RegisterValue; value: number }
  | { op: number; f: 'probe' };

/** KvResult is what applying a command returned: whether it took effect. */
export interface KvResult {
  applied: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** encodeCommand turns a command into entry data. */
export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

/** decodeCommand reads entry data back; null for the empty no-op of a new leader. */
export function decodeCommand(data: Uint8Array): KvCommand | null {
  if (data.byteLength === 0) return null;
  const command = JSON.parse(decoder.decode(data)) as KvCommand;
  if (typeof command !== 'object' || command === null || typeof command.op !== 'number') {
    throw new TypeError(`bad command in entry data: ${decoder.decode(data)}`);
  }
  return command;
}

/** KvStore is the register map of one replica. Invariant: keys hold numbers only. */
export class KvStore {
  private readonly values = new Map<string, number>();

  /** KvStore.restore rebuilds a store from snapshot data (empty data = empty store). */
  static restore(data: Uint8Array): KvStore {
    const store = new KvStore();
    if (data.byteLength === 0) return store;
    const pairs = JSON.parse(decoder.decode(data)) as [string, number][];
    for (const [key, value] of pairs) store.values.set(key, value);
    return store;
  }

  /** read returns the register's value (null if never written). */
  read(key: string): RegisterValue {
    return this.values.get(key) ?? null;
  }

  /** apply runs one command. A cas whose expected value differs changes nothing. */
  apply(command: KvCommand): KvResult {
    switch (command.f) {
      case 'write':
        this.values.set(command.key, command.value);
        return { applied: true };
      case 'cas':
        if (this.read(command.key) !== command.expected) return { applied: false };
        this.values.set(command.key, command.value);
        return { applied: true };
      case 'probe':
        return { applied: true };
      default: {
        const never: never = command;
        throw new TypeError(`unknown command ${JSON.stringify(never)}`);
      }
    }
  }

  /** serialize returns deterministic snapshot data (keys sorted). */
  serialize(): Uint8Array {
    const pairs = [...this.values.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return encoder.encode(JSON.stringify(pairs));
  }
}

/** hashBytes is FNV-1a (32 bit) over bytes, seeded with `seed` (e.g. the entry type). */
export function hashBytes(bytes: Uint8Array, seed = 0): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i];
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
