/**
 * Proves what the consistent-hashing placement promises and states what it does not:
 * rf distinct member nodes per group for any input (property test); independence from the
 * order of node ids; adding a node moves about 1/(N + 1) of replicas, all to the new node;
 * removing one moves only its replicas; leader preferences are as even as a brute-force
 * search over tiny inputs finds. Replica counts per node are not even (a sample, not a
 * quota): they are asserted exactly where there are as many nodes as replicas, and within
 * the measured consistent-hashing spread elsewhere.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { NodeId } from '../raft/index.js';
import { RingConfigError } from './errors.js';
import {
  diffPlacement,
  placement,
  preferredLeaderCounts,
  replicaCounts,
  type Placement,
} from './placement.js';

const ids = (count: number, first = 1): NodeId[] =>
  Array.from({ length: count }, (_, i) => (first + i) as NodeId);

function movedFraction(before: Placement, after: Placement): number {
  const moved = diffPlacement(before, after).reduce((sum, move) => sum + move.added.length, 0);
  const total = [...after.values()].reduce((sum, replicas) => sum + replicas.length, 0);
  return moved / total;
}

const layoutInput = fc
  .record({
    groupCount: fc.integer({ min: 1, max: 40 }),
    nodes: fc.uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 9 }),
    replicationFactor: fc.integer({ min: 1, max: 7 }),
  })
  .filter((input) => input.replicationFactor <= input.nodes.length);

describe('placement', () => {
  test('gives every group rf distinct member nodes, whatever the node order', () => {
    fc.assert(
      fc.property(layoutInput, ({ groupCount, nodes, replicationFactor }) => {
        const placed = placement(groupCount, nodes, replicationFactor);
        assert.deepEqual([...placed.keys()], ids(groupCount));
        for (const replicas of placed.values()) {
          assert.equal(replicas.length, replicationFactor);
          assert.equal(new Set(replicas).size, replicationFactor);
          for (const node of replicas) assert.ok(nodes.includes(node));
        }
        const reversed = placement(groupCount, [...nodes].reverse(), replicationFactor);
        assert.deepEqual(reversed, placed);
      }),
      { numRuns: 60 },
    );
  });

  test('3 nodes x 64 groups x rf 3: every node holds every group', () => {
    const placed = placement(64, ids(3), 3);
    assert.deepEqual([...replicaCounts(placed).values()], [64, 64, 64]);
    const leaders = [...preferredLeaderCounts(placed, ids(3)).values()].sort();
    assert.deepEqual(leaders, [21, 21, 22]);
  });

  test('replica counts per node: the spread consistent hashing gives (not +/-1)', (t) => {
    // Measured: 4 nodes 47..50 of 48, 5 nodes 37..42 of 38.4, 8 nodes 20..27 of 24.
    for (const nodeCount of [4, 5, 8]) {
      const counts = [...replicaCounts(placement(64, ids(nodeCount), 3), ids(nodeCount)).values()];
      const even = (64 * 3) / nodeCount;
      t.diagnostic(`${nodeCount} nodes: ${Math.min(...counts)}..${Math.max(...counts)} of ${even}`);
      assert.equal(
        counts.reduce((a, b) => a + b),
        64 * 3,
      );
      for (const count of counts) assert.ok(Math.abs(count - even) <= 0.2 * even, `${count}`);
    }
  });

  test('preferred leaders differ by at most one when replica sets allow it', () => {
    for (const [nodeCount, groupCount] of [
      [4, 64],
      [5, 64],
      [7, 16],
      [20, 64],
      [16, 1024],
    ] as const) {
      const counts = [...preferredLeaderCounts(placement(groupCount, ids(nodeCount), 3)).values()];
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${nodeCount}: ${counts}`);
    }
  });

  test('leader balance equals a brute-force optimum on tiny inputs', () => {
    const tiny = fc.record({
      groupCount: fc.integer({ min: 1, max: 6 }),
      nodeCount: fc.integer({ min: 2, max: 5 }),
      replicationFactor: fc.integer({ min: 1, max: 3 }),
      firstId: fc.integer({ min: 1, max: 1000 }),
    });
    fc.assert(
      fc.property(tiny, ({ groupCount, nodeCount, replicationFactor, firstId }) => {
        fc.pre(replicationFactor <= nodeCount);
        const placed = placement(groupCount, ids(nodeCount, firstId), replicationFactor);
        const counts = preferredLeaderCounts(placed, ids(nodeCount, firstId));
        assert.equal(squares([...counts.values()]), bestSquares([...placed.values()]));
      }),
      { numRuns: 80 },
    );
  });

  test('adding a fifth node moves about 1/5 of the replicas, all to the new node', (t) => {
    const before = placement(64, ids(4), 3);
    const after = placement(64, ids(5), 3);
    const fraction = movedFraction(before, after);
    t.diagnostic(`4 -> 5 nodes: ${fraction.toFixed(3)} of replicas moved (1/(N+1) = 0.200)`);
    assert.ok(fraction <= 1.5 * (1 / 5), `moved ${fraction}`);
    assert.ok(fraction > 0);
    for (const move of diffPlacement(before, after)) {
      assert.deepEqual(move.added, [5]);
      assert.equal(move.removed.length, 1);
    }
  });

  test('removing a node moves only the replicas it held', () => {
    const before = placement(64, ids(6), 3);
    const after = placement(64, [1, 2, 3, 5, 6], 3);
    for (const move of diffPlacement(before, after)) {
      assert.deepEqual(move.removed, [4]);
      assert.equal(move.added.length, 1);
    }
  });

  test('rejects bad inputs with the value and the allowed range', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => placement(64, [1, 2], 3), /replication factor 3 exceeds the node count 2/],
      [() => placement(64, [1, 2, 2], 2), /duplicate node id 2/],
      [() => placement(0, [1, 2, 3], 3), /group count must be an integer in \[1, 65535\], got 0/],
      [() => placement(65536, [1, 2, 3], 3), /\[1, 65535\], got 65536/],
      [() => placement(2.5, [1, 2, 3], 3), /got 2.5/],
      [() => placement(64, [1, 2, 3], 0), /replication factor must be .* \[1, 7\], got 0/],
      [() => placement(64, ids(9), 8), /\[1, 7\], got 8/],
      [() => placement(64, [0, 1, 2], 3), /node id must be a positive safe integer, got 0/],
      [() => placement(64, [1.5, 2, 3], 3), /got 1.5/],
      [() => placement(64, [], 1), /node count must be in \[1, 1024\], got 0/],
      [() => placement(64, ids(1025), 3), /got 1025/],
    ];
    for (const [call, message] of cases) {
      assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof RingConfigError);
        assert.equal(error.code, 'RING_CONFIG_INVALID');
        assert.match(error.message, message);
        return true;
      });
    }
  });
});

function squares(counts: readonly number[]): number {
  return counts.reduce((sum, count) => sum + count * count, 0);
}

/** bestSquares tries every leader choice and returns the least sum of squared leader counts. */
function bestSquares(replicaSets: readonly NodeId[][]): number {
  let best = Infinity;
  const counts = new Map<NodeId, number>();
  const visit = (group: number): void => {
    if (group === replicaSets.length) {
      best = Math.min(best, squares([...counts.values()]));
      return;
    }
    for (const node of replicaSets[group]!) {
      counts.set(node, (counts.get(node) ?? 0) + 1);
      visit(group + 1);
      counts.set(node, counts.get(node)! - 1);
    }
  };
  visit(0);
  return best;
}
