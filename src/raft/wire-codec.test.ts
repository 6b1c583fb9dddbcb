/**
 * Tests of the hand-rolled Message and MessageBatch codec (wire-codec.ts, behind codec.ts's
 * encodeMessage, decodeMessage, encodeMessageBatch and decodeMessageBatch) against the
 * generated protobufjs path it replaced (codec.ts's *Generated functions). They prove that:
 * - the two are wire-compatible: random valid messages and batches encoded by either decode to
 *   the same values with both, and the hand-rolled encoder writes the very bytes protobufjs does;
 * - on random bytes, random protobuf-like field soup and damaged valid encodings, the two reach
 *   the same verdict (the same value, or MessageDecodeError naming the same field for the same
 *   reason), except where the hand-rolled one is stricter on purpose (groups, varints over 10
 *   bytes), which its reason says; and nothing but MessageDecodeError escapes a decode;
 * - proto3 rules hold: packed and unpacked ConfState lists, the last value of a field wins, a
 *   repeated snapshot merges, unknown fields of every wire type are skipped;
 * - a uint64 of 2^53 deep in a batch is refused naming its path, unless malformed bytes follow;
 * - decoded bytes do not alias the input.
 * Wire bytes are built by hand (varints from BigInt). Runs are bounded (a few hundred cases).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bytesArb, messageArb, key, nestedField, varint, varintField } from './codec-test-util.js';
import {
  MessageDecodeError,
  decodeMessage,
  decodeMessageBatch,
  decodeMessageBatchGenerated,
  decodeMessageGenerated,
  encodeMessage,
  encodeMessageBatch,
  encodeMessageBatchGenerated,
  encodeMessageGenerated,
} from './codec.js';
import {
  EMPTY_BYTES,
  EntryType,
  MessageType,
  emptyMessage,
  type GroupId,
  type Message,
  type NodeId,
} from './types.js';

const RUNS = 300;
const TWO_TO_53 = 2n ** 53n;
const UINT64_MAX = 2n ** 64n - 1n;
/** Reasons of the bytes the hand-rolled decoder refuses on purpose where protobufjs skips. */
const STRICTER = /group \(wire type [34]\)|varint longer than 10 bytes/;

const batchArb = fc.array(messageArb, { maxLength: 5 });

// Field soup: protobuf-like bytes that follow the schema loosely, so that random input reaches
// every decoding rule at every depth: known fields with good and bad values (small, near and
// above 2^53, over 32 bits for enums), fields repeated, lists packed or not, known fields with
// another wire type, unknown fields of every wire type, and now and then a group or field 0.

const wireValueArb = fc.oneof(
  { arbitrary: fc.bigInt({ min: 0n, max: 20n }), weight: 4 },
  { arbitrary: fc.bigInt({ min: 0n, max: UINT64_MAX }), weight: 1 },
  { arbitrary: fc.constantFrom(TWO_TO_53 - 1n, TWO_TO_53, 2n ** 32n + 3n, UINT64_MAX), weight: 1 },
);

/** fieldsArb concatenates up to `maxLength` fields drawn from `fieldArb`. */
function fieldsArb(fieldArb: fc.Arbitrary<number[]>, maxLength = 6): fc.Arbitrary<number[]> {
  return fc.array(fieldArb, { maxLength }).map((fields) => fields.flat());
}

/** varintFieldsArb draws varint fields among `numbers`. */
function varintFieldsArb(...numbers: number[]): fc.Arbitrary<number[]> {
  return fc.tuple(fc.constantFrom(...numbers), wireValueArb).map(([n, v]) => varintField(n, v));
}

/** nestedArb draws field `number` holding the soup of a nested message. */
function nestedArb(number: number, inner: fc.Arbitrary<number[]>): fc.Arbitrary<number[]> {
  return inner.map((bytes) => nestedField(number, bytes));
}

/** strayFieldArb draws a field no decoder expects: unknown, of another wire type, or bad. */
const strayFieldArb: fc.Arbitrary<number[]> = fc
  .oneof(
    { arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), wireValueArb), weight: 2 },
    { arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), bytesArb), weight: 2 },
    { arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 5)), weight: 2 },
    {
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 7 })),
      weight: 1,
    },
  )
  .map(([number, value]) => {
    if (typeof value === 'bigint') return varintField(number, value);
    if (value instanceof Uint8Array) return nestedField(number, [...value]);
    const width = value === 1 ? 8 : value === 5 ? 4 : 0;
    return [...key(number, value), ...new Array<number>(width).fill(0x5a)];
  });

const idListArb = fc.oneof(
  fc.uniqueArray(fc.bigInt({ min: 1n, max: 12n }), { maxLength: 4 }).map((ids) => ids.sort()),
  fc.array(fc.bigInt({ min: 0n, max: 12n }), { maxLength: 4 }),
);
const confStateSoupArb = fieldsArb(
  fc.oneof(
    varintFieldsArb(1, 2),
    fc
      .tuple(fc.constantFrom(1, 2), idListArb)
      .map(([n, ids]) => nestedField(n, ids.flatMap(varint))),
    strayFieldArb,
  ),
);
const metadataSoupArb = fieldsArb(
  fc.oneof(nestedArb(1, confStateSoupArb), varintFieldsArb(2, 3), strayFieldArb),
);
const snapshotSoupArb = fieldsArb(
  fc.oneof(
    nestedArb(1, metadataSoupArb),
    bytesArb.map((bytes) => nestedField(2, [...bytes])),
    strayFieldArb,
  ),
  3,
);
const entrySoupArb = fieldsArb(
  fc.oneof(
    { arbitrary: varintFieldsArb(1, 2, 3), weight: 3 },
    { arbitrary: bytesArb.map((bytes) => nestedField(4, [...bytes])), weight: 1 },
    { arbitrary: strayFieldArb, weight: 1 },
  ),
);
const messageSoupArb = fieldsArb(
  fc.oneof(
    { arbitrary: varintFieldsArb(1, 2, 3, 4, 5, 6, 7, 9, 10, 11), weight: 6 },
    { arbitrary: nestedArb(8, entrySoupArb), weight: 2 },
    { arbitrary: nestedArb(12, snapshotSoupArb), weight: 1 },
    { arbitrary: bytesArb.map((bytes) => nestedField(13, [...bytes])), weight: 1 },
    { arbitrary: strayFieldArb, weight: 1 },
  ),
  10,
);
const batchSoupArb = fieldsArb(
  fc.oneof(
    { arbitrary: nestedArb(1, messageSoupArb), weight: 6 },
    { arbitrary: strayFieldArb, weight: 1 },
  ),
  4,
);

/** mutationsArb picks up to three ways to damage an encoding. */
const mutationsArb = fc.array(
  fc.tuple(fc.constantFrom('truncate', 'overwrite', 'insert'), fc.nat(), fc.nat({ max: 255 })),
  { minLength: 1, maxLength: 3 },
);

function mutate(bytes: Uint8Array, mutations: [string, number, number][]): Uint8Array {
  const copy = Array.from(bytes);
  for (const [kind, at, byte] of mutations) {
    const position = copy.length === 0 ? 0 : at % copy.length;
    if (kind === 'truncate') copy.length = position;
    else if (kind === 'overwrite' && copy.length > 0) copy[position] = byte;
    else copy.splice(position, 0, byte);
  }
  return Uint8Array.from(copy);
}

// ---- Comparing the two decoders ----

/** Decoder pairs the hand-rolled decoder of a type with the generated one. */
interface Decoder {
  name: string;
  direct: (bytes: Uint8Array) => unknown;
  generated: (bytes: Uint8Array) => unknown;
}

const decoders: Decoder[] = [
  { name: 'MessageBatch', direct: decodeMessageBatch, generated: decodeMessageBatchGenerated },
  { name: 'Message', direct: decodeMessage, generated: decodeMessageGenerated },
];

type Outcome = { value: unknown } | { error: MessageDecodeError };

/** outcome runs a decoder; anything thrown but MessageDecodeError fails the test. */
function outcome(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): Outcome {
  try {
    return { value: decode(bytes) };
  } catch (error) {
    assert.ok(error instanceof MessageDecodeError, `unexpected ${String(error)}`);
    assert.equal(error.code, 'MALFORMED');
    return { error };
  }
}

/** assertSameVerdict decodes with both decoders and compares what they return or throw. */
function assertSameVerdict(decoder: Decoder, bytes: Uint8Array): void {
  const direct = outcome(decoder.direct, bytes);
  const generated = outcome(decoder.generated, bytes);
  if ('error' in direct && STRICTER.test(direct.error.reason)) {
    assert.equal(direct.error.field, '');
    return;
  }
  if ('value' in generated) {
    assert.ok('value' in direct, `refused what protobufjs accepts: ${errorOf(direct)}`);
    assert.deepEqual(direct.value, generated.value);
    return;
  }
  assert.ok('error' in direct, `accepted what protobufjs refuses: ${generated.error.message}`);
  assert.equal(direct.error.typeName, generated.error.typeName);
  assert.equal(direct.error.field, generated.error.field, direct.error.message);
  if (generated.error.field !== '') assert.equal(direct.error.reason, generated.error.reason);
  else assert.match(direct.error.reason, /^malformed protobuf \(/);
}

function errorOf(result: Outcome): string {
  return 'error' in result ? result.error.message : 'no error';
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

describe('wire codec is compatible with the generated protobufjs code', () => {
  it('MessageBatch: ours decodes as protobufjs, protobufjs decodes as ours, same bytes', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const ours = encodeMessageBatch(batch);
        const theirs = encodeMessageBatchGenerated(batch);
        assert.deepEqual(decodeMessageBatchGenerated(ours), batch);
        assert.deepEqual(decodeMessageBatch(theirs), batch);
        assert.deepEqual(decodeMessageBatch(ours), batch);
        assert.equal(hex(ours), hex(theirs));
      }),
      { numRuns: RUNS },
    );
  });

  it('Message: ours decodes as protobufjs, protobufjs decodes as ours, same bytes', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const ours = encodeMessage(message);
        const theirs = encodeMessageGenerated(message);
        assert.deepEqual(decodeMessageGenerated(ours), message);
        assert.deepEqual(decodeMessage(theirs), message);
        assert.equal(hex(ours), hex(theirs));
      }),
      { numRuns: RUNS },
    );
  });

  it('encodes the largest values: 2^53 - 1 everywhere, group id 2^32 - 1', () => {
    const message = emptyMessage(
      MessageType.Append,
      (2 ** 32 - 1) as GroupId,
      1 as NodeId,
      2 as NodeId,
    );
    const max = Number.MAX_SAFE_INTEGER;
    Object.assign(message, { term: max, logTerm: max, index: max, commit: max, rejectHint: max });
    message.entries.push({ term: max, index: max, type: EntryType.ConfChange, data: EMPTY_BYTES });
    const bytes = encodeMessageBatch([message]);
    assert.equal(hex(bytes), hex(encodeMessageBatchGenerated([message])));
    assert.deepEqual(decodeMessageBatch(bytes), [message]);
  });
});

describe('wire codec reaches the verdicts of the generated code on any input', () => {
  for (const decoder of decoders) {
    it(`${decoder.name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => assertSameVerdict(decoder, bytes)),
        { numRuns: RUNS },
      );
    });

    it(`${decoder.name}: random protobuf-like field soup`, () => {
      const soupArb = decoder.name === 'Message' ? messageSoupArb : batchSoupArb;
      fc.assert(
        fc.property(soupArb, (soup) => assertSameVerdict(decoder, Uint8Array.from(soup))),
        { numRuns: RUNS * 3 },
      );
    });

    it(`${decoder.name}: damaged valid encodings`, () => {
      const encode = (batch: Message[]) =>
        decoder.name === 'Message' ? encodeMessage(batch[0]) : encodeMessageBatch(batch);
      fc.assert(
        fc.property(
          fc.array(messageArb, { minLength: 1, maxLength: 3 }),
          mutationsArb,
          (batch, mutations) => assertSameVerdict(decoder, mutate(encode(batch), mutations)),
        ),
        { numRuns: RUNS },
      );
    });
  }

  it('refuses input that is not a Uint8Array', () => {
    for (const decoder of decoders) {
      const result = outcome(decoder.direct, 'hello' as unknown as Uint8Array);
      assert.match(errorOf(result), /expected a Uint8Array/);
    }
  });
});

describe('wire codec follows proto3 rules', () => {
  const voterBytes = [...varint(3n), ...varint(5n)];

  it('reads ConfState lists packed, unpacked, or both', () => {
    const packed = nestedField(1, voterBytes);
    const unpacked = [...varintField(1, 3n), ...varintField(1, 5n)];
    const mixed = [...varintField(1, 3n), ...nestedField(1, varint(5n)), ...varintField(2, 9n)];
    for (const confState of [packed, unpacked, mixed]) {
      const bytes = Uint8Array.from(nestedField(12, nestedField(1, nestedField(1, confState))));
      const snapshot = decodeMessage(bytes).snapshot;
      assert.deepEqual(snapshot?.metadata.confState.voters, [3, 5]);
      assertSameVerdict(decoders[1], bytes);
    }
  });

  it('keeps the last value of a field, so an overwritten bad value is not judged', () => {
    const bytes = Uint8Array.from([...varintField(5, UINT64_MAX), ...varintField(5, 7n)]);
    assert.equal(decodeMessage(bytes).term, 7);
    assertSameVerdict(decoders[1], bytes);
  });

  it('merges repeated snapshot fields, down to the membership lists', () => {
    const first = nestedField(
      12,
      nestedField(1, [...varintField(2, 5n), ...nestedField(1, nestedField(1, varint(3n)))]),
    );
    const second = nestedField(12, [
      ...nestedField(1, nestedField(1, nestedField(1, varint(4n)))),
      ...nestedField(2, [9]),
    ]);
    const bytes = Uint8Array.from([...first, ...second]);
    const snapshot = decodeMessage(bytes).snapshot;
    assert.deepEqual(snapshot, {
      metadata: { index: 5, term: 0, confState: { voters: [3, 4], learners: [] } },
      data: Uint8Array.of(9),
    });
    assertSameVerdict(decoders[1], bytes);
  });

  it('skips unknown fields of wire types 0, 1, 2 and 5, and known fields of another type', () => {
    const message = emptyMessage(MessageType.Heartbeat, 3 as GroupId, 1 as NodeId, 2 as NodeId);
    const unknown = [
      ...varintField(20, UINT64_MAX),
      ...key(21, 1),
      ...new Array<number>(8).fill(0xff),
      ...nestedField(22, [1, 2, 3]),
      ...key(23, 5),
      ...new Array<number>(4).fill(0xff),
      ...nestedField(5, [1]), // term, but length-delimited
      ...varintField(8, 1n), // entries, but a varint
    ];
    const bytes = Uint8Array.from([...encodeMessage(message), ...unknown]);
    assert.deepEqual(decodeMessage(bytes), message);
    assert.deepEqual(
      decodeMessageBatch(Uint8Array.from([...unknown, ...nestedField(1, [...bytes])])),
      [message],
    );
  });

  it('refuses groups and varints over 10 bytes (protobufjs skips them in unknown fields)', () => {
    const group = Uint8Array.from([...key(20, 3), ...varintField(1, 1n), ...key(20, 4)]);
    const long = Uint8Array.from([...key(20, 0), ...new Array<number>(10).fill(0x80), 0]);
    for (const bytes of [group, long]) {
      assert.deepEqual(decodeMessageGenerated(bytes), decodeMessage(new Uint8Array(0)));
      const result = outcome(decodeMessage, bytes);
      assert.equal('error' in result && result.error.field, '');
      assert.match(errorOf(result), STRICTER);
    }
  });
});

describe('wire codec refuses out-of-range values, naming the field', () => {
  const badEntry = nestedField(8, varintField(1, TWO_TO_53));
  const badBatch = [...nestedField(1, []), ...nestedField(1, []), ...nestedField(1, badEntry)];

  it('a uint64 of 2^53 in a nested entry is refused with its path', () => {
    const result = outcome(decodeMessageBatch, Uint8Array.from(badBatch));
    assert.ok('error' in result);
    assert.equal(result.error.typeName, 'MessageBatch');
    assert.equal(result.error.field, 'messages[2].entries[0].term');
    assert.equal(result.error.reason, `${TWO_TO_53} exceeds 2^53 - 1`);
    assertSameVerdict(decoders[0], Uint8Array.from(badBatch));
  });

  it('malformed bytes after a bad value make the whole input malformed', () => {
    for (const tail of [[0x08], nestedField(1, [0x0a, 0x05]), key(1, 7)]) {
      const bytes = Uint8Array.from([...badBatch, ...tail]);
      const result = outcome(decodeMessageBatch, bytes);
      assert.ok('error' in result);
      assert.equal(result.error.field, '');
      assert.match(result.error.reason, /^malformed protobuf \(/);
      assertSameVerdict(decoders[0], bytes);
    }
  });
});

describe('wire codec decoded bytes', () => {
  it('do not alias the input, are plain Uint8Arrays, and EMPTY_BYTES when empty', () => {
    const message = emptyMessage(MessageType.Append, 1 as GroupId, 1 as NodeId, 2 as NodeId);
    message.entries.push({ term: 1, index: 1, type: EntryType.Normal, data: Uint8Array.of(7, 8) });
    message.entries.push({ term: 1, index: 2, type: EntryType.Normal, data: EMPTY_BYTES });
    const pool = Buffer.alloc(64, 0xee);
    const encoded = encodeMessageBatch([message]);
    const input = pool.subarray(3, 3 + encoded.length);
    input.set(encoded);
    const [decoded] = decodeMessageBatch(input);
    pool.fill(0);
    const data = decoded.entries[0].data;
    assert.deepEqual(data, Uint8Array.of(7, 8));
    assert.notEqual(data.buffer, pool.buffer);
    assert.equal(Object.getPrototypeOf(data), Uint8Array.prototype);
    assert.equal(decoded.entries[1].data, EMPTY_BYTES);
    assert.equal(decoded.context, EMPTY_BYTES);
  });
});
