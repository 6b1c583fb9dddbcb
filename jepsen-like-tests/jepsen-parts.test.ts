/**
 * Unit tests of the Jepsen-like suite's pure parts, so that the real-process runs rest on
 * tested pieces: partition shapes (a ring leaves every node a different majority), schedules
 * (deterministic per seed, every nemesis covered, pauses outlast the election timeout), tearing
 * a real LevelDB log (LevelDB reopens with every earlier write and without the torn one), the
 * link proxy (pass, clog, delay, drop), the choice of a replica move (never back to a node that
 * held the group) and the settled-layout test the runner waits for, the set, retries and
 * Raft-invariant checkers on hand-made histories, and the HTML report of a non-linearizable key.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { checkHistory, type HistoryEvent } from './checker/index.js';
import { checkRaftInvariants } from './checks/raft-invariants.js';
import type { ClusterLayout, GroupReplicas } from '../src/ring/index.js';
import type { NodeStatus } from './harness/process-cluster.js';
import { lastRecordSpan, newestLogFile, tearTail } from './nemesis/leveldb-log.js';
import { chooseMove, MembershipState } from './nemesis/membership-faults.js';
import { bridge, halves, isolate, oneWay, ring } from './nemesis/partitions.js';
import {
  NEMESIS_NAMES,
  checkSchedule,
  generateSchedule,
  selectNemeses,
} from './nemesis/schedule.js';
import { LinkProxy, PASS_MODE } from './net/proxy.js';
import { renderReport } from './report/html.js';
import type { RunSummary } from './report/summary.js';
import { unsettled } from './runner/layout.js';
import type { StatusSample } from './runner/sampler.js';
import { checkRetries, type RetryEvent } from './workloads/retries.js';
import { checkSet, checkSetReplicas, type SetEvent } from './workloads/set.js';
import type { Workload } from './workloads/types.js';

const IDS = [1, 2, 3, 4, 5];

function sees(links: readonly (readonly [number, number])[], node: number): number[] {
  return IDS.filter(
    (other) => other === node || !links.some(([a, b]) => a === node && b === other),
  );
}

test('partitions: isolate, halves, ring, bridge and one-way cut the right links', () => {
  assert.deepEqual(sees(isolate(3, IDS), 3), [3]);
  assert.equal(halves(IDS, 7).length, 2 * 2 * 3);
  const cut = ring(IDS, 11);
  const views = IDS.map((id) => sees(cut, id).join(','));
  for (const view of views) assert.equal(view.split(',').length, 3, 'each node sees a majority');
  assert.equal(new Set(views).size, 5, 'no two nodes see the same majority');
  const bridged = bridge(IDS, 3);
  assert.equal(IDS.filter((id) => sees(bridged, id).length === 5).length, 1, 'one bridge node');
  assert.deepEqual(oneWay(2, IDS, 'out'), [
    [2, 1],
    [2, 3],
    [2, 4],
    [2, 5],
  ]);
  assert.deepEqual(oneWay(2, IDS, 'in'), [
    [1, 2],
    [3, 2],
    [4, 2],
    [5, 2],
  ]);
});

test('schedules: deterministic per seed, cover every nemesis, replayable', () => {
  const timing = {
    faultMsMin: 1000,
    faultMsMax: 2000,
    gapMsMin: 100,
    gapMsMax: 200,
    pauseMsMin: 2500,
  };
  const request = { seed: 42, names: NEMESIS_NAMES, timeMs: 60_000, coverAll: true, timing };
  const a = generateSchedule(request);
  assert.deepEqual(generateSchedule(request), a);
  assert.notDeepEqual(generateSchedule({ ...request, seed: 43 }), a);
  assert.deepEqual(
    new Set(a.slice(0, NEMESIS_NAMES.length).map((s) => s.name)),
    new Set(NEMESIS_NAMES),
  );
  for (const step of a.filter((s) => s.name.startsWith('pause:')))
    assert.ok(step.durationMs >= 2500);
  assert.deepEqual(checkSchedule(JSON.parse(JSON.stringify(a))), a);
  assert.throws(() => checkSchedule([{ name: 'nope' }]), /invalid/);
  assert.deepEqual(selectNemeses(['pause']), ['pause:node', 'pause:leader']);
  assert.deepEqual(selectNemeses(['membership']), ['membership:move', 'membership:leader']);
  assert.throws(() => selectNemeses(['nope']), /unknown nemesis/);
});

function entry(groupId: number, replicas: number[], target = replicas, learners: number[] = []) {
  return { groupId, replicas, learners, target } as unknown as GroupReplicas;
}

function layoutOf(placement: GroupReplicas[]): ClusterLayout {
  return {
    epoch: 7,
    routingVersion: 1,
    groupCount: placement.length,
    replicationFactor: 3,
    nodes: IDS.map((id) => ({ id, address: `127.0.0.1:${7000 + id}`, state: 'up' })),
    placement,
    metaGroup: entry(0, IDS),
  } as unknown as ClusterLayout;
}

test('membership: a move goes from a target replica to a running node that never held it', () => {
  const layout = layoutOf([entry(1, [1, 2, 3]), entry(2, [3, 4, 5])]);
  const state = new MembershipState();
  state.remember(layout);
  for (let pick = 0; pick < 40; pick++) {
    const move = chooseMove(layout, state.hosts, IDS, [pick, pick * 7, pick * 13, 0])!;
    const { target } = layout.placement[move.groupId - 1]!;
    assert.ok((target as number[]).includes(move.fromNode));
    assert.ok(!(target as number[]).includes(move.toNode));
  }
  assert.deepEqual(chooseMove(layout, state.hosts, [1, 2, 3, 5], [0, 0, 0, 0]), {
    groupId: 1,
    fromNode: 1,
    toNode: 5,
  });
  state.hostsOf(1).add(4).add(5);
  assert.equal(chooseMove(layout, state.hosts, IDS, [0, 0, 0, 0])?.groupId, 2);
  state.hostsOf(2).add(1).add(2);
  assert.equal(chooseMove(layout, state.hosts, IDS, [0, 0, 0, 0]), null, 'nowhere new to go');
});

function statusOf(node: number, groups: [number, string, number[]][]): NodeStatus {
  const list = groups.map(([groupId, role, voters]) => ({ groupId, role, term: 2, voters }));
  return { nodeId: node, groups: list } as unknown as NodeStatus;
}

test('membership: settled means no group mid-move and the nodes agree with the layout', () => {
  const layout = layoutOf([entry(1, [1, 2, 3])]);
  layout.metaGroup = entry(0, [1, 2, 3]);
  const agreeing = new Map([
    [
      1,
      statusOf(1, [
        [0, 'leader', [1, 2, 3]],
        [1, 'leader', [1, 2, 3]],
      ]),
    ],
    [
      2,
      statusOf(2, [
        [0, 'follower', [1, 2, 3]],
        [1, 'follower', [1, 2, 3]],
      ]),
    ],
    [
      3,
      statusOf(3, [
        [0, 'follower', [1, 2, 3]],
        [1, 'follower', [1, 2, 3]],
      ]),
    ],
    [4, statusOf(4, [])],
  ]);
  assert.deepEqual(unsettled(layout, agreeing), []);
  const moving = layoutOf([entry(1, [1, 2, 3, 4], [1, 2, 4], [4])]);
  moving.metaGroup = layout.metaGroup;
  assert.match(unsettled(moving, agreeing).join('\n'), /group 1 mid-move: .* learners 4/);
  const stale = new Map(agreeing).set(4, statusOf(4, [[1, 'follower', [1, 2, 3, 4]]]));
  assert.deepEqual(unsettled(layout, stale), ['node 4 still hosts group 1']);
  const behind = new Map(agreeing).set(1, statusOf(1, [[0, 'leader', [1, 2, 3]]]));
  assert.match(unsettled(layout, behind).join('\n'), /group 1 has no leader/);
  assert.match(unsettled(layout, behind).join('\n'), /node 1 has no replica of group 1/);
  assert.deepEqual(unsettled(layout, new Map([[5, null]])).slice(-1), ['node 5 does not answer']);
});

test('torn tail: LevelDB reopens with every earlier batch and without the torn one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-torn-'));
  try {
    const db = new ClassicLevel<string, string>(dir);
    await db.open();
    for (let i = 0; i < 20; i++)
      await db.batch([{ type: 'put', key: `k${i}`, value: 'v'.repeat(i * 5000) }], { sync: true });
    await db.close();
    const file = await newestLogFile(dir);
    assert.ok(file);
    const result = await tearTail(dir, 0.5);
    assert.ok(
      result.record &&
        result.sizeAfter > result.record.start &&
        result.sizeAfter < result.record.end,
    );
    const reopened = new ClassicLevel<string, string>(dir);
    await reopened.open();
    assert.equal((await reopened.get('k18'))?.length, 18 * 5000);
    assert.equal(await reopened.get('k19'), undefined);
    await reopened.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(lastRecordSpan(new Uint8Array(3)), null);
});

async function echoServer(): Promise<{ port: number; close: () => void }> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

function roundTrip(socket: Socket, text: string, timeoutMs: number): Promise<number | null> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
    socket.write(text);
  });
}

test('link proxy: passes, clogs without losing bytes, delays, and drops', async () => {
  const echo = await echoServer();
  const proxy = new LinkProxy();
  const spec = {
    key: '1->2',
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: echo.port,
    bindHost: '127.0.0.1',
  };
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  spec.listenPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  await proxy.start([spec]);
  const socket = connect(spec.listenPort, '127.0.0.1');
  try {
    assert.notEqual(await roundTrip(socket, 'a', 2000), null);
    proxy.setMode(['1->2'], { ...PASS_MODE, clogged: true });
    assert.equal(await roundTrip(socket, 'b', 300), null, 'clogged: no answer');
    const released = new Promise((resolve) => socket.once('data', resolve));
    proxy.setMode(['1->2'], PASS_MODE);
    await released;
    proxy.setMode(['1->2'], { ...PASS_MODE, delayMs: 150 });
    const delayed = await roundTrip(socket, 'c', 2000);
    assert.ok(delayed !== null && delayed >= 280, `two delayed hops, got ${delayed} ms`);
    proxy.setMode(['1->2'], { ...PASS_MODE, dropRate: 1 });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('d');
    await closed;
    assert.equal(proxy.stats()['1->2']!.resets, 1);
  } finally {
    socket.destroy();
    proxy.close();
    echo.close();
  }
});

function ev<E>(events: Omit<E, 'time'>[]): E[] {
  return events.map((e, i) => ({ ...e, time: i }) as E);
}

test('set checker: lost, unexpected, indeterminate, and lost on one replica', () => {
  const events = ev<SetEvent>([
    { process: 1, type: 'invoke', f: 'add', value: 1 },
    { process: 1, type: 'ok', f: 'add', value: 1 },
    { process: 1, type: 'invoke', f: 'add', value: 2 },
    { process: 1, type: 'info', f: 'add', value: 2 },
    { process: 2, type: 'invoke', f: 'add', value: 3 },
    { process: 2, type: 'ok', f: 'add', value: 3 },
    { process: 3, type: 'invoke', f: 'read', value: null },
    { process: 3, type: 'ok', f: 'read', value: [1, 2, 9] },
  ]);
  const verdict = checkSet(events);
  assert.deepEqual([verdict.lost, verdict.unexpected, verdict.recovered], [[3], [9], 1]);
  assert.equal(verdict.valid, false);
  const replicas = [
    { node: 1, group: 1, keys: ['s/1', 's/3'] },
    { node: 2, group: 1, keys: ['s/1'] },
  ];
  assert.deepEqual(
    checkSetReplicas(events, replicas, () => 1),
    ['set: 1 acknowledged adds lost on node 2 (group 1): 3'],
  );
});

test('retries checker: a write applied twice or lost is reported', () => {
  const writes = (key: string, outcomes: ('ok' | 'info' | 'fail')[]): Omit<RetryEvent, 'time'>[] =>
    outcomes.flatMap((type, i) => [
      { process: 1, type: 'invoke' as const, f: 'put' as const, key, value: i + 1 },
      { process: 1, type, f: 'put' as const, key, value: i + 1 },
    ]);
  const read = (key: string, value: number, version: number): Omit<RetryEvent, 'time'>[] => [
    { process: 9, type: 'invoke', f: 'read', key, value: null },
    { process: 9, type: 'ok', f: 'read', key, value: [value, version] },
  ];
  const ok = ev<RetryEvent>([...writes('a', ['ok', 'info', 'ok']), ...read('a', 3, 3)]);
  assert.equal(checkRetries(ok).valid, true);
  const twice = ev<RetryEvent>([...writes('a', ['ok', 'fail']), ...read('a', 1, 2)]);
  assert.match(checkRetries(twice).problems[0]!, /applied twice/);
  const lost = ev<RetryEvent>([...writes('a', ['ok', 'ok']), ...read('a', 1, 1)]);
  assert.match(checkRetries(lost).problems[0]!, /lost/);
});

function sample(
  time: number,
  node: number,
  incarnation: number,
  role: string,
  term: number,
  commit: number,
): StatusSample {
  return {
    time,
    node,
    incarnation,
    snapshotsInstalled: 0,
    snapshotsSent: 0,
    groups: [
      {
        group: 1,
        role,
        term,
        leader: role === 'leader' ? node : 0,
        commit,
        applied: commit,
        first: 1,
        last: commit,
        voters: [1, 2, 3],
      },
    ],
  };
}

test('raft invariants: two leaders in a term, a term going back, a lost synced commit', () => {
  assert.equal(
    checkRaftInvariants([sample(0, 1, 1, 'leader', 2, 5), sample(1, 2, 1, 'follower', 2, 5)]).valid,
    true,
  );
  const two = checkRaftInvariants([
    sample(0, 1, 1, 'leader', 2, 5),
    sample(1, 2, 1, 'leader', 2, 5),
  ]);
  assert.match(two.problems[0]!, /election safety: group 1 term 2 had leaders 1,2/);
  const back = checkRaftInvariants([
    sample(0, 1, 1, 'follower', 3, 5),
    sample(1, 1, 1, 'follower', 2, 5),
  ]);
  assert.match(back.problems[0]!, /term went back from 3 to 2/);
  const restart = [
    sample(0, 1, 1, 'follower', 3, 9),
    sample(5000, 1, 1, 'follower', 3, 9),
    sample(6000, 1, 2, 'follower', 3, 4),
  ];
  assert.match(checkRaftInvariants(restart, 2000).problems[0]!, /after a restart/);
  const fresh = [sample(0, 1, 1, 'follower', 3, 9), sample(100, 1, 2, 'follower', 3, 4)];
  assert.equal(checkRaftInvariants(fresh, 2000).valid, true, 'unsynced values may be lost');
});

test('raft invariants: a replica moved away and back starts over, unless no sample shows it gone', () => {
  const gone = { ...sample(1000, 1, 1, 'follower', 3, 9), groups: [] };
  const returned = [sample(0, 1, 1, 'follower', 3, 9), gone, sample(2000, 1, 1, 'follower', 4, 2)];
  assert.equal(
    checkRaftInvariants(returned).valid,
    true,
    checkRaftInvariants(returned).problems[0],
  );
  const unseen = [sample(0, 1, 1, 'follower', 3, 9), sample(2000, 1, 1, 'follower', 4, 2)];
  assert.match(checkRaftInvariants(unseen).problems[0]!, /commit went back from 9 to 2/);
});

test('report: a non-linearizable key is shown with its longest partial linearization', async () => {
  const events = ev<HistoryEvent>([
    { process: 1, type: 'invoke', f: 'write', key: 'r/0', value: 1 },
    { process: 1, type: 'ok', f: 'write', key: 'r/0', value: 1 },
    { process: 1, type: 'invoke', f: 'write', key: 'r/0', value: 2 },
    { process: 1, type: 'ok', f: 'write', key: 'r/0', value: 2 },
    { process: 2, type: 'invoke', f: 'read', key: 'r/0', value: null },
    { process: 2, type: 'ok', f: 'read', key: 'r/0', value: 1 },
  ]);
  const checkResult = await checkHistory(events, { workers: 0 });
  assert.equal(checkResult.valid, false);
  const register = { name: 'register', events: () => events, checkResult } as unknown as Workload;
  const summary = {
    runId: 'test',
    profile: 'bounded',
    seed: 1,
    startedAt: '',
    durationMs: 10,
    verdict: 'fail',
    mutation: null,
    nodes: 3,
    groups: 1,
    nemeses: {},
    skippedNemeses: {},
    snapshots: { installed: 0, sent: 0 },
    workloads: [],
    anomalies: ['register key r/0: not linearizable'],
    replay: 'npm run jepsen',
    invariants: { valid: true, samples: 0, termsSeen: 0, problems: [] },
    leadersAfterHealMs: 1,
    replicas: {
      valid: true,
      converged: true,
      convergeMs: 0,
      groupsCompared: 0,
      keysCompared: 0,
      problems: [],
    },
  } satisfies RunSummary;
  const html = renderReport(summary, [register], []);
  assert.match(html, /Key <code>r\/0<\/code>: NOT linearizable/);
  assert.match(html, /Longest partial linearization \(2 of 3 ops\)/);
  assert.match(html, /STUCK/);
});
