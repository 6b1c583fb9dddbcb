/**
 * Tests of the stream-task runtime's pure parts. What they prove:
 * 1. Outbox chunks decode to what was encoded (any keys, values, nulls, headers, partitions).
 * 2. DedupFilter: a stream of one task's records, with any prefix of it published again after
 *    any point (as relays do after a crash), filters back to each record exactly once, in order.
 * 3. planCheckpoint keeps small write sets inline, stages larger ones in chunks within
 *    STAGE_CHUNK_BYTES_MAX and in order, and refuses sets above the hard cap.
 * 4. State ranges merge the store with the buffered layers (deletes hide stored keys, the
 *    newest write wins, order and limit hold).
 * 5. The status table shows each task's offsets, lag and sizes, aligned.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CHECKPOINT_BYTES_MAX, STAGE_CHUNK_BYTES_MAX } from '../store/kv-limits.js';
import type { KeyValue, RequestOp } from '../store/kv-types.js';
import { DedupFilter, parseRecordId } from './stream-dedup.js';
import { INLINE_BYTES_MAX, planCheckpoint } from './task-checkpoint.js';
import { CheckpointTooLargeError } from './task-errors.js';
import { decodeOutboxChunk, encodeOutboxChunk, taskKeys, type OutboxRecord } from './task-keys.js';
import { StateLayers, type StateReader } from './task-state.js';
import { formatTaskStatus, type TaskStatusRow } from './task-status.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const outboxRecordArb: fc.Arbitrary<OutboxRecord> = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 20 }),
  key: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 50 }), { nil: null }),
  partition: fc.integer({ min: -1, max: 100 }),
  headers: fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.uint8Array({ maxLength: 10 })), {
    maxLength: 3,
  }),
});

describe('task runtime parts', () => {
  it('decodes outbox chunks to what was encoded', () => {
    fc.assert(
      fc.property(fc.array(outboxRecordArb, { maxLength: 20 }), (records) => {
        const decoded = decodeOutboxChunk(encodeOutboxChunk(records));
        assert.deepEqual(decoded.map(normalize), records.map(normalize));
      }),
    );
  });

  it('filters republished output back to each record once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 }),
        (perSeq, replays) => {
          const ids: string[] = [];
          perSeq.forEach((count, i) => {
            for (let n = 0; n < count; n++) ids.push(`app.in:0:${i + 1}:${n}`);
          });
          // A replay after position `at` publishes again everything from `from` on up to `at`.
          const stream = [...ids];
          for (const [a, b] of replays) {
            const at = a % (stream.length + 1);
            const from = b % (at + 1);
            stream.splice(at, 0, ...stream.slice(from, at));
          }
          const filter = new DedupFilter();
          const seen = stream.filter((id) => filter.accept('out', 0, id));
          assert.deepEqual(seen, ids);
          assert.equal(filter.duplicates, stream.length - ids.length);
        },
      ),
    );
    assert.deepEqual(parseRecordId('a:b:3:4'), { taskId: 'a:b', seq: 3, n: 4 });
    assert.equal(parseRecordId('nonsense'), null);
  });

  it('plans inline, staged and refused checkpoints', () => {
    const put = (i: number, bytes: number): RequestOp => ({
      type: 'put',
      put: {
        key: encoder.encode(`k${i}`),
        value: new Uint8Array(bytes),
        prevKv: false,
        header: null,
      },
    });
    const small = planCheckpoint('t', [put(1, 10), put(2, 10)]);
    assert.deepEqual([small.inline.length, small.chunks.length], [2, 0]);
    const ops = Array.from({ length: 40 }, (_, i) => put(i, 100_000));
    const staged = planCheckpoint('t', ops);
    assert.ok(staged.bytes > INLINE_BYTES_MAX);
    assert.equal(staged.inline.length, 0);
    assert.deepEqual(staged.chunks.flat(), ops);
    for (const chunk of staged.chunks) {
      const bytes = chunk.reduce(
        (sum, op) => sum + (op.type === 'put' ? op.put.value.length : 0),
        0,
      );
      assert.ok(bytes <= STAGE_CHUNK_BYTES_MAX, `chunk of ${bytes} bytes`);
    }
    const huge = Array.from({ length: Math.ceil(CHECKPOINT_BYTES_MAX / 1_000_000) + 1 }, (_, i) =>
      put(i, 1_000_000),
    );
    assert.throws(() => planCheckpoint('t', huge), CheckpointTooLargeError);
  });

  it('merges state ranges across the store and the write layers', async () => {
    const keys = taskKeys('t');
    const stored = ['a', 'b', 'c', 'd'].map((k) => ({
      key: new Uint8Array([...keys.state, ...encoder.encode(k)]),
      value: encoder.encode(`stored-${k}`),
    }));
    const reader: StateReader = {
      get: async () => null,
      scan: async () => stored as unknown as KeyValue[],
    };
    const layers = new StateLayers(keys, reader);
    layers.delete('b');
    layers.put('e', 'new-e');
    layers.commitRecord();
    layers.freeze();
    layers.put('c', 'newer-c');
    layers.commitRecord();
    layers.put('a', 'record-a');
    const entries = await layers.range({ limit: 3 });
    assert.deepEqual(
      entries.map((e) => `${decoder.decode(e.key)}=${decoder.decode(e.value)}`),
      ['a=record-a', 'c=newer-c', 'd=stored-d'],
    );
    const prefixed = await layers.range({ prefix: 'e' });
    assert.deepEqual(
      prefixed.map((e) => decoder.decode(e.value)),
      ['new-e'],
    );
  });

  it('formats the status table', () => {
    const row: TaskStatusRow = {
      taskId: 'wc.words.0',
      owner: 'host:1',
      epoch: 3,
      seq: 17,
      snapshotIndex: 1234,
      acquiredIndex: 1200,
      partitions: [{ topic: 'words', partition: 0, nextOffset: 5000, lag: 12 }],
      bytes: 2048,
      ops: 40,
      records: 900,
      ageMs: 1500,
      previousDurationMs: 4,
    };
    const table = formatTaskStatus([
      row,
      { ...row, taskId: 'wc.words.1', bytes: null, ageMs: null },
    ]);
    const lines = table.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(
      lines[1]!,
      /^wc\.words\.0 +host:1 +3 +17 +1234 +words\/0=5000 +12 +2\.0 KiB +40 +900 +1\.5 s +4 ms$/,
    );
    assert.match(lines[2]!, /wc\.words\.1 .* - /);
    assert.equal(formatTaskStatus([]), 'no tasks\n');
  });
});

function normalize(record: OutboxRecord) {
  const hex = (bytes: Uint8Array | null) =>
    bytes === null ? null : Buffer.from(bytes).toString('hex');
  return {
    ...record,
    key: hex(record.key),
    value: hex(record.value),
    headers: record.headers.map(([name, value]) => [name, hex(value)]),
  };
}
