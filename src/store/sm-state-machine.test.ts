/**
 * Tests of KvStateMachine (sm-state-machine.ts). What they prove:
 * 1. Model: over random sequences of batches (put / delete / txn with compares and range ops,
 *    no-ops, conf changes, malformed data) on three groups, with range reads and reopens in
 *    between, every entry's result, every read and the final contents equal those of a simple
 *    in-memory reference (sm-test-model.ts); the applied index follows every batch.
 * 2. Sessions: a (client, seq) applied twice has one effect and the same reply, within one
 *    batch, across batches and after reopen; stale seqs and evicted sessions are typed errors;
 *    eviction by capacity and by index distance is deterministic (same on-disk state whatever
 *    the batching).
 * 3. Groups are isolated: ranges never cross groups, including group 2^32 - 1.
 * 4. Limits are rejected with the limit named, and leave the state unchanged; malformed command
 *    bytes give a MALFORMED result and change nothing but the applied index.
 * Databases live in temporary directories, removed at the end. Bounded: a few seconds.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { ClassicLevel } from 'classic-level';
import { AssertionFailure, CorruptionError } from '../raft/errors.js';
import { EMPTY_BYTES, EntryType, type GroupId } from '../raft/types.js';
import { KvError, LimitError } from './kv-errors.js';
import { LIMITS } from './kv-limits.js';
import {
  CompareResult,
  CompareTarget,
  type CommandOp,
  type Compare,
  type RangeRequest,
} from './kv-types.js';
import { dataKey } from './sm-records.js';
import { KvStateMachine, type ApplyEntry, type ApplyResult } from './sm-state-machine.js';
import { commandOpArb, rangeArb } from './sm-test-arbitraries.js';
import { KvModel } from './sm-test-model.js';
import {
  TempDirs,
  bytes,
  commandEntry,
  deleteRequest,
  group,
  noopEntry,
  normalize,
  putEntry,
  putRequest,
  rangeRequest,
  readAll,
} from './sm-test-util.js';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const GROUPS = [group(1), group(2), group(0xffffffff)];

/** EntryItem is an entry's content before it gets its index. */
type EntryItem =
  | { kind: 'command'; op: CommandOp }
  | { kind: 'noop' }
  | { kind: 'conf' }
  | { kind: 'malformed'; data: Uint8Array };

const entryItemArb: fc.Arbitrary<EntryItem> = fc.oneof(
  { weight: 12, arbitrary: commandOpArb.map((op) => ({ kind: 'command' as const, op })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'noop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'conf' as const }) },
  {
    weight: 1,
    // Field 0 with wire type 7 is never valid protobuf.
    arbitrary: fc
      .uint8Array({ maxLength: 5 })
      .map((tail) => ({ kind: 'malformed' as const, data: Uint8Array.of(0x07, ...tail) })),
  },
);

type Step =
  | { kind: 'apply'; group: GroupId; items: EntryItem[] }
  | { kind: 'read'; group: GroupId; request: RangeRequest }
  | { kind: 'reopen' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      group: fc.constantFrom(...GROUPS),
      items: fc.array(entryItemArb, { minLength: 1, maxLength: 6 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      group: fc.constantFrom(...GROUPS),
      request: rangeArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

function toEntry(item: EntryItem, index: number): ApplyEntry {
  switch (item.kind) {
    case 'command':
      return commandEntry(index, item.op);
    case 'noop':
      return noopEntry(index);
    case 'conf':
      return { index, type: EntryType.ConfChange, data: Uint8Array.of(8, 1) };
    case 'malformed':
      return { index, type: EntryType.Normal, data: item.data };
  }
}

// ---- tests ----

describe('KvStateMachine against a reference model', () => {
  it('gives the same results, reads and contents over random command sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (steps) => {
        const dir = await dirs.make();
        let machine = await KvStateMachine.open(dir);
        const model = new KvModel();
        try {
          for (const step of steps) {
            if (step.kind === 'reopen') {
              await machine.close();
              machine = await KvStateMachine.open(dir);
            } else if (step.kind === 'read') {
              const actual = await machine.range(step.group, step.request);
              assert.deepEqual(normalize(actual), model.range(step.group, step.request));
            } else {
              const first = model.appliedIndex(step.group) + 1;
              const entries = step.items.map((item, i) => toEntry(item, first + i));
              const results = await machine.applyEntries(step.group, entries);
              assert.deepEqual(normalize(results), model.apply(step.group, entries));
            }
          }
          for (const g of GROUPS) {
            assert.equal(machine.appliedIndex(g), model.appliedIndex(g));
            assert.deepEqual(await readAll(machine, g, 2), model.all(g));
          }
        } finally {
          await machine.close();
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('KvStateMachine sessions', () => {
  const put = (key: string, value: string) => ({
    type: 'put' as const,
    put: putRequest(bytes(key), bytes(value), true),
  });

  it('applies a (client, seq) once and answers retries with the stored reply', async () => {
    const dir = await dirs.make();
    let machine = await KvStateMachine.open(dir);
    const g = group(3);
    const [first, sameBatch] = await machine.applyEntries(g, [
      commandEntry(1, put('k', 'v1'), 42, 1),
      commandEntry(2, put('k', 'v1'), 42, 1),
    ]);
    assert.equal(first.type, 'response');
    assert.deepEqual(normalize(sameBatch), {
      ...(normalize(first) as object),
      index: 2,
      deduplicated: true,
    });
    const [later] = await machine.applyEntries(g, [commandEntry(3, put('k', 'v1'), 42, 1)]);
    assert.deepEqual(normalize(later), {
      ...(normalize(first) as object),
      index: 3,
      deduplicated: true,
    });
    await machine.close();
    machine = await KvStateMachine.open(dir);
    const [reopened] = await machine.applyEntries(g, [commandEntry(4, put('k', 'v1'), 42, 1)]);
    assert.deepEqual(normalize(reopened), {
      ...(normalize(first) as object),
      index: 4,
      deduplicated: true,
    });
    const kv = await machine.get(g, bytes('k'));
    assert.equal(kv?.version, 1, 'one effect only');
    assert.equal(kv?.modIndex, 1);
    // Without a session (seq 0) every entry executes.
    await machine.applyEntries(g, [
      commandEntry(5, put('k', 'v2')),
      commandEntry(6, put('k', 'v2')),
    ]);
    assert.equal((await machine.get(g, bytes('k')))?.version, 3);
    assert.equal(machine.appliedIndex(g), 6);
    await machine.close();
  });

  it('rejects stale seqs and unknown sessions, and stores errors as replies', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    const g = group(4);
    const tooLong = 'x'.repeat(LIMITS.keyBytesMax + 1);
    const results = await machine.applyEntries(g, [
      commandEntry(1, put('a', '1'), 7, 1),
      commandEntry(2, put('a', '2'), 7, 2),
      commandEntry(3, put('a', '3'), 7, 1),
      commandEntry(4, put('a', '4'), 8, 5),
      commandEntry(5, put(tooLong, '5'), 9, 1),
      commandEntry(6, put(tooLong, '5'), 9, 1),
    ]);
    const codes = results.map((r) => (r.type === 'error' ? r.error.code : r.type));
    assert.deepEqual(codes, [
      'response',
      'response',
      'STALE_SEQ',
      'SESSION_EXPIRED',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
    ]);
    assert.equal(dedup(results[5]), true);
    assert.equal(results[5].type === 'error' && results[5].error.limit, 'keyBytesMax');
    assert.equal(Buffer.from((await machine.get(g, bytes('a')))?.value ?? []).toString(), '2');
    await machine.close();
  });

  it('evicts the least recently written session when full, and expired ones by index', async () => {
    const dir = await dirs.make();
    const options = { sessionsPerGroupMax: 2, sessionTtlIndexes: 5 };
    let machine = await KvStateMachine.open(dir, options);
    const g = group(5);
    await machine.applyEntries(g, [
      commandEntry(1, put('a', '1'), 1, 1),
      commandEntry(2, put('b', '1'), 2, 1),
      commandEntry(3, put('a', '2'), 1, 2), // client 1 is now the most recent
      commandEntry(4, put('c', '1'), 3, 1), // evicts client 2
    ]);
    await machine.close();
    machine = await KvStateMachine.open(dir, options);
    let results = await machine.applyEntries(g, [
      commandEntry(5, put('b', '2'), 2, 2),
      commandEntry(6, put('a', '3'), 1, 3),
    ]);
    assert.deepEqual(results.map(code), ['SESSION_EXPIRED', 'response']);
    // Client 3 last wrote at 4; at index 10, 10 - 4 > 5: expired. Client 1 (6) is not.
    results = await machine.applyEntries(g, [
      noopEntry(7),
      noopEntry(8),
      noopEntry(9),
      commandEntry(10, put('c', '2'), 3, 2),
      commandEntry(11, put('a', '4'), 1, 4),
    ]);
    assert.deepEqual(results.map(code), ['noop', 'noop', 'noop', 'SESSION_EXPIRED', 'response']);
    await machine.close();
  });

  it('evicts the same sessions whatever the batching (identical snapshots)', async () => {
    const options = { sessionsPerGroupMax: 3, sessionTtlIndexes: 8 };
    const entries: ApplyEntry[] = [];
    const seqs = [0, 0, 0, 0, 0];
    let random = 12345; // a fixed LCG: the same pattern of clients every run
    for (let i = 1; i <= 60; i++) {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      const client = 1 + ((random >>> 16) % 4);
      if (i % 9 === 0) {
        entries.push(noopEntry(i));
        continue;
      }
      if (i % 6 !== 0) seqs[client]++; // every 6th entry retries the client's last seq
      entries.push(commandEntry(i, put(`k${i % 4}`, `${i}`), client, Math.max(1, seqs[client])));
    }
    const snapshots: { results: unknown; chunks: Uint8Array[] }[] = [];
    for (const batchSize of [1, 7, 60]) {
      const machine = await KvStateMachine.open(await dirs.make(), options);
      const results: ApplyResult[] = [];
      for (let i = 0; i < entries.length; i += batchSize) {
        results.push(...(await machine.applyEntries(group(6), entries.slice(i, i + batchSize))));
      }
      const stream = await machine.snapshotStream(group(6));
      const chunks: Uint8Array[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      snapshots.push({ results: normalize(results), chunks });
      await machine.close();
    }
    type Normal = { type: string; error?: { code: string }; deduplicated?: boolean };
    const kinds = new Set(
      (snapshots[0].results as Normal[]).map(
        (r) => r.error?.code ?? (r.deduplicated === true ? 'dedup' : r.type),
      ),
    );
    for (const kind of ['response', 'dedup', 'SESSION_EXPIRED', 'noop']) {
      assert.ok(kinds.has(kind), `outcome ${kind} among ${[...kinds].join(', ')}`);
    }
    assert.deepEqual(snapshots[1], snapshots[0]);
    assert.deepEqual(snapshots[2], snapshots[0]);
  });
});

function code(result: ApplyResult): string {
  return result.type === 'error' ? result.error.code : result.type;
}

function dedup(result: ApplyResult): boolean {
  return result.type !== 'noop' && result.deduplicated;
}

describe('KvStateMachine damaged records', () => {
  it('an apply that meets a damaged record fails with a CorruptionError naming group and key', async () => {
    const dir = await dirs.make();
    const machine = await KvStateMachine.open(dir);
    await machine.applyEntries(group(7), [putEntry(1, 'k', 'v')]);
    await machine.close();
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    const key = dataKey(group(7), bytes('k'));
    const stored = await db.get(key);
    assert.ok(stored, 'the record was written');
    const damaged = Uint8Array.from(stored);
    damaged[damaged.length - 1] ^= 0xff;
    await db.put(key, damaged);
    await db.close();
    const reopened = await KvStateMachine.open(dir);
    await assert.rejects(
      reopened.applyEntries(group(7), [putEntry(2, 'k', 'w')]),
      (error: unknown) =>
        error instanceof CorruptionError &&
        /group 7 key/.test(error.message) &&
        error.message.includes(Buffer.from('k').toString('hex')),
    );
    await reopened.close().catch(() => undefined);
  });
});

describe('KvStateMachine groups', () => {
  it('keeps groups apart: ranges never cross a group, at either end of the id space', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    const ids = [group(0), group(1), group(2), group(0xfffffffe), group(0xffffffff)];
    for (const id of ids) {
      await machine.applyEntries(id, [
        putEntry(1, `k${id}`, `${id}`),
        putEntry(2, '\xff\xff', `${id}`),
      ]);
    }
    for (const id of ids) {
      const all = await readAll(machine, id);
      assert.equal(all.length, 2, `group ${id}`);
      const everything = await machine.range(
        id,
        rangeRequest(EMPTY_BYTES, { rangeEnd: Uint8Array.of(0) }),
      );
      assert.deepEqual(
        everything.kvs.map((kv) => Buffer.from(kv.value).toString()),
        [`${id}`, `${id}`],
      );
      assert.equal(machine.appliedIndex(id), 2);
    }
    await machine.applyEntries(group(1), [
      commandEntry(3, { type: 'delete', delete: deleteRequest(EMPTY_BYTES, { prefix: true }) }),
    ]);
    assert.equal((await readAll(machine, group(1))).length, 0);
    assert.equal((await readAll(machine, group(0))).length, 2);
    assert.equal((await readAll(machine, group(2))).length, 2);
    await machine.close();
  });
});

describe('KvStateMachine limits and malformed input', () => {
  it('rejects oversized keys, values, txns and commands, naming the limit', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    const g = group(7);
    const bigKey = new Uint8Array(LIMITS.keyBytesMax + 1).fill(0x61);
    const bigValue = new Uint8Array(LIMITS.valueBytesMax + 1);
    const compares: Compare[] = Array.from({ length: LIMITS.txnOpsMax + 1 }, () => ({
      key: bytes('a'),
      result: CompareResult.Equal,
      target: CompareTarget.Exists,
      exists: false,
    }));
    const hugeTxn: CommandOp = {
      type: 'txn',
      txn: {
        compare: [],
        success: [1, 2, 3].map(() => ({
          type: 'put',
          put: putRequest(bytes('p'), new Uint8Array(LIMITS.valueBytesMax)),
        })),
        failure: [],
        header: null,
      },
    };
    const results = await machine.applyEntries(g, [
      commandEntry(1, { type: 'put', put: putRequest(bigKey, bytes('v')) }),
      commandEntry(2, { type: 'put', put: putRequest(bytes('k'), bigValue) }),
      commandEntry(3, {
        type: 'txn',
        txn: { compare: compares, success: [], failure: [], header: null },
      }),
      commandEntry(4, hugeTxn),
      commandEntry(5, { type: 'put', put: putRequest(EMPTY_BYTES, bytes('v')) }),
    ]);
    const limits = results.map((r) =>
      r.type === 'error' ? `${r.error.code}:${r.error.limit}` : r.type,
    );
    assert.deepEqual(limits, [
      'INVALID_ARGUMENT:keyBytesMax',
      'INVALID_ARGUMENT:valueBytesMax',
      'INVALID_ARGUMENT:txnOpsMax',
      'RESOURCE_EXHAUSTED:requestBytesMax',
      'INVALID_ARGUMENT:',
    ]);
    assert.equal(machine.appliedIndex(g), 5);
    assert.deepEqual(await readAll(machine, g), []);
    await assert.rejects(machine.get(g, bigKey), (error: unknown) => {
      assert.ok(error instanceof LimitError);
      assert.equal(error.limit, 'keyBytesMax');
      assert.match(error.message, /keyBytesMax = 4096/);
      return true;
    });
    await assert.rejects(
      machine.range(g, rangeRequest(bytes('a'), { rangeEnd: bytes('b'), prefix: true })),
      (error: unknown) => error instanceof KvError && error.code === 'INVALID_ARGUMENT',
    );
    await machine.close();
  });

  it('pages ranges at rangeKeysMax and rangeBytesMax; bounds deletes and answers', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    const g = group(8);
    const count = LIMITS.rangeKeysMax + 1;
    const entries = Array.from({ length: count }, (_, i) =>
      putEntry(i + 1, `n/${String(i).padStart(6, '0')}`, 'v'),
    );
    await machine.applyEntries(g, entries);
    const page = await machine.range(
      g,
      rangeRequest(bytes('n/'), { prefix: true, limit: count + 5 }),
    );
    assert.equal(page.kvs.length, LIMITS.rangeKeysMax);
    assert.equal(page.more, true);
    const rest = await machine.range(
      g,
      rangeRequest(bytes('n/'), { prefix: true, pageToken: page.nextPageToken }),
    );
    assert.equal(rest.kvs.length, 1);
    assert.equal(rest.more, false);
    const counted = await machine.range(
      g,
      rangeRequest(bytes('n/'), { prefix: true, countOnly: true }),
    );
    assert.equal(counted.count, count);
    let index = count;
    const [deleted] = await machine.applyEntries(g, [
      commandEntry(++index, {
        type: 'delete',
        delete: deleteRequest(bytes('n/'), { prefix: true }),
      }),
    ]);
    assert.equal(deleted.type === 'error' && deleted.error.limit, 'deleteRangeKeysMax');
    assert.equal(
      (await machine.range(g, rangeRequest(bytes('n/'), { prefix: true, countOnly: true }))).count,
      count,
    );

    const mib = new Uint8Array(LIMITS.valueBytesMax).fill(1);
    const big = Array.from({ length: 5 }, (_, i) =>
      commandEntry(++index, { type: 'put', put: putRequest(bytes(`big/${i}`), mib) }),
    );
    await machine.applyEntries(g, big);
    const bigPage = await machine.range(g, rangeRequest(bytes('big/'), { prefix: true }));
    assert.equal(bigPage.kvs.length, 3, '4 MiB of keys and values per page');
    assert.equal(bigPage.more, true);
    const [tooBig] = await machine.applyEntries(g, [
      commandEntry(++index, {
        type: 'delete',
        delete: deleteRequest(bytes('big/'), { prefix: true, prevKv: true }),
      }),
    ]);
    assert.equal(
      tooBig.type === 'error' && `${tooBig.error.code}:${tooBig.error.limit}`,
      'RESOURCE_EXHAUSTED:responseBytesMax',
    );
    assert.equal(
      (await machine.range(g, rangeRequest(bytes('big/'), { prefix: true, countOnly: true })))
        .count,
      5,
    );
    // A txn failing in its second op leaves nothing of its first.
    const deleteAll = deleteRequest(bytes('big/'), { prefix: true, prevKv: true });
    const [txn] = await machine.applyEntries(g, [
      commandEntry(++index, {
        type: 'txn',
        txn: {
          compare: [],
          success: [
            { type: 'put', put: putRequest(bytes('atomic'), bytes('1')) },
            { type: 'delete', delete: deleteAll },
          ],
          failure: [],
          header: null,
        },
      }),
    ]);
    assert.equal(txn.type === 'error' && txn.error.limit, 'responseBytesMax');
    assert.equal(await machine.get(g, bytes('atomic')), null);
    assert.equal(machine.appliedIndex(g), index);
    await machine.close();
  });

  it('answers malformed bytes with MALFORMED, changing only the applied index', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    const g = group(9);
    await machine.applyEntries(g, [putEntry(1, 'a', '1')]);
    const before = await readAll(machine, g);
    const garbage = [
      Uint8Array.of(0xff, 0xff, 0xff),
      Uint8Array.of(0x08), // truncated varint
      Uint8Array.of(0x08, 0x01), // a client id and no operation
      Uint8Array.of(0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10), // 2^53 + ...
    ];
    const results = await machine.applyEntries(
      g,
      garbage.map((data, i) => ({ index: i + 2, type: EntryType.Normal, data })),
    );
    for (const result of results) {
      assert.equal(result.type, 'error');
      assert.equal(result.type === 'error' && result.error.code, 'MALFORMED');
    }
    assert.equal(machine.appliedIndex(g), 5);
    assert.deepEqual(await readAll(machine, g), before);
    await machine.close();
  });

  it('asserts entries come in consecutive index order', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    await machine.applyEntries(group(10), [noopEntry(1)]);
    await assert.rejects(machine.applyEntries(group(10), [noopEntry(3)]), AssertionFailure);
    await machine.close();
  });
});
