/**
 * Test helpers of the Raft codecs (codec.test.ts, wire-codec.test.ts): fast-check arbitraries
 * of valid values of every type the codec handles, and protobuf wire bytes built by hand
 * (varints from BigInt), for inputs no encoder would write.
 */
import fc from 'fast-check';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type GroupId,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js';

// ---- Arbitraries of valid values ----

export const uint64 = fc.maxSafeNat();
export const nodeIdArb = fc
  .integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
  .map((id) => id as NodeId);
export const bytesArb = fc.uint8Array({ maxLength: 48 });

/** record is fc.record with ordinary prototypes (deepStrictEqual compares prototypes). */
export function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

export function enumValues(names: Record<string, string | number>): number[] {
  return Object.values(names).filter((value): value is number => typeof value === 'number');
}

export const entryArb: fc.Arbitrary<Entry> = record({
  term: uint64,
  index: uint64,
  type: fc.constantFrom(...enumValues(EntryType)),
  data: bytesArb,
});

export const hardStateArb: fc.Arbitrary<HardState> = record({
  term: uint64,
  vote: fc.oneof(fc.constant(0 as NodeId), nodeIdArb),
  commit: uint64,
});

/** confStateArb splits distinct ids between voters and learners, each list sorted. */
export const confStateArb: fc.Arbitrary<ConfState> = fc
  .uniqueArray(fc.tuple(nodeIdArb, fc.boolean()), { maxLength: 9, selector: ([id]) => id })
  .map((members) => {
    const sorted = members.sort(([a], [b]) => a - b);
    return {
      voters: sorted.filter(([, voter]) => voter).map(([id]) => id),
      learners: sorted.filter(([, voter]) => !voter).map(([id]) => id),
    };
  });

export const confChangeArb: fc.Arbitrary<ConfChange> = record({
  type: fc.constantFrom(...enumValues(ConfChangeType)),
  nodeId: nodeIdArb,
  context: bytesArb,
});

export const metadataArb: fc.Arbitrary<SnapshotMetadata> = record({
  index: uint64,
  term: uint64,
  confState: confStateArb,
});

export const snapshotArb: fc.Arbitrary<Snapshot> = record({
  metadata: metadataArb,
  data: bytesArb,
});

export const messageArb: fc.Arbitrary<Message> = record({
  type: fc.constantFrom(...enumValues(MessageType)),
  groupId: fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((id) => id as GroupId),
  from: uint64.map((id) => id as NodeId),
  to: uint64.map((id) => id as NodeId),
  term: uint64,
  logTerm: uint64,
  index: uint64,
  entries: fc.array(entryArb, { maxLength: 6 }),
  commit: uint64,
  reject: fc.boolean(),
  rejectHint: uint64,
  snapshot: fc.option(snapshotArb, { nil: null }),
  context: bytesArb,
});

// ---- Helpers that build wire bytes by hand ----

export function varint(value: bigint): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

/** key encodes a field's tag: number << 3 | wire type. */
export function key(number: number, wireType: number): number[] {
  return varint(BigInt((number << 3) | wireType));
}

/** varintField encodes field `number` with wire type 0 and `value`. */
export function varintField(number: number, value: bigint): number[] {
  return [...key(number, 0), ...varint(value)];
}

/** nestedField encodes field `number` with wire type 2 around `bytes`. */
export function nestedField(number: number, bytes: readonly number[]): number[] {
  return [...key(number, 2), ...varint(BigInt(bytes.length)), ...bytes];
}
