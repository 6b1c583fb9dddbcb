/**
 * Tests of the stream-task operations of the state machine (sm-tasks.ts). What they prove:
 * 1. Model: over random sequences of acquires, stages and commits on two tasks, with epochs
 *    and seqs picked current, stale, future, repeated or with gaps, offsets moving both ways,
 *    staged chunks (some missing) and retries of earlier commits, applied in random batches,
 *    every result (response or error code) and the final keys and records equal those of a
 *    simple reference; a refused operation changes nothing; the recorded offsets of a task
 *    never go backwards; snapshotIndex is the index of the commit that wrote the record.
 * 2. Limits and rules: a task id that cannot route, ops outside the task's keys or on its
 *    record or stage area, range ops, prev kv, too many staged chunks: INVALID_ARGUMENT (or the
 *    limit named) before anything is written.
 * 3. Reopen: the record and a pending stage survive a reopen; a retry after reopen is answered
 *    from the record.
 * Databases live in temporary directories, removed at the end. Bounded: a few seconds.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { EMPTY_BYTES, EntryType } from '../raft/types.js';
import { decodeTaskMeta, encodeCommand } from './kv-codec.js';
import { LIMITS } from './kv-limits.js';
import { taskMetaKey, taskPrefixText, taskStagePrefix } from './kv-tasks.js';
import type {
  CommandOp,
  CommitCheckpointRequest,
  RequestOp,
  TaskMeta,
  TaskOffset,
} from './kv-types.js';
import { KvStateMachine, type ApplyEntry, type ApplyResult } from './sm-state-machine.js';
import { emptyTaskMeta } from './sm-tasks.js';
import { TempDirs, bytes, group, rangeRequest } from './sm-test-util.js';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const G = group(7);
const TASKS = ['wc.words.0', 'wc.words.1'];
const KEYS = ['s/a', 's/b', 's/c', 'o/1'];
const decoder = new TextDecoder();

type Pick = 'current' | 'stale' | 'future';
type SeqPick = 'next' | 'same' | 'gap' | 'old';

/** Step is one generated action; numbers are resolved against the model when it runs. */
type Step =
  | { kind: 'acquire'; task: number; owner: string }
  | {
      kind: 'commit';
      task: number;
      epoch: Pick;
      seq: SeqPick;
      offsets: { topic: string; partition: number; delta: number }[];
      ops: ModelOp[];
      staged: ModelOp[][];
      dropChunk: boolean;
    }
  | { kind: 'retry' };

type ModelOp = { put: string; value: string } | { del: string } | { delPrefix: string };

const modelOpArb: fc.Arbitrary<ModelOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ put: fc.constantFrom(...KEYS), value: fc.string() }) },
  { weight: 2, arbitrary: fc.record({ del: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.record({ delPrefix: fc.constantFrom('s/', 'o/') }) },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      task: fc.integer({ min: 0, max: 1 }),
      owner: fc.constantFrom('w1', 'w2'),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      task: fc.integer({ min: 0, max: 1 }),
      epoch: fc.constantFrom<Pick>('current', 'current', 'current', 'stale', 'future'),
      seq: fc.constantFrom<SeqPick>('next', 'next', 'next', 'same', 'gap', 'old'),
      offsets: fc.array(
        fc.record({
          topic: fc.constantFrom('in', 'side'),
          partition: fc.integer({ min: 0, max: 1 }),
          delta: fc.integer({ min: -2, max: 6 }),
        }),
        { maxLength: 3 },
      ),
      ops: fc.array(modelOpArb, { maxLength: 4 }),
      staged: fc.array(fc.array(modelOpArb, { maxLength: 3 }), { maxLength: 2 }),
      dropChunk: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'retry' as const }) },
);

/** Outcome is a result in comparable form. */
type Outcome = { error: string } | { ok: Record<string, unknown> };

/** TaskModel is the reference: plain maps and the rules of docs/stream-tasks.md. */
class TaskModel {
  readonly meta = new Map<string, TaskMeta>();
  /** data maps full key text to value text (task keys, stage chunks as 'stage'). */
  readonly data = new Map<string, string>();
  readonly staged = new Map<string, ModelOp[]>();

  metaOf(taskId: string): TaskMeta {
    return this.meta.get(taskId) ?? emptyTaskMeta();
  }

  acquire(taskId: string, owner: string, index: number): Outcome {
    const meta = this.metaOf(taskId);
    this.meta.set(taskId, { ...meta, epoch: meta.epoch + 1, owner, acquiredIndex: index });
    for (const key of [...this.staged.keys()])
      if (key.startsWith(`${taskId} `)) this.staged.delete(key);
    const { epoch, seq, offsets, snapshotIndex } = this.metaOf(taskId);
    return { ok: { epoch: epoch, seq, offsets, snapshotIndex } };
  }

  fence(taskId: string, epoch: number, seq: number): string | null {
    const meta = this.metaOf(taskId);
    if (epoch < meta.epoch) return 'FENCED';
    if (epoch > meta.epoch) return 'TASK_NOT_ACQUIRED';
    if (seq !== meta.seq + 1) return 'SEQ_OUT_OF_ORDER';
    return null;
  }

  stage(taskId: string, epoch: number, seq: number, chunk: number, ops: ModelOp[]): Outcome {
    const error = this.fence(taskId, epoch, seq);
    if (error !== null) return { error };
    this.staged.set(`${taskId} ${epoch} ${seq} ${chunk}`, ops);
    return { ok: { chunk } };
  }

  commit(request: CommitCheckpointRequest, ops: ModelOp[], index: number): Outcome {
    const { taskId, epoch, seq } = request;
    const meta = this.metaOf(taskId);
    if (epoch === meta.epoch && seq === meta.seq && meta.commitEpoch === epoch) {
      return { ok: { epoch, seq, snapshotIndex: meta.snapshotIndex, deduplicated: true } };
    }
    const error = this.fence(taskId, epoch, seq);
    if (error !== null) return { error };
    // The model's own merge (not sm-tasks' mergeOffsets): a map, then sorted.
    const merged = new Map(meta.offsets.map((o) => [`${o.topic}/${o.partition}`, o]));
    for (const o of request.offsets) {
      const before = merged.get(`${o.topic}/${o.partition}`);
      if (before !== undefined && o.nextOffset < before.nextOffset)
        return { error: 'OFFSETS_BACKWARDS' };
      merged.set(`${o.topic}/${o.partition}`, { ...o });
    }
    const offsets: TaskOffset[] = [...merged.values()].sort(
      (a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition,
    );
    const chunks: ModelOp[][] = [];
    for (let chunk = 0; chunk < request.stagedChunks; chunk++) {
      const staged = this.staged.get(`${taskId} ${epoch} ${seq} ${chunk}`);
      if (staged === undefined) return { error: 'STAGE_MISSING' };
      chunks.push(staged);
    }
    for (let chunk = 0; chunk < chunks.length; chunk++) {
      for (const op of chunks[chunk]!) this.applyOp(taskId, op);
      this.staged.delete(`${taskId} ${epoch} ${seq} ${chunk}`);
    }
    for (const op of ops) this.applyOp(taskId, op);
    this.meta.set(taskId, {
      ...meta,
      seq,
      commitEpoch: epoch,
      offsets,
      snapshotIndex: index,
      stats: request.stats,
    });
    return { ok: { epoch, seq, snapshotIndex: index, deduplicated: false } };
  }

  private applyOp(taskId: string, op: ModelOp): void {
    const prefix = taskPrefixText(taskId);
    if ('put' in op) this.data.set(prefix + op.put, op.value);
    else if ('del' in op) this.data.delete(prefix + op.del);
    else
      for (const key of [...this.data.keys()])
        if (key.startsWith(prefix + op.delPrefix)) this.data.delete(key);
  }
}

/** requestOps turns model ops into checkpoint ops of `taskId`. */
function requestOps(taskId: string, ops: readonly ModelOp[]): RequestOp[] {
  const prefix = taskPrefixText(taskId);
  return ops.map((op): RequestOp => {
    if ('put' in op) {
      return {
        type: 'put',
        put: { key: bytes(prefix + op.put), value: bytes(op.value), prevKv: false, header: null },
      };
    }
    const key = bytes(prefix + ('del' in op ? op.del : op.delPrefix));
    const prefixDelete = !('del' in op);
    return {
      type: 'delete',
      delete: { key, rangeEnd: EMPTY_BYTES, prefix: prefixDelete, prevKv: false, header: null },
    };
  });
}

/** outcomeOf turns an ApplyResult into an Outcome comparable with the model's. */
function outcomeOf(result: ApplyResult): Outcome {
  if (result.type === 'error') return { error: result.error.code };
  assert.equal(result.type, 'response');
  const response = result.response;
  switch (response.type) {
    case 'acquireTask': {
      const { epoch, seq, offsets, snapshotIndex } = response.acquireTask;
      return { ok: { epoch, seq, offsets, snapshotIndex } };
    }
    case 'commitCheckpoint': {
      const { epoch, seq, snapshotIndex, deduplicated } = response.commitCheckpoint;
      return { ok: { epoch, seq, snapshotIndex, deduplicated } };
    }
    case 'stageCheckpoint':
      return { ok: { chunk: response.stageCheckpoint.chunk } };
    default:
      throw new Error(`unexpected ${response.type}`);
  }
}

/** Planned is one entry to apply with the model's expected outcome computed at apply time. */
interface Planned {
  op: CommandOp;
  expect: (index: number) => Outcome;
}

function pickEpoch(meta: TaskMeta, pick: Pick): number {
  if (pick === 'stale') return Math.max(1, meta.epoch - 1);
  if (pick === 'future') return meta.epoch + 1;
  return Math.max(1, meta.epoch);
}

function pickSeq(meta: TaskMeta, pick: SeqPick): number {
  if (pick === 'same') return Math.max(1, meta.seq);
  if (pick === 'gap') return meta.seq + 2;
  if (pick === 'old') return Math.max(1, meta.seq - 1);
  return meta.seq + 1;
}

/** plan turns a step into entries (stages, then the commit), resolved against the model. */
function plan(model: TaskModel, step: Step, last: { commit: Planned | null }): Planned[] {
  if (step.kind === 'retry') return last.commit === null ? [] : [last.commit];
  const taskId = TASKS[step.task]!;
  if (step.kind === 'acquire') {
    const op: CommandOp = { type: 'acquireTask', acquireTask: { taskId, owner: step.owner } };
    return [{ op, expect: (index) => model.acquire(taskId, step.owner, index) }];
  }
  const meta = model.metaOf(taskId);
  const epoch = pickEpoch(meta, step.epoch);
  const seq = pickSeq(meta, step.seq);
  const offsets = dedupeOffsets(step.offsets).map(({ topic, partition, delta }) => {
    const recorded = meta.offsets.find((o) => o.topic === topic && o.partition === partition);
    return { topic, partition, nextOffset: Math.max(0, (recorded?.nextOffset ?? 0) + delta) };
  });
  const planned: Planned[] = [];
  step.staged.forEach((ops, chunk) => {
    if (step.dropChunk && chunk === step.staged.length - 1) return;
    const stage = { taskId, epoch, seq, chunk, ops: requestOps(taskId, ops) };
    const op: CommandOp = { type: 'stageCheckpoint', stageCheckpoint: stage };
    planned.push({ op, expect: () => model.stage(taskId, epoch, seq, chunk, ops) });
  });
  const stats = {
    bytes: 1,
    ops: step.ops.length,
    records: 3,
    createdAtMs: 5,
    previousDurationMs: 2,
  };
  const commit: CommitCheckpointRequest = {
    taskId,
    epoch,
    seq,
    ops: requestOps(taskId, step.ops),
    offsets,
    stagedChunks: step.staged.length,
    stats,
  };
  const op: CommandOp = { type: 'commitCheckpoint', commitCheckpoint: commit };
  const commitPlan: Planned = { op, expect: (index) => model.commit(commit, step.ops, index) };
  last.commit = commitPlan;
  planned.push(commitPlan);
  return planned;
}

function dedupeOffsets<T extends { topic: string; partition: number }>(offsets: T[]): T[] {
  const seen = new Set<string>();
  return offsets.filter((o) => {
    const name = `${o.topic}/${o.partition}`;
    if (seen.has(name)) return false;
    seen.add(name);
    return true;
  });
}

/** readGroup returns the group's keys as text -> value text, and the decoded records. */
async function readGroup(machine: KvStateMachine, tasks: readonly string[] = TASKS) {
  const page = await machine.range(G, rangeRequest(EMPTY_BYTES, { prefix: true }));
  const data = new Map<string, string>();
  const metas = new Map<string, TaskMeta>();
  let stageKeys = 0;
  for (const kv of page.kvs) {
    const key = decoder.decode(kv.key);
    const task = tasks.find((t) => key === decoder.decode(taskMetaKey(t)));
    if (task !== undefined) metas.set(task, decodeTaskMeta(kv.value));
    else if (tasks.some((t) => key.startsWith(decoder.decode(taskStagePrefix(t))))) stageKeys++;
    else data.set(key, decoder.decode(kv.value));
  }
  return { data, metas, stageKeys };
}

function entryOf(index: number, op: CommandOp): ApplyEntry {
  return { index, type: EntryType.Normal, data: encodeCommand({ clientId: 0, seq: 0, op }) };
}

describe('stream-task operations against a model', () => {
  it('match the reference, refuse without effect, keep offsets monotone', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
        async (steps, batchSizes) => {
          const machine = await KvStateMachine.open(await dirs.make());
          // Both tasks start acquired, so most commits get past the fence.
          const start: Step[] = TASKS.map((_, task) => ({ kind: 'acquire', task, owner: 'w0' }));
          try {
            await runSteps(machine, [...start, ...steps], batchSizes);
          } finally {
            await machine.close();
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

/** runSteps applies the planned entries in batches and checks them against the model. */
async function runSteps(machine: KvStateMachine, steps: Step[], batchSizes: number[]) {
  const model = new TaskModel();
  const last = { commit: null as Planned | null };
  const recorded = new Map<string, Map<string, number>>();
  let index = 0;
  let pending: Planned[] = [];
  let batchNo = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const entries = pending.map((p, i) => entryOf(index + 1 + i, p.op));
    const results = await machine.applyEntries(G, entries);
    for (let i = 0; i < pending.length; i++) {
      assert.deepEqual(
        outcomeOf(results[i]!),
        pending[i]!.expect(index + 1 + i),
        `entry ${index + 1 + i}`,
      );
    }
    index += pending.length;
    pending = [];
    await checkAgainstModel(machine, model, recorded);
  };
  for (const step of steps) {
    // Plans read the model, so entries of one batch are planned after the batch before ran.
    for (const planned of plan(model, step, last)) {
      pending.push(planned);
      if (pending.length >= batchSizes[batchNo % batchSizes.length]!) {
        batchNo++;
        await flush();
      }
    }
    await flush();
  }
  await flush();
}

async function checkAgainstModel(
  machine: KvStateMachine,
  model: TaskModel,
  recorded: Map<string, Map<string, number>>,
) {
  const { data, metas, stageKeys } = await readGroup(machine);
  assert.deepEqual(Object.fromEntries(data), Object.fromEntries(model.data));
  assert.equal(stageKeys, model.staged.size);
  for (const taskId of TASKS) {
    const expected = model.meta.get(taskId);
    assert.deepEqual(metas.get(taskId), expected, `record of ${taskId}`);
    const before = recorded.get(taskId) ?? new Map<string, number>();
    for (const offset of expected?.offsets ?? []) {
      const name = `${offset.topic}/${offset.partition}`;
      assert.ok(offset.nextOffset >= (before.get(name) ?? 0), `${taskId} ${name} went backwards`);
      before.set(name, offset.nextOffset);
    }
    recorded.set(taskId, before);
  }
}

describe('stream-task rules', () => {
  const taskId = 'rules.t.0';
  const key = (suffix: string) => bytes(taskPrefixText(taskId) + suffix);
  const put = (k: Uint8Array): RequestOp => ({
    type: 'put',
    put: { key: k, value: bytes('v'), prevKv: false, header: null },
  });
  const commitOp = (fields: Partial<CommitCheckpointRequest>): CommandOp => ({
    type: 'commitCheckpoint',
    commitCheckpoint: {
      taskId,
      epoch: 1,
      seq: 1,
      ops: [],
      offsets: [],
      stagedChunks: 0,
      stats: null,
      ...fields,
    },
  });

  it('refuse bad task ids, foreign keys, reserved keys and limits before any write', async () => {
    const machine = await KvStateMachine.open(await dirs.make());
    try {
      const acquire: CommandOp = { type: 'acquireTask', acquireTask: { taskId, owner: 'me' } };
      const cases: [CommandOp, string, string][] = [
        [
          { type: 'acquireTask', acquireTask: { taskId: 'a{b}', owner: '' } },
          'INVALID_ARGUMENT',
          'does not route',
        ],
        [
          { type: 'acquireTask', acquireTask: { taskId: '', owner: '' } },
          'INVALID_ARGUMENT',
          'does not route',
        ],
        [commitOp({ ops: [put(bytes('{task:other}/s/x'))] }), 'INVALID_ARGUMENT', 'outside'],
        [commitOp({ ops: [put(key('meta'))] }), 'INVALID_ARGUMENT', 'task record'],
        [commitOp({ ops: [put(key('stage/0'))] }), 'INVALID_ARGUMENT', 'stage area'],
        [
          commitOp({ stagedChunks: LIMITS.stageChunksMax + 1 }),
          'INVALID_ARGUMENT',
          'stageChunksMax',
        ],
        [
          commitOp({
            offsets: [
              { topic: 'x', partition: 0, nextOffset: 1 },
              { topic: 'x', partition: 0, nextOffset: 2 },
            ],
          }),
          'INVALID_ARGUMENT',
          'twice',
        ],
      ];
      const results = await machine.applyEntries(G, [
        entryOf(1, acquire),
        ...cases.map(([op], i) => entryOf(2 + i, op)),
      ]);
      assert.equal(results[0]!.type, 'response');
      cases.forEach(([, code, text], i) => {
        const result = results[i + 1]!;
        assert.ok(result.type === 'error', `case ${i} should fail`);
        assert.equal(result.error.code, code, result.error.message);
        assert.match(result.error.message, new RegExp(text));
      });
      const { data, metas } = await readGroup(machine, [taskId]);
      assert.equal(data.size, 0);
      assert.equal(metas.get(taskId)?.seq, 0);
    } finally {
      await machine.close();
    }
  });

  it('keeps the record and a pending stage across a reopen; a retry is answered from it', async () => {
    const dir = await dirs.make();
    let machine = await KvStateMachine.open(dir);
    const acquire: CommandOp = { type: 'acquireTask', acquireTask: { taskId, owner: 'me' } };
    const offsets = [{ topic: 'in', partition: 0, nextOffset: 10 }];
    const commit = commitOp({ ops: [put(key('s/x'))], offsets });
    await machine.applyEntries(G, [entryOf(1, acquire), entryOf(2, commit)]);
    const stage: CommandOp = {
      type: 'stageCheckpoint',
      stageCheckpoint: { taskId, epoch: 1, seq: 2, chunk: 0, ops: [put(key('s/y'))] },
    };
    await machine.applyEntries(G, [entryOf(3, stage)]);
    await machine.close();
    machine = await KvStateMachine.open(dir);
    try {
      const [retry, promote] = await machine.applyEntries(G, [
        entryOf(4, commit),
        entryOf(5, commitOp({ seq: 2, stagedChunks: 1, offsets })),
      ]);
      assert.deepEqual(outcomeOf(retry!), {
        ok: { epoch: 1, seq: 1, snapshotIndex: 2, deduplicated: true },
      });
      assert.deepEqual(outcomeOf(promote!), {
        ok: { epoch: 1, seq: 2, snapshotIndex: 5, deduplicated: false },
      });
      const { data, stageKeys } = await readGroup(machine, [taskId]);
      assert.deepEqual([...data.keys()].sort(), [
        taskPrefixText(taskId) + 's/x',
        taskPrefixText(taskId) + 's/y',
      ]);
      assert.equal(stageKeys, 0);
    } finally {
      await machine.close();
    }
  });
});
