/**
 * Unit tests of the simulator's pieces, so the property suite stands on checked ground: the
 * event queue runs in (time, insertion) order; the network cuts exactly the links a partition
 * names and drops, duplicates and delays as configured, from its seed alone; the register
 * store's cas and snapshots behave; triggers fire the armed number of times and never after
 * disarming; replayed schedules are validated; and the safety checker does fail on two leaders
 * in a term, a leader missing committed entries, diverging logs, diverging applied entries and
 * double votes. How: small direct calls with known answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EntryType,
  MemoryStorage,
  MessageType,
  NONE,
  Role,
  emptyMessage,
  groupId,
  nodeId,
  type Entry,
  type RaftStatus,
} from '../../src/raft/index.js';
import { SafetyChecker } from './invariants.js';
import { KvStore, decodeCommand, encodeCommand } from './kv.js';
import { DEFAULT_FAULTS, Network } from './network.js';
import { Random } from './random.js';
import { ScheduleError, parseSchedule, sortedEvents, type Schedule } from './schedule.js';
import { Scheduler } from './scheduler.js';
import { Triggers } from './triggers.js';

test('scheduler runs by time, then by insertion order, never back in time', () => {
  const scheduler = new Scheduler();
  const order: string[] = [];
  scheduler.at(5, () => order.push('b5'));
  scheduler.at(1, () => order.push('a1'));
  scheduler.at(5, () => {
    order.push('c5');
    scheduler.at(2, () => order.push(`late@${scheduler.nowMs}`)); // clamped to now
  });
  scheduler.after(9, () => order.push('d9'));
  while (scheduler.runNext());
  assert.deepEqual(order, ['a1', 'b5', 'c5', 'late@5', 'd9']);
  assert.equal(scheduler.actionsRun, 5);
});

test('random streams are a function of the seed', () => {
  const draw = (seed: number): number[] => {
    const random = new Random(seed);
    return [random.int(1, 6), random.int(1, 6), random.next(), random.fork().next()];
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
  const random = new Random(3);
  for (let i = 0; i < 1000; i++) {
    const value = random.int(-2, 2);
    assert.ok(value >= -2 && value <= 2 && Number.isInteger(value));
  }
});

test('partitions cut exactly the named links; heal restores them', () => {
  const net = new Network(new Random(1));
  net.partition([
    [1, 2],
    [3, 4, 5],
  ]);
  assert.ok(net.isBlocked(1, 3) && net.isBlocked(5, 2));
  assert.ok(!net.isBlocked(1, 2) && !net.isBlocked(4, 5));
  net.heal();
  assert.equal(net.blockedLinks(), 0);
  net.blockOneWay([1], [2, 3]);
  assert.ok(net.isBlocked(1, 2) && !net.isBlocked(2, 1));
  net.heal();
  net.bridge([1, 2, 3], 3, [3, 4, 5]);
  assert.ok(net.isBlocked(1, 4) && net.isBlocked(5, 2));
  assert.ok(!net.isBlocked(3, 1) && !net.isBlocked(3, 5) && !net.isBlocked(4, 3));
  assert.deepEqual(net.route(1, 4), []);
  assert.equal(net.stats.blocked, 1);
});

test('network drops, duplicates and delays as configured', () => {
  const net = new Network(new Random(2));
  net.faults = { ...DEFAULT_FAULTS, dropRate: 1 };
  assert.deepEqual(net.route(1, 2), []);
  net.faults = { ...DEFAULT_FAULTS, dupRate: 1, delayMsMin: 3, delayMsMax: 7 };
  const delays = net.route(1, 2);
  assert.equal(delays.length, 2);
  for (const delay of delays) assert.ok(delay >= 3 && delay <= 7, `delay ${delay}`);
  assert.deepEqual(net.stats, { sent: 2, delivered: 0, dropped: 1, duplicated: 1, blocked: 0 });
});

test('register store: write, cas, snapshot round trip', () => {
  const kv = new KvStore();
  assert.equal(kv.read('a'), null);
  assert.deepEqual(kv.apply({ op: 1, f: 'cas', key: 'a', expected: 5, value: 6 }), {
    applied: false,
  });
  kv.apply({ op: 2, f: 'write', key: 'a', value: 5 });
  assert.deepEqual(kv.apply({ op: 3, f: 'cas', key: 'a', expected: 5, value: 6 }), {
    applied: true,
  });
  kv.apply({ op: 4, f: 'write', key: 'b', value: 1 });
  const copy = KvStore.restore(kv.serialize());
  assert.equal(copy.read('a'), 6);
  assert.deepEqual(copy.serialize(), kv.serialize());
  assert.equal(KvStore.restore(new Uint8Array(0)).read('a'), null);
  const command = { op: 9, f: 'write', key: 'k', value: 3 } as const;
  assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  assert.equal(decodeCommand(new Uint8Array(0)), null);
});

test('triggers fire the armed number of times, and never after disarmAll', () => {
  const pending: (() => void)[] = [];
  const done: string[] = [];
  const triggers = new Triggers({
    after: (_delayMs, action) => pending.push(action),
    crash: (id) => done.push(`crash ${id}`),
    restart: (id) => done.push(`restart ${id}`),
    isolate: (id) => done.push(`isolate ${id}`),
    log: () => undefined,
  });
  triggers.arm({ on: 'vote', action: 'crash', delayMs: 0, restartAfterMs: 5, count: 2 });
  triggers.reached('elected', 1);
  triggers.reached('vote', 2);
  triggers.reached('vote', 3);
  triggers.reached('vote', 4);
  assert.equal(triggers.fired, 2);
  while (pending.length > 0) (pending.shift() as () => void)();
  assert.deepEqual(done, ['crash 2', 'crash 3', 'restart 2', 'restart 3']);
  triggers.arm({ on: 'elected', action: 'isolate', delayMs: 0, restartAfterMs: 0, count: 1 });
  triggers.reached('elected', 5);
  triggers.disarmAll();
  while (pending.length > 0) (pending.shift() as () => void)();
  assert.equal(done.length, 4);
});

test('replayed schedules are validated and their events sorted stably', () => {
  const schedule: Schedule = {
    seed: 1,
    nodeCount: 3,
    durationMs: 100,
    quietMs: 10,
    snapshotEvery: 5,
    snapshotTrailing: 0,
    preVote: true,
    checkQuorum: true,
    tickSkewMs: 0,
    messageBytesMax: 1,
    clients: 1,
    keys: 1,
    opsMax: 1,
    events: [
      { atMs: 50, kind: 'heal', args: {} },
      { atMs: 10, kind: 'restart', args: { pick: 1 } },
      { atMs: 50, kind: 'dropRate', args: { rate: 0.1 } },
    ],
  };
  const parsed = parseSchedule(JSON.stringify(schedule));
  assert.deepEqual(
    sortedEvents(parsed).map((event) => event.kind),
    ['restart', 'heal', 'dropRate'],
  );
  assert.throws(() => parseSchedule(JSON.stringify({ ...schedule, nodeCount: 4 })), ScheduleError);
  const late = { ...schedule, events: [{ atMs: 500, kind: 'heal', args: {} }] };
  assert.throws(() => parseSchedule(JSON.stringify(late)), /atMs/);
});

function status(
  id: number,
  role: Role,
  term: number,
  commit: number,
  lastIndex: number,
): RaftStatus {
  return {
    id: nodeId(id),
    groupId: groupId(1),
    term,
    vote: NONE,
    commit,
    applied: commit,
    firstIndex: 2,
    lastIndex,
    role,
    leader: role === Role.Leader ? nodeId(id) : NONE,
    confState: { voters: [], learners: [] },
    droppedMessages: 0,
    pendingReads: 0,
    quiesced: false,
    progress: null,
  };
}

function entry(index: number, term: number, text = ''): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

test('the safety checker catches two leaders in a term and a leader missing commits', () => {
  const checker = new SafetyChecker(() => 7);
  const storage = MemoryStorage.bootstrap({ voters: [nodeId(1), nodeId(2)], learners: [] });
  checker.observeStart(1, 1, status(1, Role.Follower, 1, 1, 1), storage);
  checker.observeStart(2, 1, status(2, Role.Follower, 1, 1, 1), storage);
  checker.observeStatus(1, status(1, Role.Leader, 2, 9, 9), storage);
  assert.throws(
    () => checker.observeStatus(2, status(2, Role.Leader, 2, 1, 9), storage),
    /Election Safety violated at t=7ms: two leaders in term 2: nodes 1 and 2/,
  );
  assert.throws(
    () => checker.observeStatus(2, status(2, Role.Leader, 3, 1, 5), storage),
    /Leader Completeness violated.*last index 5, but index 9 was committed in term 2/,
  );
  assert.throws(
    () => checker.observeStatus(1, status(1, Role.Follower, 1, 9, 9), storage),
    /Term Monotonicity/,
  );
});

test('the safety checker catches diverging logs and diverging applied entries', () => {
  const checker = new SafetyChecker(() => 0);
  const voters = { voters: [nodeId(1), nodeId(2)], learners: [] };
  const a = MemoryStorage.bootstrap(voters);
  const b = MemoryStorage.bootstrap(voters);
  a.append([entry(2, 1), entry(3, 2)]);
  b.append([entry(2, 3), entry(3, 2)]);
  assert.throws(
    () => checker.checkLogMatching({ id: 1, storage: a }, { id: 2, storage: b }),
    /Log Matching violated.*agree at index 3 .* differ at index 2: terms 1 and 3/,
  );
  checker.observeApply(1, entry(2, 1, 'x'));
  assert.throws(() => checker.observeApply(2, entry(2, 1, 'y')), /State Machine Safety/);
  checker.observeSent({
    ...emptyMessage(MessageType.VoteResponse, groupId(1), nodeId(3), nodeId(1)),
    term: 4,
  });
  const second = emptyMessage(MessageType.VoteResponse, groupId(1), nodeId(3), nodeId(2));
  assert.throws(() => checker.observeSent({ ...second, term: 4 }), /Vote Safety/);
});
