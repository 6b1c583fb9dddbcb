/**
 * Tests of the state machine's snapshots (sm-snapshot.ts through KvStateMachine). What they
 * prove:
 * 1. A group streamed in chunks (each within snapshotChunkBytesMax, numbered 0..n-1) and
 *    restored into another database, under another group id, reads identically: every key with
 *    its metadata, the applied index, and the client sessions (a retry there is deduplicated).
 * 2. The stream is a consistent cut: writes applied after it was opened are not in it; and it is
 *    deterministic, so a sender can resume from any chunk number.
 * 3. An interrupted restore (closed after some chunks, before restoreFinish) is reported by
 *    pendingRestores() after reopen, refuses reads, and can be resumed from its next chunk or
 *    redone from chunk 0, both ending identical to the source.
 * 4. Bad input: chunks out of order, damaged chunks and finishing early are typed errors that
 *    write nothing; a snapshot older than the applied index is refused.
 * Databases live in temporary directories, removed at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { GroupId } from '../raft/types.js';
import { KvError, MalformedError } from './kv-errors.js';
import { LIMITS } from './kv-limits.js';
import { KvStateMachine, chunkIndexOf, type ApplyEntry } from './sm-state-machine.js';
import {
  TempDirs,
  bytes,
  commandEntry,
  group,
  putEntry,
  putRequest,
  readAll,
} from './sm-test-util.js';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const SOURCE = group(5);
const TARGET = group(9);
const KEYS = 2500;
const META = bytes('membership as of the applied index');

/** fill writes KEYS keys (about 2.5 MiB, half compressible) and three sessions into SOURCE. */
async function fill(machine: KvStateMachine): Promise<void> {
  const entries: ApplyEntry[] = [];
  for (let i = 0; i < KEYS; i++) {
    const value = i % 2 === 0 ? randomBytes(1000).toString('hex') : `{"count":${i}}`.repeat(40);
    entries.push(putEntry(i + 1, `{task:t${i % 7}}/state/${i}`, value));
  }
  for (let client = 1; client <= 3; client++) {
    const put = { type: 'put' as const, put: putRequest(bytes(`s${client}`), bytes('v'), true) };
    entries.push(commandEntry(entries.length + 1, put, client, 1));
  }
  await machine.applyEntries(SOURCE, entries, { meta: META });
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function restoreAll(
  machine: KvStateMachine,
  target: GroupId,
  snapshotIndex: number,
  chunks: Uint8Array[],
): Promise<void> {
  const { nextChunk } = await machine.restoreBegin(target, { snapshotIndex });
  for (const chunk of chunks.slice(nextChunk)) await machine.restoreChunk(target, chunk);
  await machine.restoreFinish(target, { meta: META });
}

describe('KvStateMachine snapshots', () => {
  it('streams a group in bounded chunks and restores it elsewhere identically', async () => {
    const source = await KvStateMachine.open(await dirs.make());
    await fill(source);
    const stream = await source.snapshotStream(SOURCE);
    assert.equal(stream.appliedIndex, KEYS + 3);
    assert.deepEqual(stream.meta, META);
    const chunks = await collect(stream);
    assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
    chunks.forEach((chunk, i) => {
      assert.ok(chunk.length <= LIMITS.snapshotChunkBytesMax, `chunk ${i}: ${chunk.length}`);
      assert.equal(chunkIndexOf(chunk), i);
    });
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    assert.ok(total < 2.2 * 1024 * 1024, `compressed to ${total} bytes`);

    const target = await KvStateMachine.open(await dirs.make());
    await restoreAll(target, TARGET, stream.appliedIndex, chunks);
    assert.equal(target.appliedIndex(TARGET), source.appliedIndex(SOURCE));
    assert.deepEqual(target.groupMeta(TARGET), META);
    assert.deepEqual(await readAll(target, TARGET), await readAll(source, SOURCE));
    assert.equal(target.pendingRestores().length, 0);

    // The sessions came along: a retry of client 2's seq 1 is answered from its stored reply.
    const put = { type: 'put' as const, put: putRequest(bytes('s2'), bytes('v'), true) };
    const [retry] = await target.applyEntries(TARGET, [commandEntry(KEYS + 4, put, 2, 1)]);
    assert.equal(retry.type === 'response' && retry.deduplicated, true);
    assert.equal((await target.get(TARGET, bytes('s2')))?.version, 1);
    await Promise.all([source.close(), target.close()]);
  });

  it('is a consistent cut, and deterministic so a transfer can resume at any chunk', async () => {
    const source = await KvStateMachine.open(await dirs.make());
    await fill(source);
    const stream = await source.snapshotStream(SOURCE);
    const first = KEYS + 4;
    await source.applyEntries(SOURCE, [
      putEntry(first, 'late', 'x'),
      putEntry(first + 1, '{task:t0}/state/0', 'y'),
    ]);
    const chunks = await collect(stream);
    const again = await source.snapshotStream(SOURCE);
    assert.equal(again.appliedIndex, first + 1);
    await again.close();

    const target = await KvStateMachine.open(await dirs.make());
    await restoreAll(target, TARGET, stream.appliedIndex, chunks);
    assert.equal(target.appliedIndex(TARGET), first - 1);
    assert.equal(await target.get(TARGET, bytes('late')), null);
    assert.equal((await target.get(TARGET, bytes('{task:t0}/state/0')))?.modIndex, 1);

    const fresh = await KvStateMachine.open(await dirs.make());
    await fill(fresh);
    const whole = await collect(await fresh.snapshotStream(SOURCE));
    const resumed = await collect(await fresh.snapshotStream(SOURCE, { fromChunk: 2 }));
    assert.deepEqual(resumed, whole.slice(2));
    await Promise.all([source.close(), target.close(), fresh.close()]);
  });

  it('reports an interrupted restore after reopen; it can be resumed or redone', async () => {
    const source = await KvStateMachine.open(await dirs.make());
    await fill(source);
    const stream = await source.snapshotStream(SOURCE);
    const chunks = await collect(stream);
    const expected = await readAll(source, SOURCE);
    const index = stream.appliedIndex;
    await source.close();

    for (const mode of ['resume', 'redo'] as const) {
      const dir = await dirs.make();
      let target = await KvStateMachine.open(dir);
      await target.applyEntries(TARGET, [putEntry(1, 'old', 'state')]);
      const context = bytes(`image for ${mode}`);
      assert.deepEqual(await target.restoreBegin(TARGET, { snapshotIndex: index, context }), {
        nextChunk: 0,
      });
      await target.restoreChunk(TARGET, chunks[0]);
      await target.restoreChunk(TARGET, chunks[1]);
      await target.close(); // a crash before restoreFinish

      target = await KvStateMachine.open(dir);
      assert.deepEqual(target.pendingRestores(), [
        { groupId: TARGET, snapshotIndex: index, nextChunk: 2, context },
      ]);
      assert.equal(target.appliedIndex(TARGET), 0);
      await assert.rejects(target.get(TARGET, bytes('old')), isCode('RESTORING'));
      const resume = mode === 'resume';
      const begun = await target.restoreBegin(TARGET, { snapshotIndex: index }, { resume });
      assert.equal(begun.nextChunk, resume ? 2 : 0);
      for (const chunk of chunks.slice(begun.nextChunk)) await target.restoreChunk(TARGET, chunk);
      await target.restoreFinish(TARGET);
      await target.close();
      target = await KvStateMachine.open(dir);
      assert.deepEqual(target.pendingRestores(), []);
      assert.equal(target.appliedIndex(TARGET), index);
      assert.deepEqual(await readAll(target, TARGET), expected, mode);
      await target.close();
    }
  });

  it('refuses chunks out of order, damaged chunks, early finishes and old snapshots', async () => {
    const source = await KvStateMachine.open(await dirs.make());
    await fill(source);
    const stream = await source.snapshotStream(SOURCE);
    const chunks = await collect(stream);
    const target = await KvStateMachine.open(await dirs.make());
    await assert.rejects(target.restoreChunk(TARGET, chunks[0]), isCode('FAILED_PRECONDITION'));
    await target.restoreBegin(TARGET, { snapshotIndex: stream.appliedIndex });
    await assert.rejects(target.restoreChunk(TARGET, chunks[1]), isCode('FAILED_PRECONDITION'));
    const damaged = chunks[0].slice();
    damaged[damaged.length - 10] ^= 0x55;
    await assert.rejects(target.restoreChunk(TARGET, damaged), MalformedError);
    await assert.rejects(target.restoreChunk(TARGET, chunks[0].subarray(0, 5)), MalformedError);
    assert.deepEqual(await target.restoreChunk(TARGET, chunks[0]), { nextChunk: 1, done: false });
    assert.deepEqual(await target.restoreChunk(TARGET, chunks[0]), { nextChunk: 1, done: false });
    await assert.rejects(target.restoreFinish(TARGET), isCode('FAILED_PRECONDITION'));
    let done = false;
    for (const chunk of chunks.slice(1)) ({ done } = await target.restoreChunk(TARGET, chunk));
    assert.equal(done, true);
    await target.restoreFinish(TARGET);
    assert.deepEqual(await readAll(target, TARGET), await readAll(source, SOURCE));

    // A snapshot whose header names another index than the one being restored is refused.
    await assert.rejects(
      target.restoreBegin(TARGET, { snapshotIndex: stream.appliedIndex - 1 }),
      isCode('FAILED_PRECONDITION'),
    );
    const other = group(11);
    await target.restoreBegin(other, { snapshotIndex: stream.appliedIndex + 1 });
    await assert.rejects(target.restoreChunk(other, chunks[0]), MalformedError);
    await Promise.all([source.close(), target.close()]);
  });
});

function isCode(code: string): (error: unknown) => boolean {
  return (error) => error instanceof KvError && error.code === code;
}
