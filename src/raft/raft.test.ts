/**
 * Scripted interaction tests of the Raft core: a tiny synchronous network of RawNodes, driven
 * step by step, checks the paper's rules one scenario at a time (elections, PreVote and the
 * CheckQuorum lease, log repair, commit rules, ReadIndex batching, leadership transfer,
 * membership changes, snapshots, limits and bad input). The randomised fault schedules live in
 * jepsen-like-tests/sim.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfChangeType,
  ConfigError,
  EMPTY_BYTES,
  MemoryStorage,
  MessageType,
  NotLeaderError,
  ProposalDroppedError,
  RawNode,
  Role,
  emptyMessage,
  groupId,
  mulberry32,
  nodeId,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfigInput,
  type ReadState,
} from './index.js';

const G = groupId(7);
const text = new TextEncoder();

/** Net is a synchronous network: deliver() runs Ready cycles until no message is in flight. */
class Net {
  nodes = new Map<NodeId, RawNode>();
  storages = new Map<NodeId, MemoryStorage>();
  applied = new Map<NodeId, Entry[]>();
  reads = new Map<NodeId, ReadState[]>();
  blocked = new Set<string>();
  sent: Message[] = [];
  /** drop discards matching messages in flight (a test-chosen lossy network). */
  drop: (m: Message) => boolean = () => false;

  constructor(
    ids: number[],
    readonly config: Partial<RaftConfigInput> = {},
  ) {
    const voters = ids.map(nodeId);
    for (const id of voters) {
      const storage = MemoryStorage.bootstrap({ voters, learners: [] });
      this.add(id, storage, config);
    }
  }

  add(id: NodeId, storage: MemoryStorage, extra: Partial<RaftConfigInput> = {}): RawNode {
    const node = new RawNode(
      {
        id,
        groupId: G,
        random: mulberry32(id),
        electionTicks: 10,
        heartbeatTicks: 1,
        applied: storage.snapshot().metadata.index,
        ...extra,
      },
      storage,
    );
    this.nodes.set(id, node);
    this.storages.set(id, storage);
    if (!this.applied.has(id)) this.applied.set(id, []);
    this.reads.set(id, []);
    return node;
  }

  node(id: number): RawNode {
    const node = this.nodes.get(nodeId(id));
    assert.ok(node, `no node ${id}`);
    return node;
  }

  cut(a: number, b: number): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  isolate(a: number): void {
    for (const id of this.nodes.keys()) if (id !== a) this.cut(a, id);
  }

  heal(): void {
    this.blocked.clear();
  }

  /** deliver runs Ready cycles on every node until quiet (bounded). */
  deliver(rounds = 100): void {
    for (let round = 0; round < rounds; round++) {
      const inFlight: Message[] = [];
      for (const [id, node] of this.nodes) {
        if (!node.hasReady()) continue;
        const ready = node.ready();
        const storage = this.storages.get(id)!;
        if (ready.snapshot) storage.applySnapshot(ready.snapshot);
        storage.append(ready.entries);
        if (ready.hardState) storage.setHardState(ready.hardState);
        inFlight.push(...ready.earlyMessages, ...ready.messages);
        this.applied.get(id)!.push(...ready.committedEntries);
        this.reads.get(id)!.push(...ready.readStates);
        node.advance(ready);
      }
      const more = [...this.nodes.values()].some((node) => node.hasReady());
      if (inFlight.length === 0 && !more) return;
      for (const m of inFlight) {
        this.sent.push(m);
        if (this.blocked.has(`${m.from}>${m.to}`) || this.drop(m)) continue;
        this.nodes.get(m.to)?.step(m);
      }
    }
    assert.fail('network did not go quiet');
  }

  tick(id: number, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).tick();
      this.deliver();
    }
  }

  tickAll(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.tick();
      this.deliver();
    }
  }

  elect(id: number): void {
    this.node(id).campaign();
    this.deliver();
    assert.equal(this.node(id).status().role, Role.Leader, `node ${id} should lead`);
  }

  data(id: number): string[] {
    return this.applied
      .get(nodeId(id))!
      .filter((e) => e.data.byteLength > 0 && e.type === 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

test('a node campaigns, wins with a majority, and commits its no-op', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  const status = net.node(1).status();
  assert.equal(status.term, 2);
  for (const id of [1, 2, 3]) assert.equal(net.node(id).status().commit, 2, `commit on ${id}`);
  assert.equal(net.node(2).status().leader, 1);
});

test('an election timeout elects exactly one leader', () => {
  const net = new Net([1, 2, 3]);
  net.tickAll(40);
  const leaders = [1, 2, 3].filter((id) => net.node(id).status().role === Role.Leader);
  assert.equal(leaders.length, 1);
});

test('proposals replicate and apply in order on every node', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 10; i++) net.node(1).propose(text.encode(`v${i}`));
  net.deliver();
  const expected = Array.from({ length: 10 }, (_, i) => `v${i}`);
  for (const id of [1, 2, 3]) assert.deepEqual(net.data(id), expected);
});

test('a follower refuses proposals with a leader hint', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  assert.throws(
    () => net.node(2).propose(text.encode('x')),
    (error: unknown) => error instanceof NotLeaderError && error.leaderHint === 1,
  );
});

test('PreVote: a partitioned node does not raise its term, and rejoins without disruption', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.tick(3, 50);
  assert.equal(net.node(3).status().term, 2, 'pre-vote kept the term');
  net.heal();
  net.tickAll(3);
  assert.equal(net.node(1).status().role, Role.Leader);
  assert.equal(net.node(1).status().term, 2);
});

test('CheckQuorum: a leader that cannot hear a majority steps down', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  net.tick(1, 25);
  assert.notEqual(net.node(1).status().role, Role.Leader);
});

test('CheckQuorum lease: followers that hear the leader reject a disruptive vote', () => {
  const net = new Net([1, 2, 3], { preVote: false });
  net.elect(1);
  net.node(3).campaign(); // term 3, but 2 has a live leader
  net.deliver();
  assert.equal(net.node(1).status().role, Role.Leader, 'leader kept its lease-protected majority');
});

test('a leader repairs a diverged follower log (fast backtracking)', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  for (let i = 0; i < 20; i++) net.node(1).propose(text.encode(`lost${i}`));
  net.deliver();
  // 2 and 3 stop hearing from 1; after their lease expires one of them wins.
  for (let i = 0; i < 40 && ![2, 3].some((id) => net.node(id).status().role === Role.Leader); i++) {
    net.node(2).tick();
    net.node(3).tick();
    net.deliver();
  }
  const newLeader = [2, 3].find((id) => net.node(id).status().role === Role.Leader);
  assert.ok(newLeader, 'a new leader among 2 and 3');
  net.node(newLeader).propose(text.encode('kept'));
  net.deliver();
  net.heal();
  net.tickAll(25);
  for (const id of [1, 2, 3]) assert.deepEqual(net.data(id), ['kept'], `log of ${id}`);
});

/**
 * figure8 plays the scenario of Figure 8 of the Raft paper up to the point where an entry of an
 * old term (index 3, term 2) is stored on a majority while the new leader's own no-op is not.
 * Returns the leader's commit index at that point and after the no-op gets through.
 */
function figure8(mutations: Set<'commit-old-term'>): { early: number; late: number } {
  // CheckQuorum off and one entry per Append: leadership is moved by hand, entries one by one.
  const net = new Net([1, 2, 3, 4, 5], {
    checkQuorum: false,
    messageBytesMax: 1,
    mutations,
    unsafeAllowMutations: mutations.size > 0,
  });
  net.elect(1);
  for (const id of [3, 4, 5]) net.cut(1, id);
  net.node(1).propose(text.encode('old')); // index 3, term 2, reaches 2 only
  net.deliver();
  net.heal();
  net.isolate(1);
  net.drop = (m) => m.from === 5 && m.type === MessageType.Append;
  net.elect(5); // term 3 with votes of 3 and 4; its no-op at index 3 reaches nobody
  // From now on 3 and 4 may receive index 3 but not index 4 (the no-op of term 4).
  net.drop = (m) =>
    m.type === MessageType.Append &&
    (m.to === 3 || m.to === 4) &&
    m.entries.some((e) => e.index === 4) &&
    net.node(m.to).status().lastIndex >= 3;
  net.heal();
  net.isolate(5);
  net.add(nodeId(1), net.storages.get(nodeId(1))!, net.config); // 1 restarts as a follower
  net.node(1).campaign(); // its pre-vote at term 3 is refused: 3 and 4 voted for 5 in term 3
  net.deliver();
  net.elect(1); // term 4: replicates 'old' to 3 and 4, but not its own no-op at index 4
  net.tickAll(2);
  const early = net.node(1).status().commit;
  net.drop = () => false;
  net.tickAll(2);
  return { early, late: net.node(1).status().commit };
}

test('an entry of an old term is not committed by counting replicas (Figure 8)', () => {
  const { early, late } = figure8(new Set());
  assert.equal(early, 2, 'index 3 (term 2) is on a majority but must not commit by counting');
  assert.ok(late >= 4, 'the no-op of term 4 commits everything before it');
});

test('mutation commit-old-term makes the Figure 8 check fail', () => {
  assert.equal(figure8(new Set(['commit-old-term'])).early, 3);
});
test('ReadIndex: one heartbeat round serves a batch of reads, after the term commits', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  const before = net.sent.length;
  for (let i = 0; i < 5; i++) net.node(1).readIndex(text.encode(`r${i}`));
  net.deliver();
  const heartbeats = net.sent.slice(before).filter((m) => m.type === MessageType.Heartbeat);
  assert.equal(heartbeats.length, 2, 'one heartbeat per follower for five reads');
  const reads = net.reads.get(nodeId(1))!;
  assert.equal(reads.length, 5);
  for (const read of reads) assert.equal(read.index, net.node(1).status().commit);
});

test('ReadIndex: a deposed leader in a minority answers no read', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  net.node(1).readIndex(text.encode('stale?'));
  net.deliver();
  assert.equal(net.reads.get(nodeId(1))!.length, 0);
});

test('ReadIndex from a follower is forwarded and answered', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.node(3).readIndex(text.encode('f'));
  net.deliver();
  assert.equal(net.reads.get(nodeId(3))!.length, 1);
});

test('leadership transfer hands over to a caught-up follower', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.node(1).transferLeader(nodeId(3));
  net.deliver();
  assert.equal(net.node(3).status().role, Role.Leader);
  assert.equal(net.node(1).status().role, Role.Follower);
});

test('membership: add a learner, promote it, remove a voter; one change at a time', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.add(nodeId(4), new MemoryStorage());
  net.node(1).proposeConfChange({
    type: ConfChangeType.AddLearner,
    nodeId: nodeId(4),
    context: EMPTY_BYTES,
  });
  assert.throws(
    () =>
      net.node(1).proposeConfChange({
        type: ConfChangeType.AddNode,
        nodeId: nodeId(4),
        context: EMPTY_BYTES,
      }),
    ProposalDroppedError,
  );
  net.deliver();
  net.tickAll(3);
  assert.deepEqual(net.node(4).status().confState.learners, [4]);
  net
    .node(1)
    .proposeConfChange({ type: ConfChangeType.AddNode, nodeId: nodeId(4), context: EMPTY_BYTES });
  net.deliver();
  assert.deepEqual(net.node(1).status().confState.voters, [1, 2, 3, 4]);
  net.node(1).proposeConfChange({
    type: ConfChangeType.RemoveNode,
    nodeId: nodeId(2),
    context: EMPTY_BYTES,
  });
  net.deliver();
  assert.deepEqual(net.node(4).status().confState.voters, [1, 3, 4]);
  net.node(1).propose(text.encode('after'));
  net.deliver();
  assert.deepEqual(net.data(4), ['after']);
});

test('a compacted leader catches a new follower up by snapshot', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 5; i++) net.node(1).propose(text.encode(`s${i}`));
  net.deliver();
  const leaderStorage = net.storages.get(nodeId(1))!;
  const applied = net.node(1).status().applied;
  leaderStorage.createSnapshot(applied, net.node(1).status().confState, text.encode('image'));
  leaderStorage.compact(applied);
  net.add(nodeId(4), new MemoryStorage());
  net.node(1).proposeConfChange({
    type: ConfChangeType.AddLearner,
    nodeId: nodeId(4),
    context: EMPTY_BYTES,
  });
  net.deliver();
  net.tickAll(3);
  const status = net.node(4).status();
  assert.equal(status.commit, net.node(1).status().commit);
  assert.ok(net.sent.some((m) => m.type === MessageType.Snapshot && m.to === 4));
});

test('a restarted node keeps its term and vote, and its log', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(text.encode('durable'));
  net.deliver();
  const storage = net.storages.get(nodeId(2))!;
  const before = net.node(2).status();
  const restarted = net.add(nodeId(2), storage);
  const after = restarted.status();
  assert.equal(after.term, before.term);
  assert.equal(after.vote, before.vote);
  assert.equal(after.lastIndex, before.lastIndex);
});

test('limits: an oversized entry and too many uncommitted bytes are refused', () => {
  const net = new Net([1, 2, 3], { entryBytesMax: 100, uncommittedBytesMax: 250 });
  net.elect(1);
  assert.throws(() => net.node(1).propose(new Uint8Array(101)), /entryBytesMax 100/);
  net.isolate(1);
  net.node(1).propose(new Uint8Array(100));
  net.node(1).propose(new Uint8Array(100));
  assert.throws(() => net.node(1).propose(new Uint8Array(100)), /uncommittedBytesMax 250/);
});

test('bad input: wrong group, unknown type, bad numbers and local types are dropped and counted', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  const node = net.node(2);
  const before = node.status();
  const bad: Message[] = [
    { ...emptyMessage(MessageType.Append, groupId(8), nodeId(1), nodeId(2)), term: 2 },
    { ...emptyMessage(99 as MessageType, G, nodeId(1), nodeId(2)), term: 2 },
    { ...emptyMessage(MessageType.Append, G, nodeId(1), nodeId(2)), term: -1 },
    { ...emptyMessage(MessageType.Append, G, nodeId(1), nodeId(2)), term: 2, index: 2 ** 60 },
    { ...emptyMessage(MessageType.Hup, G, nodeId(1), nodeId(2)), term: 2 },
    { ...emptyMessage(MessageType.Append, G, nodeId(1), nodeId(5)), term: 2 },
    { ...emptyMessage(MessageType.HeartbeatResponse, G, nodeId(9), nodeId(2)), term: 2 },
    {
      ...emptyMessage(MessageType.Append, G, nodeId(1), nodeId(2)),
      term: 2,
      index: 2,
      entries: [{ term: 9, index: 3, type: 0, data: EMPTY_BYTES }],
    },
  ];
  for (const m of bad) node.step(m);
  const after = node.status();
  assert.equal(after.droppedMessages - before.droppedMessages, bad.length);
  assert.equal(after.term, before.term);
  assert.equal(after.lastIndex, before.lastIndex);
});

test('invalid configuration is rejected with the value and the allowed range', () => {
  const storage = MemoryStorage.bootstrap({ voters: [nodeId(1)], learners: [] });
  assert.throws(
    () =>
      new RawNode({ id: nodeId(1), groupId: G, random: Math.random, electionTicks: 1 }, storage),
    (error: unknown) =>
      error instanceof ConfigError && /electionTicks = 1 .*\[2, 100000\]/.test(error.message),
  );
  assert.throws(
    () => new RawNode({ id: nodeId(0), groupId: G, random: Math.random }, storage),
    ConfigError,
  );
  assert.throws(
    () =>
      new RawNode(
        { id: nodeId(1), groupId: G, random: Math.random, mutations: new Set(['commit-old-term']) },
        storage,
      ),
    /test-only/,
  );
});

test('a single-voter group commits and serves reads alone', () => {
  const net = new Net([1]);
  net.elect(1);
  net.node(1).propose(text.encode('solo'));
  net.node(1).readIndex(text.encode('r'));
  net.deliver();
  assert.deepEqual(net.data(1), ['solo']);
  assert.equal(net.reads.get(nodeId(1))!.length, 1);
});

test('quiescence: an idle group stops heartbeating; a proposal wakes it and commits', () => {
  const net = new Net([1, 2, 3], { quiesceTicks: 3 });
  net.elect(1);
  net.node(1).propose(text.encode('before'));
  net.deliver();
  net.tickAll(10);
  for (const id of [1, 2, 3])
    assert.equal(net.node(id).status().quiesced, true, `node ${id} sleeps`);
  const before = net.sent.length;
  net.tickAll(50); // far past the election timeout: nobody campaigns, nothing is sent
  assert.equal(net.sent.length, before, 'a quiesced group sends nothing');
  assert.equal(net.node(1).status().role, Role.Leader);
  net.node(1).propose(text.encode('after'));
  net.deliver();
  for (const id of [1, 2, 3]) assert.deepEqual(net.data(id), ['before', 'after']);
  assert.equal(net.node(1).status().quiesced, false);
});

test('quiescence: a woken follower wakes its leader; a dead leader is replaced once woken', () => {
  const net = new Net([1, 2, 3], { quiesceTicks: 3 });
  net.elect(1);
  net.tickAll(10);
  assert.equal(net.node(2).status().quiesced, true);
  net.node(2).wake(); // the driver saw the leader's node go silent
  net.deliver();
  assert.equal(net.node(1).status().quiesced, false, 'the follower woke its live leader');
  net.tickAll(10);
  assert.equal(net.node(1).status().quiesced, true, 'and the idle group went back to sleep');
  net.isolate(1); // now the leader is really gone
  net.node(2).wake();
  net.node(3).wake();
  for (let i = 0; i < 60 && ![2, 3].some((id) => net.node(id).status().role === Role.Leader); i++) {
    net.node(2).tick();
    net.node(3).tick();
    net.deliver();
  }
  assert.ok(
    [2, 3].some((id) => net.node(id).status().role === Role.Leader),
    'a new leader',
  );
});

test('ReadIndex: a round whose heartbeats were lost is confirmed by the next regular beat', () => {
  const net = new Net([1, 2, 3]);
  net.elect(1);
  net.drop = (m) => m.type === MessageType.Heartbeat;
  net.node(1).readIndex(text.encode('lost-round'));
  net.deliver();
  assert.equal(net.reads.get(nodeId(1))!.length, 0, 'the round heartbeats were dropped');
  net.drop = () => false;
  net.tick(1, 1);
  assert.equal(net.reads.get(nodeId(1))!.length, 1, 'answered after the next beat');
});
