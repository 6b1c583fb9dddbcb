/**
 * Partition shapes as sets of cut directed links (pure functions, tested on their own). A
 * directed link [a, b] cut means a's messages to b are lost. Shapes follow Jepsen's:
 * - isolate: one node cut from every other, both ways;
 * - halves: a random minority and majority, cut from each other both ways;
 * - ring (majorities ring): nodes on a random ring each see only their nearest neighbours, so
 *   every node sees a majority (itself and its neighbours, for 5 nodes) but no two nodes see
 *   the same majority; with fewer than 5 nodes a ring cannot be cut, so it isolates a node;
 * - bridge: two halves cut from each other except one bridge node that sees both;
 * - one-way: one node's messages to every other are lost (it still hears them), or the
 *   reverse: it can talk but hears nothing.
 */
import type { Link } from '../net/firewall.js';
import { mulberry32 } from '../runner/time.js';

/** PartitionShape names a partition shape. */
export type PartitionShape =
  'isolate' | 'halves' | 'ring' | 'bridge' | 'one-way-out' | 'one-way-in';

/** shuffled returns a copy of `ids` in a random order drawn from `seed`. */
export function shuffled<T>(ids: readonly T[], seed: number): T[] {
  const random = mulberry32(seed);
  const out = [...ids];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** cutBetween cuts every link between two sets of nodes, both ways. */
export function cutBetween(a: readonly number[], b: readonly number[]): Link[] {
  const links: Link[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x === y) continue;
      links.push([x, y], [y, x]);
    }
  }
  return links;
}

/** isolate cuts `node` from every other node, both ways. */
export function isolate(node: number, ids: readonly number[]): Link[] {
  return cutBetween(
    [node],
    ids.filter((id) => id !== node),
  );
}

/** halves cuts a random minority from the majority. */
export function halves(ids: readonly number[], seed: number): Link[] {
  const order = shuffled(ids, seed);
  const minority = order.slice(0, Math.floor(ids.length / 2));
  return cutBetween(minority, order.slice(minority.length));
}

/** ring cuts every link between nodes further apart than the nearest neighbours on a ring. */
export function ring(ids: readonly number[], seed: number): Link[] {
  const order = shuffled(ids, seed);
  const n = order.length;
  if (n < 5) return isolate(order[0]!, ids);
  const reach = Math.ceil(Math.floor(n / 2) / 2); // each side: itself + 2 * reach >= majority
  const links: Link[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const distance = Math.min(Math.abs(i - j), n - Math.abs(i - j));
      if (i !== j && distance > reach) links.push([order[i]!, order[j]!]);
    }
  }
  return links;
}

/** bridge cuts two halves from each other except for one node that sees both. */
export function bridge(ids: readonly number[], seed: number): Link[] {
  const order = shuffled(ids, seed);
  const half = Math.floor(order.length / 2);
  const left = order.slice(0, half);
  const right = order.slice(half + 1); // order[half] is the bridge
  return cutBetween(left, right);
}

/** oneWay cuts `node`'s messages to every other node ('out') or theirs to it ('in'). */
export function oneWay(node: number, ids: readonly number[], direction: 'out' | 'in'): Link[] {
  return ids
    .filter((id) => id !== node)
    .map((id): Link => (direction === 'out' ? [node, id] : [id, node]));
}

/** partitionLinks computes a shape's cut links; `node` is the target of isolate / one-way. */
export function partitionLinks(
  shape: PartitionShape,
  ids: readonly number[],
  seed: number,
  node: number,
): Link[] {
  switch (shape) {
    case 'isolate':
      return isolate(node, ids);
    case 'halves':
      return halves(ids, seed);
    case 'ring':
      return ring(ids, seed);
    case 'bridge':
      return bridge(ids, seed);
    case 'one-way-out':
      return oneWay(node, ids, 'out');
    case 'one-way-in':
      return oneWay(node, ids, 'in');
    default:
      return shape satisfies never;
  }
}

/** describeLinks renders cut links compactly: "1->2 1->3 ...". */
export function describeLinks(links: readonly Link[]): string {
  return links.map(([a, b]) => `${a}->${b}`).join(' ');
}
