/**
 * The elastic cluster on real processes (`strata node` on loopback, real LevelDB, the real
 * client and the real `strata admin` command line). Proves that
 * - under a steady write load, a 4th node joins with one command, a rebalance spreads replicas
 *   and leaders within +/-1 of even, and draining and removing an original node moves its
 *   leaders and replicas away: every acknowledged write stays readable and the client sees no
 *   error (only retried ones);
 * - a kill -9 of the target, and separately of the source, in the middle of moves: after the
 *   restart every move completes, and every group ends with its target voters caught up;
 * - a client holding an old epoch is told STALE_EPOCH, refreshes and succeeds;
 * - bad input (add-node with an address in use, a node of another cluster, remove-node of a
 *   replica holder, a move to a node that is down) is refused with a clear message and the
 *   layout is unchanged.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { StrataClient } from '../../src/client/index.js';
import { groupSettled, parseClusterLayout, type ClusterLayout } from '../../src/ring/index.js';
import { AdminCalls } from '../../src/store/admin-calls.js';
import { strata as pb } from '../../src/store/admin-gen/admin.js';
import { decodePutResponse, encodePutRequest } from '../../src/store/kv-codec.js';
import { ProcessCluster, REPO_ROOT, freePort } from '../harness/process-cluster.js';

const GROUPS = 64;
const NODE_CONFIG = { leaderBalanceTicks: 10 };

/** strata runs the command line and returns its exit code and output. */
async function strata(
  args: string[],
  timeoutMs = 240_000,
): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'strata.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  clearTimeout(timer);
  return { code, out, err };
}

/** admin runs `strata admin <args>` against the cluster's running nodes. */
function admin(cluster: ProcessCluster, ...args: string[]) {
  const endpoints = [...cluster.nodes.values()]
    .filter((node) => cluster.isRunning(node.id))
    .map((node) => node.address)
    .join(',');
  return strata(['admin', ...args, '--endpoints', endpoints]);
}

/** layoutOf reads the layout a node serves. */
async function layoutOf(calls: AdminCalls, address: string): Promise<ClusterLayout> {
  const bytes = await calls.call(
    address,
    'Cluster',
    pb.admin.ClusterRequest.encode({}).finish(),
    3_000,
  );
  return parseClusterLayout(pb.admin.ClusterResponse.decode(bytes).layoutJson);
}

/** counts returns replicas (current members) and target replicas per node. */
function counts(layout: ClusterLayout, pick: 'replicas' | 'target'): Map<number, number> {
  const result = new Map<number, number>();
  for (const node of layout.nodes) if (node.state !== 'removed') result.set(node.id, 0);
  for (const entry of layout.placement) {
    for (const node of entry[pick]) result.set(node, (result.get(node) ?? 0) + 1);
  }
  return result;
}

function spread(values: Iterable<number>): number {
  const list = [...values];
  return Math.max(...list) - Math.min(...list);
}

/** settled says every group's members are its target voters, with no learner. */
function settled(layout: ClusterLayout): boolean {
  return [layout.metaGroup, ...layout.placement].every(groupSettled);
}

/** leaderCounts counts data-group leaderships per running node (from their status). */
async function leaderCounts(cluster: ProcessCluster): Promise<Map<number, number>> {
  const result = new Map<number, number>();
  for (const id of cluster.nodes.keys()) {
    if (!cluster.isRunning(id)) continue;
    const status = await cluster.status(id);
    const led = (status?.groups ?? []).filter((g) => (g.groupId ?? 0) !== 0 && g.role === 'leader');
    result.set(id, led.length);
  }
  return result;
}

/**
 * Writer puts keys one after another on a few lanes until stopped (bounded by count and time)
 * and remembers every acknowledged key and every error the client surfaced.
 */
class Writer {
  readonly acked: string[] = [];
  readonly errors: string[] = [];
  #stop = false;
  #done: Promise<void>;

  constructor(
    client: StrataClient,
    prefix: string,
    lanes = 4,
    maxPerLane = 200_000,
    maxMs = 600_000,
  ) {
    const started = Date.now();
    this.#done = Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let i = 0; i < maxPerLane && !this.#stop && Date.now() - started < maxMs; i++) {
          const key = `${prefix}-${lane}-${i}`;
          try {
            await client.put(key, `v-${key}`);
            this.acked.push(key);
          } catch (error) {
            this.errors.push(`${key}: ${(error as Error).message}`);
          }
        }
      }),
    ).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

/**
 * VoterMonitor samples, every 100 ms, each data group's voter count as its leader reports it
 * and keeps the smallest seen: a move must never leave a group below the replication factor.
 */
class VoterMonitor {
  readonly fewest = new Map<number, number>();
  #stop = false;
  #done: Promise<void>;

  constructor(cluster: ProcessCluster, maxMs = 600_000) {
    const started = Date.now();
    this.#done = (async () => {
      while (!this.#stop && Date.now() - started < maxMs) {
        for (const id of cluster.nodes.keys()) {
          if (!cluster.isRunning(id)) continue;
          const status = await cluster.status(id, 500);
          for (const group of status?.groups ?? []) {
            const groupId = group.groupId ?? 0;
            if (groupId === 0 || group.role !== 'leader') continue;
            const voters = (group.voters ?? []).length;
            this.fewest.set(groupId, Math.min(this.fewest.get(groupId) ?? voters, voters));
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
  }

  /** stop ends sampling and returns the smallest voter count seen in any group. */
  async stop(): Promise<number> {
    this.#stop = true;
    await this.#done;
    return Math.min(...this.fewest.values());
  }
}

async function assertAllReadable(client: StrataClient, keys: readonly string[]): Promise<void> {
  for (let start = 0; start < keys.length; start += 64) {
    await Promise.all(
      keys.slice(start, start + 64).map(async (key) => {
        const kv = await client.get(key);
        assert.ok(kv, `acknowledged key ${key} is missing`);
        assert.equal(new TextDecoder().decode(kv.value), `v-${key}`);
      }),
    );
  }
}

describe('elastic cluster: scale out and in under load', { timeout: 600_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let client: StrataClient;
  const calls = new AdminCalls();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-elastic-'));
    cluster = await ProcessCluster.start({
      dir,
      nodes: 3,
      groupCount: GROUPS,
      nodeConfig: NODE_CONFIG,
    });
    await cluster.waitForLeaders(GROUPS, 30_000);
    client = await StrataClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 20_000 });
  });

  after(async () => {
    client?.close();
    calls.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('join, rebalance, drain and remove while writing: nothing lost, counts even', async () => {
    const writer = new Writer(client, 'load');
    const monitor = new VoterMonitor(cluster);
    const address1 = cluster.nodes.get(1)!.address;
    const before = await layoutOf(calls, address1);

    // A 4th node joins with one command.
    await cluster.addJoiningNode(4, address1);
    await cluster.waitUntil('node 4 up', 30_000, async () => {
      const layout = await layoutOf(calls, address1);
      return layout.nodes.find((n) => n.id === 4)?.state === 'up';
    });

    const rebalance = await admin(cluster, 'rebalance', '--wait');
    assert.equal(rebalance.code, 0, rebalance.err + rebalance.out);
    const balanced = await layoutOf(calls, address1);
    assert.ok(settled(balanced), 'moves left after rebalance --wait');
    const replicaCounts = counts(balanced, 'replicas');
    assert.ok(
      spread(replicaCounts.values()) <= 1,
      `replicas per node ${JSON.stringify([...replicaCounts])}`,
    );
    // Consistent hashing: adding a node to 3 moves about 1/4 of the replicas, at most 1.5x that.
    let moved = 0;
    for (const entry of balanced.placement) {
      moved += entry.target.filter(
        (n) => !before.placement[entry.groupId - 1]!.target.includes(n),
      ).length;
    }
    const ideal = (GROUPS * 3) / 4;
    assert.ok(moved <= 1.5 * ideal, `moved ${moved} replicas, ideal ${ideal}`);
    await cluster.waitUntil('leaders within +/-1 of even', 60_000, async () => {
      const leaders = await leaderCounts(cluster);
      return (
        [...leaders.values()].reduce((a, b) => a + b, 0) === GROUPS && spread(leaders.values()) <= 1
      );
    });

    // Drain node 1: leaders first, then replicas; then remove it.
    const drain = await admin(cluster, 'drain-node', '1', '--wait');
    assert.equal(drain.code, 0, drain.err + drain.out);
    const drained = await layoutOf(calls, cluster.nodes.get(2)!.address);
    assert.equal(counts(drained, 'replicas').get(1), 0, 'node 1 still holds replicas');
    const remove = await admin(cluster, 'remove-node', '1');
    assert.equal(remove.code, 0, remove.err + remove.out);
    await cluster.kill(1, 'SIGTERM');

    await cluster.waitUntil('leaders spread over nodes 2-4', 60_000, async () => {
      const leaders = await leaderCounts(cluster);
      return (
        [...leaders.values()].reduce((a, b) => a + b, 0) === GROUPS && spread(leaders.values()) <= 1
      );
    });
    await writer.stop();
    assert.ok((await monitor.stop()) >= 3, 'a group had fewer voters than the replication factor');
    const final = await layoutOf(calls, cluster.nodes.get(2)!.address);
    const finalCounts = counts(final, 'replicas');
    finalCounts.delete(1);
    assert.ok(
      spread(finalCounts.values()) <= 1,
      `replicas per node ${JSON.stringify([...finalCounts])}`,
    );
    assert.deepEqual(writer.errors, [], 'the client surfaced errors');
    assert.ok(writer.acked.length > 100, `only ${writer.acked.length} writes acknowledged`);
    await assertAllReadable(client, writer.acked);
    console.log(
      `elastic: ${writer.acked.length} writes acknowledged, 0 errors; rebalance moved ${moved} ` +
        `replicas (ideal ${ideal}); final replicas ${JSON.stringify([...finalCounts])}, epoch ${final.epoch}`,
    );
  });
});

/** groupHealth checks, from the leaders' status, that every group has a leader whose voters
 * are the layout's target, all caught up: no group below quorum, no voter's data missing. */
async function assertGroupsHealthy(cluster: ProcessCluster, layout: ClusterLayout): Promise<void> {
  const views = new Map<number, { voters: number[]; lag: number }>();
  for (const id of cluster.nodes.keys()) {
    if (!cluster.isRunning(id)) continue;
    const status = await cluster.status(id);
    for (const group of status?.groups ?? []) {
      if (group.role !== 'leader') continue;
      const last = Number(group.lastIndex);
      const lag = Math.max(0, ...(group.progress ?? []).map((p) => last - Number(p.match)));
      views.set(group.groupId ?? 0, { voters: (group.voters ?? []).map(Number), lag });
    }
  }
  for (const entry of [layout.metaGroup, ...layout.placement]) {
    const view = views.get(entry.groupId);
    assert.ok(view, `group ${entry.groupId} has no leader`);
    assert.deepEqual(
      [...view.voters].sort((a, b) => a - b),
      [...entry.target].sort((a, b) => a - b),
      `group ${entry.groupId}: voters are not its target`,
    );
    assert.ok(view.lag <= 64, `group ${entry.groupId}: a voter lags ${view.lag} entries`);
  }
}

describe('elastic cluster: kill -9 in the middle of moves', { timeout: 600_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let client: StrataClient;
  const calls = new AdminCalls();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-elastic-kill-'));
    cluster = await ProcessCluster.start({
      dir,
      nodes: 3,
      groupCount: GROUPS,
      nodeConfig: NODE_CONFIG,
    });
    await cluster.waitForLeaders(GROUPS, 30_000);
    client = await StrataClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 20_000 });
  });

  after(async () => {
    client?.close();
    calls.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** settle waits until no group is mid-move and returns the layout. */
  async function settle(): Promise<ClusterLayout> {
    let layout: ClusterLayout | null = null;
    await cluster.waitUntil('every move done', 120_000, async () => {
      layout = await layoutOf(calls, cluster.nodes.get(2)!.address).catch(() => null);
      return layout !== null && settled(layout);
    });
    return layout!;
  }

  test('kill -9 of the target, then of the source, mid-move: moves complete, nothing lost', async () => {
    const writer = new Writer(client, 'kill', 2);
    const monitor = new VoterMonitor(cluster);
    const address2 = cluster.nodes.get(2)!.address;
    await cluster.addJoiningNode(4, address2);
    await cluster.waitUntil('node 4 up', 30_000, async () => {
      const layout = await layoutOf(calls, address2);
      return layout.nodes.find((n) => n.id === 4)?.state === 'up';
    });

    // Target: node 4 dies while it is receiving replicas.
    const rebalance = await admin(cluster, 'rebalance');
    assert.equal(rebalance.code, 0, rebalance.err);
    await cluster.kill(4, 'SIGKILL');
    const midway = await layoutOf(calls, address2);
    assert.ok(!settled(midway), 'the moves were already done: the kill came too late');
    await cluster.waitForLeaders(GROUPS, 30_000); // no group lost its quorum
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    cluster.launch(4);
    const afterTarget = await settle();
    assert.ok(spread(counts(afterTarget, 'replicas').values()) <= 1);
    await cluster.waitUntil('groups healthy after the target restarted', 30_000, async () =>
      assertGroupsHealthy(cluster, afterTarget).then(
        () => true,
        () => false,
      ),
    );

    // Source: node 1 dies while its replicas are moving away (drain).
    const drain = await admin(cluster, 'drain-node', '1');
    assert.equal(drain.code, 0, drain.err);
    await cluster.kill(1, 'SIGKILL');
    assert.ok(!settled(await layoutOf(calls, address2)), 'the drain was already done');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    cluster.launch(1);
    const afterSource = await settle();
    assert.equal(counts(afterSource, 'replicas').get(1), 0, 'node 1 still holds replicas');
    await cluster.waitUntil('groups healthy after the source restarted', 30_000, async () =>
      assertGroupsHealthy(cluster, afterSource).then(
        () => true,
        () => false,
      ),
    );
    await writer.stop();
    assert.ok((await monitor.stop()) >= 3, 'a group had fewer voters than the replication factor');
    assert.deepEqual(writer.errors, [], 'the client surfaced errors');
    await assertAllReadable(client, writer.acked);
    console.log(
      `elastic kill: ${writer.acked.length} writes acknowledged and readable; epoch ${afterSource.epoch}`,
    );
  });
});

describe('elastic cluster: stale epochs and bad input', { timeout: 300_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  const calls = new AdminCalls();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-elastic-bad-'));
    cluster = await ProcessCluster.start({
      dir,
      nodes: 3,
      groupCount: 16,
      nodeConfig: NODE_CONFIG,
    });
    await cluster.waitForLeaders(16, 30_000);
  });

  after(async () => {
    calls.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** epochNow waits until every running node serves the same epoch for 1 s, and returns it. */
  const epochNow = async (): Promise<number> => {
    let seen = -1;
    let since = 0;
    await cluster.waitUntil('the nodes agree on the epoch', 20_000, async () => {
      const epochs = new Set<number>();
      for (const node of cluster.nodes.values()) {
        if (cluster.isRunning(node.id)) epochs.add((await layoutOf(calls, node.address)).epoch);
      }
      const epoch = epochs.size === 1 ? [...epochs][0]! : -1;
      if (epoch !== seen) [seen, since] = [epoch, Date.now()];
      return epoch !== -1 && Date.now() - since >= 1_000;
    });
    return seen;
  };

  test('a client holding an old epoch is told STALE_EPOCH, refreshes and succeeds', async () => {
    const client = await StrataClient.connect({
      endpoints: cluster.endpoints(),
      deadlineMs: 10_000,
    });
    try {
      const old = client.layout().epoch;
      const free = `127.0.0.1:${await freePort()}`;
      const added = await admin(cluster, 'add-node', '--address', free);
      assert.equal(added.code, 0, added.err);
      await cluster.waitUntil('every node has the new epoch', 10_000, async () => {
        for (const node of cluster.nodes.values()) {
          if ((await layoutOf(calls, node.address)).epoch <= old) return false;
        }
        return true;
      });
      // The raw request with the old epoch is refused, naming the node's epoch.
      const group = client.groupOf('stale/key');
      const leader = client.layout().placement[group - 1]!.replicas[0]!;
      const refused = await rawPut(cluster.nodes.get(leader)!.address, 'stale/key', old);
      assert.match(refused, /STALE_EPOCH/);
      // The client with the old epoch is corrected and its write succeeds.
      await client.put('stale/key', 'v');
      assert.ok(client.layout().epoch > old, 'the client did not refresh its layout');
      const kv = await client.get('stale/key');
      assert.equal(new TextDecoder().decode(kv!.value), 'v');
      // The registered node never started: it holds nothing and may be removed.
      const id = (await layoutOf(calls, cluster.nodes.get(1)!.address)).nodes.find(
        (n) => n.address === free,
      )!.id;
      const removed = await admin(cluster, 'remove-node', String(id));
      assert.equal(removed.code, 0, removed.err);
    } finally {
      client.close();
    }
  });

  test('bad changes are refused with a clear message and change nothing', async () => {
    const address2 = cluster.nodes.get(2)!.address;
    let epoch = await epochNow();
    const refused = async (result: { code: number; out: string; err: string }, pattern: RegExp) => {
      assert.notEqual(result.code, 0, result.out);
      assert.match(result.err, pattern);
      assert.equal(await epochNow(), epoch, 'a refused change changed the layout');
    };
    await refused(
      await admin(cluster, 'add-node', '--address', address2),
      /already used by node 2/,
    );
    await refused(
      await admin(cluster, 'remove-node', '2'),
      /node 2 still holds replicas of 17 groups/,
    );
    await refused(await admin(cluster, 'drain-node', '2'), /only 2 nodes could hold replicas/);
    await refused(
      await admin(cluster, 'move-replica', '--group', '99', '--from', '1', '--to', '2'),
      /group 99 is not in 1..16/,
    );

    // A node of another cluster cannot join.
    const other = await strata([
      'node', '--join', cluster.nodes.get(1)!.address, '--cluster-id', 'other',
      '--listen', `127.0.0.1:${await freePort()}`, '--data-dir', join(dir, 'other'),
    ], 30_000); // prettier-ignore
    assert.equal(other.code, 2, other.err + other.out);
    assert.match(other.err, /refused: this node belongs to cluster 'test', not 'other'/);
    assert.equal(await epochNow(), epoch);

    // A move to a node that is down is refused; once it runs, the same move is made.
    await cluster.addJoiningNode(5, address2);
    await cluster.waitUntil('node 5 up', 30_000, async () => {
      const layout = await layoutOf(calls, address2);
      return layout.nodes.find((n) => n.id === 5)?.state === 'up';
    });
    epoch = await epochNow();
    await cluster.kill(5, 'SIGKILL');
    await refused(
      await admin(cluster, 'move-replica', '--group', '1', '--from', '2', '--to', '5'),
      /node 5 is down/,
    );
    cluster.launch(5);
    await cluster.waitUntil(
      'node 5 answers',
      30_000,
      async () => (await cluster.status(5)) !== null,
    );
    // The metadata leader may take a moment to reach the restarted node again.
    let moved = { code: -1, out: '', err: '' };
    await cluster.waitUntil('move-replica accepted', 20_000, async () => {
      moved = await admin(
        cluster,
        'move-replica',
        '--group',
        '1',
        '--from',
        '2',
        '--to',
        '5',
        '--wait',
      );
      return !/is down/.test(moved.err);
    });
    assert.equal(moved.code, 0, moved.err + moved.out);
    const entry = (await layoutOf(calls, address2)).placement[0]!;
    assert.ok(entry.target.includes(5 as never) && !entry.target.includes(2 as never));
    assert.deepEqual([...entry.replicas].sort(), [...entry.target].sort());

    // transfer-leader hands a group to the named voter.
    const transfer = await admin(cluster, 'transfer-leader', '--group', '1', '--to', '5');
    assert.equal(transfer.code, 0, transfer.err);
    await cluster.waitUntil(
      'node 5 leads group 1',
      20_000,
      async () => (await cluster.leaders(16)).get(1) === 5,
    );
    // The new leader is the preferred one now: the hand-back (every 1 s here) keeps it.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal((await cluster.leaders(16)).get(1), 5, 'the transfer was undone');
    epoch = await epochNow();
    await refused(
      await admin(cluster, 'transfer-leader', '--group', '1', '--to', '2'),
      /node 2 is not a voter of group 1/,
    );
  });
});

describe('elastic cluster: the checks catch the bugs they are for', { timeout: 300_000 }, () => {
  /** withCluster runs `body` on a 3-node, 16-group cluster with `mutation` armed. */
  async function withCluster(mutation: string, body: (cluster: ProcessCluster) => Promise<void>) {
    const dir = await mkdtemp(join(tmpdir(), `strata-elastic-${mutation}-`));
    const cluster = await ProcessCluster.start({
      dir,
      nodes: 3,
      groupCount: 16,
      nodeConfig: NODE_CONFIG,
      env: { STRATA_TEST_MUTATION: mutation },
    });
    try {
      await cluster.waitForLeaders(16, 30_000);
      await body(cluster);
    } finally {
      await cluster.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('remove-before-add: the voter monitor sees a group below the replication factor', async () => {
    await withCluster('remove-before-add', async (cluster) => {
      const calls = new AdminCalls();
      try {
        const address1 = cluster.nodes.get(1)!.address;
        await cluster.addJoiningNode(4, address1);
        await cluster.waitUntil('node 4 up', 30_000, async () => {
          const layout = await layoutOf(calls, address1);
          return layout.nodes.find((n) => n.id === 4)?.state === 'up';
        });
        const monitor = new VoterMonitor(cluster);
        const rebalance = await admin(cluster, 'rebalance', '--wait');
        assert.equal(rebalance.code, 0, rebalance.err);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const fewest = await monitor.stop();
        assert.ok(fewest < 3, `the monitor saw no group below 3 voters (fewest ${fewest})`);
      } finally {
        calls.close();
      }
    });
  });

  test('no-epoch-check: a request with an old epoch is served (the STALE_EPOCH check fails)', async () => {
    await withCluster('no-epoch-check', async (cluster) => {
      const calls = new AdminCalls();
      try {
        const old = (await layoutOf(calls, cluster.nodes.get(1)!.address)).epoch;
        const added = await admin(
          cluster,
          'add-node',
          '--address',
          `127.0.0.1:${await freePort()}`,
        );
        assert.equal(added.code, 0, added.err);
        await cluster.waitUntil(
          'node 1 has the new epoch',
          10_000,
          async () => (await layoutOf(calls, cluster.nodes.get(1)!.address)).epoch > old,
        );
        // Every node serves the old epoch: the leader applies it, the others say NOT_LEADER.
        const answers = await Promise.all(
          [...cluster.nodes.values()].map((node) => rawPut(node.address, 'stale/key', old)),
        );
        assert.ok(!answers.some((answer) => /STALE_EPOCH/.test(answer)), answers.join('; '));
        assert.ok(answers.includes(''), answers.join('; '));
      } finally {
        calls.close();
      }
    });
  });
});

/** rawPut sends one unary Put with the given epoch and returns the error text ('' if none). */
async function rawPut(address: string, key: string, epoch: number): Promise<string> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const bytes = encodePutRequest({
    key: new TextEncoder().encode(key),
    value: new TextEncoder().encode('raw'),
    prevKv: false,
    header: { groupId: 0 as never, epoch, clientId: 0, seq: 0 },
  });
  try {
    return await new Promise<string>((resolve) => {
      client.makeUnaryRequest(
        '/strata.kv.Kv/Put',
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        bytes,
        { deadline: Date.now() + 5_000 },
        (error, response) => {
          if (error) resolve(`${error.details}`);
          else {
            decodePutResponse(response!);
            resolve('');
          }
        },
      );
    });
  } finally {
    client.close();
  }
}
