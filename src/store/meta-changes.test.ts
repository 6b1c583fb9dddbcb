/**
 * The layout changes of `strata admin` as pure functions: each change bumps the epoch once and
 * keeps the layout valid; each refusal names its reason and changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeId } from '../raft/index.js';
import { createClusterLayout, parseClusterLayout, type ClusterLayout } from '../ring/index.js';
import { ChangeRefused, metaTarget, planChange, type ChangeInput } from './meta-changes.js';

const nodes = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: i + 1, address: `127.0.0.1:${7001 + i}` }));
const base = (): ClusterLayout => createClusterLayout({ nodes: nodes(3), groupCount: 16 });
const input = (fields: Partial<ChangeInput>): ChangeInput => ({
  op: 'rebalance',
  nodeId: 0,
  groupId: 0,
  fromNode: 0,
  toNode: 0,
  address: '',
  ...fields,
});
const all = new Set([1, 2, 3, 4, 5]);

function refused(layout: ClusterLayout, change: Partial<ChangeInput>, pattern: RegExp): void {
  const before = JSON.stringify(layout);
  assert.throws(
    () => planChange(layout, input(change), { alive: all }),
    (error: unknown) => error instanceof ChangeRefused && pattern.test(error.message),
  );
  assert.equal(JSON.stringify(layout), before, 'a refusal changed the layout');
}

/** added returns `layout` with node 4 registered and then seen (up). */
function withFourthNode(): ClusterLayout {
  const plan = planChange(base(), input({ op: 'add-node', address: '127.0.0.1:7004' }), {
    alive: all,
  });
  return plan.layout!;
}

describe('layout changes', () => {
  test('add-node registers a joining node with the next id, one epoch later', () => {
    const layout = withFourthNode();
    assert.equal(layout.epoch, 2);
    assert.deepEqual(layout.nodes[3], { id: 4, address: '127.0.0.1:7004', state: 'joining' });
    parseClusterLayout(JSON.parse(JSON.stringify(layout)));
    // Asking again for the same address is answered with the same id, without a change.
    const again = planChange(layout, input({ op: 'add-node', address: '127.0.0.1:7004' }), {
      alive: all,
    });
    assert.equal(again.layout, null);
    assert.equal(again.nodeId, 4);
  });

  test('add-node refuses a used address, a taken id and a malformed address', () => {
    refused(base(), { op: 'add-node', address: '127.0.0.1:7002' }, /already used by node 2/);
    refused(
      base(),
      { op: 'add-node', address: '127.0.0.1:7009', nodeId: 3 },
      /id 3 is already taken/,
    );
    refused(base(), { op: 'add-node', address: 'not an address' }, /must be host:port/);
  });

  test('rebalance onto a new node moves a quarter of the replicas and evens the counts', () => {
    const plan = planChange(withFourthNode(), input({ op: 'rebalance' }), { alive: all });
    const layout = plan.layout!;
    assert.equal(layout.nodes[3]!.state, 'up', 'a joining node that answers becomes up');
    const counts = new Map<number, number>();
    for (const entry of layout.placement) {
      for (const node of entry.target) counts.set(node, (counts.get(node) ?? 0) + 1);
    }
    assert.deepEqual([...counts.values()].sort(), [12, 12, 12, 12]);
    assert.match(plan.message, /12 replica moves/);
    assert.deepEqual(layout.metaGroup.target, [1, 2, 3, 4]);
    // Replicas are untouched: the mover makes them follow the targets.
    assert.deepEqual(
      layout.placement.map((entry) => entry.replicas),
      withFourthNode().placement.map((entry) => entry.replicas),
    );
    parseClusterLayout(JSON.parse(JSON.stringify(layout)));
    const again = planChange(layout, input({ op: 'rebalance' }), { alive: all });
    assert.equal(again.layout, null, 'a balanced layout is left alone');
  });

  test('a joining node that does not answer gets no replicas', () => {
    const plan = planChange(withFourthNode(), input({ op: 'rebalance' }), {
      alive: new Set([1, 2, 3]),
    });
    assert.equal(plan.layout, null);
  });

  test('drain-node retargets away from the node; refused when too few nodes would remain', () => {
    refused(base(), { op: 'drain-node', nodeId: 2 }, /only 2 nodes could hold replicas/);
    refused(base(), { op: 'drain-node', nodeId: 9 }, /node 9 is not a member/);
    const four = planChange(withFourthNode(), input({ op: 'rebalance' }), { alive: all }).layout!;
    const drained = planChange(four, input({ op: 'drain-node', nodeId: 1 }), {
      alive: all,
    }).layout!;
    assert.equal(drained.nodes[0]!.state, 'draining');
    assert.ok(drained.placement.every((entry) => !entry.target.includes(1 as NodeId)));
    assert.ok(!drained.metaGroup.target.includes(1 as NodeId));
  });

  test('remove-node refuses a node holding replicas and removes a drained one', () => {
    refused(base(), { op: 'remove-node', nodeId: 2 }, /still holds replicas of 17 groups/);
    const layout = withFourthNode();
    refused(layout, { op: 'remove-node', nodeId: 9 }, /not a member/);
    const removed = planChange(layout, input({ op: 'remove-node', nodeId: 4 }), { alive: all });
    assert.equal(removed.layout!.nodes[3]!.state, 'removed');
    // The address of a removed node may be used again, under a new id.
    const readded = planChange(
      removed.layout!,
      input({ op: 'add-node', address: '127.0.0.1:7004' }),
      {
        alive: all,
      },
    );
    assert.equal(readded.nodeId, 5);
  });

  test('move-replica checks the group, the nodes and that the target answers', () => {
    const layout = withFourthNode();
    refused(layout, { op: 'move-replica', groupId: 17, fromNode: 1, toNode: 4 }, /not in 1..16/);
    refused(layout, { op: 'move-replica', groupId: 1, fromNode: 9, toNode: 4 }, /holds no replica/);
    refused(layout, { op: 'move-replica', groupId: 1, fromNode: 1, toNode: 2 }, /already holds/);
    const down = { alive: new Set([1, 2, 3]) };
    assert.throws(
      () =>
        planChange(layout, input({ op: 'move-replica', groupId: 1, fromNode: 1, toNode: 4 }), down),
      /node 4 is joining, it cannot take replicas/,
    );
    const moved = planChange(
      layout,
      input({ op: 'move-replica', groupId: 1, fromNode: 1, toNode: 4 }),
      {
        alive: all,
      },
    ).layout!;
    assert.ok(moved.placement[0]!.target.includes(4 as NodeId));
    assert.ok(!moved.placement[0]!.target.includes(1 as NodeId));
    assert.equal(moved.nodes[3]!.state, 'up');
  });

  test('metaTarget keeps current voters and fills up to five with the lowest ids', () => {
    const ids = (list: number[]) => list as NodeId[];
    assert.deepEqual(metaTarget(ids([1, 2, 3]), ids([2, 3, 4, 5, 6, 7])), [2, 3, 4, 5, 6]);
    assert.deepEqual(metaTarget(ids([7, 3]), ids([1, 3, 7])), [7, 3, 1]);
  });
});
