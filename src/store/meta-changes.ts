/**
 * The layout changes of `strata admin`, as pure functions of the current layout: each returns
 * the next layout (epoch + 1) and one line saying what was done, or throws ChangeRefused with
 * the reason (the layout is then unchanged). The metadata service (meta.ts) runs them on the
 * metadata leader and commits the result as one compare-and-set of the stored layout.
 *
 * Targets are recomputed by rebalanceTargets (src/ring/rebalance.ts): minimal movement,
 * guided by consistent hashing, replica and leader counts within +/-1.
 */
import type { GroupId, NodeId } from '../raft/index.js';
import {
  META_REPLICAS_MAX,
  NODE_ADDRESS_LENGTH_MAX,
  NODE_COUNT_MAX,
  targetsOfLayout,
  type ClusterLayout,
  type GroupReplicas,
  type LayoutNode,
} from '../ring/index.js';
import { countMoves, rebalanceTargets } from '../ring/rebalance.js';

/** AdminOp names a layout change. */
export type AdminOp =
  'add-node' | 'drain-node' | 'remove-node' | 'rebalance' | 'move-replica' | 'transfer-leader';

/** ADMIN_OPS lists every AdminOp. */
export const ADMIN_OPS: readonly AdminOp[] = [
  'add-node',
  'drain-node',
  'remove-node',
  'rebalance',
  'move-replica',
  'transfer-leader',
];

/** ChangeInput is one requested change (fields unused by its op are 0 or ''). */
export interface ChangeInput {
  op: AdminOp;
  nodeId: number;
  groupId: number;
  fromNode: number;
  toNode: number;
  address: string;
}

/** ChangeFacts are what the planner needs beyond the layout: which nodes answer now. */
export interface ChangeFacts {
  alive: ReadonlySet<number>;
}

/** ChangePlan is a planned change: the next layout (null: nothing to change) and a message. */
export interface ChangePlan {
  layout: ClusterLayout | null;
  message: string;
  nodeId: number;
}

/**
 * ChangeRefused says a change cannot be made (the cluster state forbids it, or the input is
 * wrong); its message says why. `invalid` marks bad input (INVALID_ARGUMENT on the wire).
 */
export class ChangeRefused extends Error {
  constructor(
    message: string,
    readonly invalid = false,
  ) {
    super(message);
    this.name = 'ChangeRefused';
  }
}

/** planChange plans `input` against `layout`. Throws ChangeRefused. */
export function planChange(
  layout: ClusterLayout,
  input: ChangeInput,
  facts: ChangeFacts,
): ChangePlan {
  switch (input.op) {
    case 'add-node':
      return addNode(layout, input);
    case 'drain-node':
      return drainNode(layout, input.nodeId, facts);
    case 'remove-node':
      return removeNode(layout, input.nodeId);
    case 'rebalance':
      return rebalance(layout, facts);
    case 'move-replica':
      return moveReplica(layout, input, facts);
    case 'transfer-leader':
      throw new ChangeRefused('transfer-leader is not a layout change', true);
    default:
      throw new ChangeRefused(`unknown change '${String(input.op)}'`, true);
  }
}

function addNode(layout: ClusterLayout, input: ChangeInput): ChangePlan {
  const address = input.address;
  if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(address) || address.length > NODE_ADDRESS_LENGTH_MAX) {
    throw new ChangeRefused(
      `add-node: address must be host:port, got ${JSON.stringify(address)}`,
      true,
    );
  }
  const holder = layout.nodes.find((node) => node.address === address && node.state !== 'removed');
  if (holder) {
    if (holder.state === 'joining' && (input.nodeId === 0 || input.nodeId === holder.id)) {
      return {
        layout: null,
        message: `node ${holder.id} at ${address} is registered (joining)`,
        nodeId: holder.id,
      };
    }
    throw new ChangeRefused(
      `add-node: address ${address} is already used by node ${holder.id} (${holder.state})`,
    );
  }
  if (input.nodeId !== 0 && layout.nodes.some((node) => node.id === input.nodeId)) {
    throw new ChangeRefused(`add-node: node id ${input.nodeId} is already taken`);
  }
  if (layout.nodes.length >= NODE_COUNT_MAX) {
    throw new ChangeRefused(
      `add-node: the cluster has ${layout.nodes.length} nodes, the limit NODE_COUNT_MAX`,
    );
  }
  const id = (input.nodeId || Math.max(...layout.nodes.map((node) => node.id)) + 1) as NodeId;
  const nodes: LayoutNode[] = [...layout.nodes, { id, address, state: 'joining' }];
  nodes.sort((a, b) => a.id - b.id);
  return {
    layout: { ...layout, epoch: layout.epoch + 1, nodes },
    message: `node ${id} at ${address} added (joining); run rebalance to give it replicas`,
    nodeId: id,
  };
}

function requireNode(layout: ClusterLayout, nodeId: number, op: string): LayoutNode {
  const node = layout.nodes.find((n) => n.id === nodeId);
  if (!node || node.state === 'removed') {
    throw new ChangeRefused(`${op}: node ${nodeId} is not a member of the cluster`, true);
  }
  return node;
}

function drainNode(layout: ClusterLayout, nodeId: number, facts: ChangeFacts): ChangePlan {
  const node = requireNode(layout, nodeId, 'drain-node');
  if (node.state === 'draining') {
    return { layout: null, message: `node ${nodeId} is already draining`, nodeId };
  }
  const nodes = layout.nodes.map((n) =>
    n.id === nodeId ? { ...n, state: 'draining' as const } : n,
  );
  const next = retarget({ ...layout, nodes }, facts, 'drain-node');
  const moves = countMoves(targetsOfLayout(layout), targetsOfLayout(next));
  return {
    layout: next,
    message: `node ${nodeId} is draining: its leaders go first, then ${moves} replicas move`,
    nodeId,
  };
}

function removeNode(layout: ClusterLayout, nodeId: number): ChangePlan {
  requireNode(layout, nodeId, 'remove-node');
  const held = [layout.metaGroup, ...layout.placement].filter(
    (entry) => entry.replicas.includes(nodeId as NodeId) || entry.target.includes(nodeId as NodeId),
  );
  if (held.length > 0) {
    const list = held
      .slice(0, 10)
      .map((entry) => entry.groupId)
      .join(', ');
    const more = held.length > 10 ? ', ...' : '';
    throw new ChangeRefused(
      `remove-node: node ${nodeId} still holds replicas of ${held.length} groups (${list}${more}); ` +
        `removing it would take a voter from each and could lose a quorum: ` +
        `drain it first (strata admin drain-node ${nodeId}) and wait for the moves to finish`,
    );
  }
  const remaining = layout.nodes.filter((n) => n.state !== 'removed' && n.id !== nodeId).length;
  if (remaining < layout.replicationFactor) {
    throw new ChangeRefused(
      `remove-node: ${remaining} nodes would remain, fewer than the replication factor ${layout.replicationFactor}`,
    );
  }
  const nodes = layout.nodes.map((n) =>
    n.id === nodeId ? { ...n, state: 'removed' as const } : n,
  );
  return {
    layout: { ...layout, epoch: layout.epoch + 1, nodes },
    message: `node ${nodeId} removed; stop its process`,
    nodeId,
  };
}

function rebalance(layout: ClusterLayout, facts: ChangeFacts): ChangePlan {
  const next = retarget(layout, facts, 'rebalance');
  const moves = countMoves(targetsOfLayout(layout), targetsOfLayout(next));
  const leaders = countLeaderChanges(layout.placement, next.placement);
  if (moves === 0 && leaders === 0 && sameNodes(layout.nodes, next.nodes)) {
    return { layout: null, message: 'rebalance: the placement is already balanced', nodeId: 0 };
  }
  return {
    layout: next,
    message: `rebalance: ${moves} replica moves, ${leaders} preferred leaders changed`,
    nodeId: 0,
  };
}

function moveReplica(layout: ClusterLayout, input: ChangeInput, facts: ChangeFacts): ChangePlan {
  const { groupId, fromNode, toNode } = input;
  if (!Number.isInteger(groupId) || groupId < 1 || groupId > layout.groupCount) {
    throw new ChangeRefused(
      `move-replica: group ${groupId} is not in 1..${layout.groupCount}`,
      true,
    );
  }
  const entry = layout.placement[groupId - 1]!;
  if (!entry.target.includes(fromNode as NodeId)) {
    throw new ChangeRefused(
      `move-replica: node ${fromNode} holds no replica of group ${groupId} (replicas ${entry.target.join(', ')})`,
      true,
    );
  }
  const to = requireNode(layout, toNode, 'move-replica');
  if (to.state !== 'up' && !(to.state === 'joining' && facts.alive.has(to.id))) {
    throw new ChangeRefused(`move-replica: node ${toNode} is ${to.state}, it cannot take replicas`);
  }
  if (entry.target.includes(toNode as NodeId)) {
    throw new ChangeRefused(
      `move-replica: node ${toNode} already holds a replica of group ${groupId}`,
    );
  }
  if (!facts.alive.has(toNode)) {
    throw new ChangeRefused(
      `move-replica: node ${toNode} is down (it does not answer); start it first`,
    );
  }
  const target = entry.target.map((node) => (node === fromNode ? (toNode as NodeId) : node));
  const placement = layout.placement.map((g) => (g.groupId === groupId ? { ...g, target } : g));
  const nodes = markUp(layout.nodes, [toNode], facts);
  return {
    layout: { ...layout, epoch: layout.epoch + 1, nodes, placement },
    message: `move-replica: group ${groupId} moves its replica from node ${fromNode} to node ${toNode}`,
    nodeId: toNode,
  };
}

/**
 * retarget recomputes every group's target over the eligible nodes: up nodes, and joining
 * nodes that answer (they become up). Throws when fewer than the replication factor remain.
 */
function retarget(layout: ClusterLayout, facts: ChangeFacts, op: string): ClusterLayout {
  const joiningAlive = layout.nodes
    .filter((n) => n.state === 'joining' && facts.alive.has(n.id))
    .map((n) => n.id);
  const nodes = markUp(layout.nodes, joiningAlive, facts);
  const eligible = nodes.filter((n) => n.state === 'up').map((n) => n.id);
  if (eligible.length < layout.replicationFactor) {
    throw new ChangeRefused(
      `${op}: only ${eligible.length} nodes could hold replicas (up), fewer than the ` +
        `replication factor ${layout.replicationFactor}`,
    );
  }
  const targets = rebalanceTargets(targetsOfLayout(layout), eligible, layout.replicationFactor);
  const placement: GroupReplicas[] = layout.placement.map((entry) => ({
    ...entry,
    target: targets.get(entry.groupId as GroupId)!,
  }));
  const metaGroup = { ...layout.metaGroup, target: metaTarget(layout.metaGroup.target, eligible) };
  return { ...layout, epoch: layout.epoch + 1, nodes, placement, metaGroup };
}

/**
 * metaTarget keeps the metadata group's current voters that stay eligible and fills up to
 * META_REPLICAS_MAX with the lowest other eligible ids (few moves, deterministic).
 */
export function metaTarget(current: readonly NodeId[], eligible: readonly NodeId[]): NodeId[] {
  const kept = current.filter((id) => eligible.includes(id));
  const others = [...eligible].sort((a, b) => a - b).filter((id) => !kept.includes(id));
  return [...kept, ...others].slice(0, META_REPLICAS_MAX);
}

function markUp(
  nodes: readonly LayoutNode[],
  ids: readonly number[],
  facts: ChangeFacts,
): LayoutNode[] {
  return nodes.map((n) =>
    ids.includes(n.id) && n.state === 'joining' && facts.alive.has(n.id)
      ? { ...n, state: 'up' as const }
      : n,
  );
}

function countLeaderChanges(
  before: readonly GroupReplicas[],
  after: readonly GroupReplicas[],
): number {
  let changed = 0;
  before.forEach((entry, index) => {
    if (entry.target[0] !== after[index]!.target[0]) changed++;
  });
  return changed;
}

function sameNodes(a: readonly LayoutNode[], b: readonly LayoutNode[]): boolean {
  return a.length === b.length && a.every((n, i) => n.id === b[i]!.id && n.state === b[i]!.state);
}
