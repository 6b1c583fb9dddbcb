/**
 * Tests of the codec (codec.ts). They prove that:
 * - every type round-trips: arbitrary valid values (fast-check) encode, decode and compare
 *   deep-equal, with complete Message objects and plain Uint8Array byte fields;
 * - decoding never throws anything but MessageDecodeError, on random bytes and on mutated valid
 *   encodings, and what it does return is valid (it re-encodes and round-trips);
 * - out-of-range input is refused with MessageDecodeError naming the field: uint64 values above
 *   2^53 - 1, unknown enum values, overlapping or unsorted ConfState lists, node id 0;
 * - the wire format is stable: the proto enums mirror the TypeScript enums value for value, and
 *   a fixed message encodes to fixed bytes;
 * - encoding a value that cannot round-trip (negative, fractional, unsafe) fails an assertion.
 * Out-of-range inputs are built byte by byte (varints from BigInt) or with the generated
 * encoders, which do not check. Runs are bounded (a few hundred cases per property).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  confChangeArb,
  confStateArb,
  entryArb,
  enumValues,
  hardStateArb,
  messageArb,
  metadataArb,
  nestedField,
  nodeIdArb,
  snapshotArb,
  varint,
  varintField,
} from './codec-test-util.js';
import {
  MessageDecodeError,
  decodeConfChange,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeMessageBatch,
  decodeSnapshot,
  decodeSnapshotMetadata,
  encodeConfChange,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeMessageBatch,
  encodeSnapshot,
  encodeSnapshotMetadata,
} from './codec.js';
import { AssertionFailure } from './errors.js';
import { strata } from './gen/raft.js';
import {
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  emptyMessage,
  type GroupId,
  type NodeId,
} from './types.js';

const RUNS = 300;
const TWO_TO_53 = 2n ** 53n;
const UINT64_MAX = 2n ** 64n - 1n;

/** decodeError runs `decode` and returns the MessageDecodeError it must throw. */
function decodeError(decode: () => unknown): MessageDecodeError {
  try {
    decode();
  } catch (error) {
    assert.ok(error instanceof MessageDecodeError, `expected MessageDecodeError, got ${error}`);
    assert.equal(error.code, 'MALFORMED');
    return error;
  }
  assert.fail('decode did not throw');
}

/** Codec pairs an encoder with its decoder, for the properties every type shares. */
interface Codec {
  name: string;
  encode: (value: never) => Uint8Array;
  decode: (bytes: Uint8Array) => unknown;
  arbitrary: fc.Arbitrary<unknown>;
}

const batchArb = fc.array(messageArb, { maxLength: 4 });
const codecs: Codec[] = [
  { name: 'Message', encode: encodeMessage, decode: decodeMessage, arbitrary: messageArb },
  {
    name: 'MessageBatch',
    encode: encodeMessageBatch,
    decode: decodeMessageBatch,
    arbitrary: batchArb,
  },
  { name: 'Entry', encode: encodeEntry, decode: decodeEntry, arbitrary: entryArb },
  { name: 'HardState', encode: encodeHardState, decode: decodeHardState, arbitrary: hardStateArb },
  { name: 'ConfState', encode: encodeConfState, decode: decodeConfState, arbitrary: confStateArb },
  {
    name: 'ConfChange',
    encode: encodeConfChange,
    decode: decodeConfChange,
    arbitrary: confChangeArb,
  },
  {
    name: 'SnapshotMetadata',
    encode: encodeSnapshotMetadata,
    decode: decodeSnapshotMetadata,
    arbitrary: metadataArb,
  },
  { name: 'Snapshot', encode: encodeSnapshot, decode: decodeSnapshot, arbitrary: snapshotArb },
];

/** roundTrip encodes a value with a codec and decodes the bytes. */
function roundTrip(codec: Codec, value: unknown): unknown {
  return codec.decode(codec.encode(value as never));
}

/** mutationArb picks a way to damage an encoding: truncate, overwrite or insert a byte. */
const mutationArb = fc.tuple(
  fc.constantFrom('truncate', 'overwrite', 'insert'),
  fc.nat(),
  fc.integer({ min: 0, max: 255 }),
);

function mutate(bytes: Uint8Array, [kind, at, byte]: [string, number, number]): Uint8Array {
  const position = bytes.length === 0 ? 0 : at % bytes.length;
  const copy = Array.from(bytes);
  if (kind === 'truncate') copy.length = position;
  else if (kind === 'overwrite' && copy.length > 0) copy[position] = byte;
  else copy.splice(position, 0, byte);
  return Uint8Array.from(copy);
}

/** decodesOrRefuses asserts decode returns a re-encodable value or throws MessageDecodeError. */
function decodesOrRefuses(codec: Codec, bytes: Uint8Array): void {
  let value: unknown;
  try {
    value = codec.decode(bytes);
  } catch (error) {
    assert.ok(error instanceof MessageDecodeError, `${codec.name}: unexpected ${error}`);
    return;
  }
  assert.deepEqual(roundTrip(codec, value), value);
}

describe('codec round trips', () => {
  for (const codec of codecs) {
    it(`${codec.name}: decode(encode(x)) deep-equals x`, () => {
      fc.assert(
        fc.property(codec.arbitrary, (value) => {
          assert.deepEqual(roundTrip(codec, value), value);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('decodes complete messages: every field present, plain empty bytes, snapshot null', () => {
    const heartbeat = emptyMessage(MessageType.Heartbeat, 3 as GroupId, 1 as NodeId, 2 as NodeId);
    const decoded = decodeMessage(encodeMessage(heartbeat));
    assert.deepEqual(Object.keys(decoded).sort(), Object.keys(heartbeat).sort());
    assert.equal(decoded.snapshot, null);
    assert.equal(decoded.context, EMPTY_BYTES);
    assert.deepEqual(decoded, heartbeat);
  });

  it('decoded bytes are plain Uint8Arrays that do not alias the input buffer', () => {
    const message = emptyMessage(MessageType.Append, 1 as GroupId, 1 as NodeId, 2 as NodeId);
    message.entries.push({ term: 1, index: 1, type: EntryType.Normal, data: Uint8Array.of(7) });
    const bytes = Buffer.from(encodeMessage(message));
    const decoded = decodeMessage(bytes);
    bytes.fill(0);
    assert.equal(Object.getPrototypeOf(decoded.entries[0].data), Uint8Array.prototype);
    assert.deepEqual(decoded.entries[0].data, Uint8Array.of(7));
  });

  it('encodes the maximum safe integer and reads it back exactly', () => {
    const hardState = { term: Number.MAX_SAFE_INTEGER, vote: 1 as NodeId, commit: 2 ** 53 - 2 };
    assert.deepEqual(decodeHardState(encodeHardState(hardState)), hardState);
  });
});

describe('codec refuses malformed input with MessageDecodeError only', () => {
  for (const codec of codecs) {
    it(`${codec.name}: random bytes decode to a valid value or MessageDecodeError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => decodesOrRefuses(codec, bytes)),
        { numRuns: RUNS },
      );
    });

    it(`${codec.name}: mutated encodings decode to a valid value or MessageDecodeError`, () => {
      fc.assert(
        fc.property(codec.arbitrary, mutationArb, (value, mutation) => {
          decodesOrRefuses(codec, mutate(codec.encode(value as never), mutation));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('refuses input that is not a Uint8Array', () => {
    const error = decodeError(() => decodeMessage('hello' as unknown as Uint8Array));
    assert.match(error.message, /expected a Uint8Array/);
  });

  it('refuses truncated protobuf, saying the bytes as a whole are malformed', () => {
    const error = decodeError(() =>
      decodeMessage(Uint8Array.from(nestedField(8, [8]).slice(0, 2))),
    );
    assert.equal(error.field, '');
    assert.equal(error.typeName, 'Message');
  });
});

describe('codec refuses out-of-range values, naming the field', () => {
  const messageUint64Fields: [string, number][] = [
    ['from', 3],
    ['to', 4],
    ['term', 5],
    ['logTerm', 6],
    ['index', 7],
    ['commit', 9],
    ['rejectHint', 11],
  ];

  it('Message: uint64 fields above 2^53 - 1', () => {
    const fieldArb = fc.constantFrom(...messageUint64Fields);
    const valueArb = fc.bigInt({ min: TWO_TO_53, max: UINT64_MAX });
    fc.assert(
      fc.property(fieldArb, valueArb, ([name, number], value) => {
        const error = decodeError(() => decodeMessage(Uint8Array.from(varintField(number, value))));
        assert.equal(error.field, name);
        assert.match(error.reason, new RegExp(`${value} exceeds 2\\^53 - 1`));
      }),
      { numRuns: 100 },
    );
  });

  it('nested uint64 fields above 2^53 - 1 are named by their path', () => {
    const big = TWO_TO_53 + 1n;
    const entry = varintField(1, big);
    const batch = nestedField(1, []).concat(nestedField(1, nestedField(8, entry)));
    assert.equal(
      decodeError(() => decodeMessageBatch(Uint8Array.from(batch))).field,
      'messages[1].entries[0].term',
    );
    const snapshot = nestedField(12, nestedField(1, varintField(2, big)));
    assert.equal(
      decodeError(() => decodeMessage(Uint8Array.from(snapshot))).field,
      'snapshot.metadata.index',
    );
    assert.equal(
      decodeError(() => decodeHardState(Uint8Array.from(varintField(3, big)))).field,
      'commit',
    );
    assert.equal(
      decodeError(() => decodeConfChange(Uint8Array.from(varintField(2, big)))).field,
      'nodeId',
    );
    const voters = nestedField(1, [...varint(5n), ...varint(big)]);
    assert.equal(decodeError(() => decodeConfState(Uint8Array.from(voters))).field, 'voters[1]');
  });

  it('unknown enum values: message type, entry type, conf change type', () => {
    // int32 enums: any varint, including negative numbers as 10-byte varints.
    const unknown = (known: number[]) =>
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((v) => !known.includes(v));
    const asVarint = (value: number) => BigInt.asUintN(64, BigInt(value));
    fc.assert(
      fc.property(unknown(enumValues(MessageType)), (value) => {
        const bytes = Uint8Array.from(varintField(1, asVarint(value)));
        assert.equal(decodeError(() => decodeMessage(bytes)).field, 'type');
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(unknown(enumValues(EntryType)), (value) => {
        const bytes = Uint8Array.from(nestedField(8, varintField(3, asVarint(value))));
        assert.equal(decodeError(() => decodeMessage(bytes)).field, 'entries[0].type');
        const entry = Uint8Array.from(varintField(3, asVarint(value)));
        assert.equal(decodeError(() => decodeEntry(entry)).field, 'type');
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(unknown(enumValues(ConfChangeType)), (value) => {
        const bytes = Uint8Array.from([...varintField(1, asVarint(value)), ...varintField(2, 1n)]);
        assert.equal(decodeError(() => decodeConfChange(bytes)).field, 'type');
      }),
      { numRuns: 100 },
    );
  });

  it('ConfState: overlapping voters and learners', () => {
    const overlapArb = fc
      .uniqueArray(nodeIdArb, { minLength: 1, maxLength: 8 })
      .chain((ids) => fc.tuple(fc.constant(ids.sort((a, b) => a - b)), fc.constantFrom(...ids)));
    fc.assert(
      fc.property(overlapArb, ([voters, shared]) => {
        const bytes = strata.raft.ConfState.encode({ voters, learners: [shared] }).finish();
        const error = decodeError(() => decodeConfState(bytes));
        assert.equal(error.field, 'learners');
        assert.match(error.reason, new RegExp(`node ${shared} is also a voter`));
        const metadata = strata.raft.SnapshotMetadata.encode({
          confState: { voters, learners: [shared] },
        }).finish();
        assert.equal(
          decodeError(() => decodeSnapshotMetadata(metadata)).field,
          'confState.learners',
        );
      }),
      { numRuns: 100 },
    );
  });

  it('ConfState: unsorted or repeated ids and node id 0', () => {
    const cases: [number[], number[], string][] = [
      [[2, 1], [], 'voters[1]'],
      [[1, 1], [], 'voters[1]'],
      [[1], [4, 3], 'learners[1]'],
      [[0, 1], [], 'voters[0]'],
      [[1], [0], 'learners[0]'],
    ];
    for (const [voters, learners, field] of cases) {
      const bytes = strata.raft.ConfState.encode({ voters, learners }).finish();
      assert.equal(decodeError(() => decodeConfState(bytes)).field, field);
    }
    const change = Uint8Array.from(varintField(1, 1n)); // ADD_LEARNER of node 0
    assert.equal(decodeError(() => decodeConfChange(change)).field, 'nodeId');
  });
});

describe('codec wire format', () => {
  /** screamingSnake turns 'AppendResponse' into 'APPEND_RESPONSE'. */
  const screamingSnake = (name: string) => name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
  const mirrors: [string, Record<string, string | number>, object][] = [
    ['MessageType', MessageType, strata.raft.Message.Type],
    ['EntryType', EntryType, strata.raft.Entry.Type],
    ['ConfChangeType', ConfChangeType, strata.raft.ConfChange.Type],
  ];

  for (const [name, tsEnum, protoEnum] of mirrors) {
    it(`proto enum mirrors ${name} value for value`, () => {
      const tsPairs = Object.entries(tsEnum)
        .filter(([, value]) => typeof value === 'number')
        .map(([key, value]) => [screamingSnake(key), value]);
      assert.deepEqual(Object.fromEntries(tsPairs), { ...protoEnum });
    });
  }

  it('a fixed message encodes to fixed bytes (field numbers never change)', () => {
    const message = emptyMessage(MessageType.Append, 7 as GroupId, 1 as NodeId, 2 as NodeId);
    Object.assign(message, { term: 5, logTerm: 4, index: 9, commit: 8, rejectHint: 3 });
    Object.assign(message, { reject: true, context: Uint8Array.of(0xcc) });
    message.entries.push({
      term: 5,
      index: 10,
      type: EntryType.ConfChange,
      data: Uint8Array.of(1),
    });
    const hex = Buffer.from(encodeMessage(message)).toString('hex');
    assert.equal(hex, '080310071801200228053004380942090805100a18012201014808500158036a01cc');
  });
});

describe('codec encode assertions', () => {
  it('refuses numbers that cannot round-trip', () => {
    const base = emptyMessage(MessageType.Vote, 1 as GroupId, 1 as NodeId, 2 as NodeId);
    for (const term of [-1, 1.5, 2 ** 53, Number.NaN]) {
      assert.throws(() => encodeMessage({ ...base, term }), AssertionFailure);
    }
    assert.throws(
      () => encodeMessage({ ...base, groupId: (2 ** 32) as GroupId }),
      AssertionFailure,
    );
    assert.throws(() => encodeMessage({ ...base, type: 99 as MessageType }), AssertionFailure);
    const entry = { term: 1, index: -1, type: EntryType.Normal, data: EMPTY_BYTES };
    assert.throws(() => encodeMessageBatch([{ ...base, entries: [entry] }]), AssertionFailure);
  });

  it('refuses a ConfState that breaks its invariant', () => {
    const shared = { voters: [1, 2] as NodeId[], learners: [2] as NodeId[] };
    assert.throws(() => encodeConfState(shared), AssertionFailure);
    assert.throws(
      () => encodeConfState({ voters: [2, 1] as NodeId[], learners: [] }),
      AssertionFailure,
    );
    const change = { type: ConfChangeType.AddNode, nodeId: 0 as NodeId, context: EMPTY_BYTES };
    assert.throws(() => encodeConfChange(change), AssertionFailure);
  });
});
