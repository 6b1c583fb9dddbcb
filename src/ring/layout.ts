/**
 * ClusterLayout: the plain-data description of a cluster's routing and membership, kept in the
 * metadata group (group 0) with its epoch, persisted by every node and served to clients.
 * It is JSON as is (`JSON.stringify(layout)`); `parseClusterLayout` is the one way back in and
 * checks everything, because a layout read from disk or the network is untrusted input.
 */
import type { GroupId, NodeId } from '../raft/index.js';
import { ClusterLayoutError, RingConfigError } from './errors.js';
import { ROUTING_VERSION } from './group-ring.js';
import {
  GROUP_COUNT_DEFAULT,
  NODE_ADDRESS_LENGTH_MAX,
  REPLICATION_FACTOR_DEFAULT,
  checkGroupCount,
  checkNodeIds,
  checkReplicationFactor,
} from './limits.js';
import { placement, type Placement } from './placement.js';

/** LAYOUT_JSON_LENGTH_MAX bounds the JSON text parsed (65,535 groups need about 3 MB). */
export const LAYOUT_JSON_LENGTH_MAX = 16 * 1024 * 1024;

/**
 * NodeState is where a node is in its life: `joining` (registered, not yet seen serving),
 * `up` (may hold replicas), `draining` (giving its leaders and replicas away), `removed` (gone
 * for good; its id is never reused, its address may be).
 */
export type NodeState = 'joining' | 'up' | 'draining' | 'removed';

/** NODE_STATES lists every NodeState. */
export const NODE_STATES: readonly NodeState[] = ['joining', 'up', 'draining', 'removed'];

/** META_GROUP_ID is the metadata group's id; data groups are 1..groupCount. */
export const META_GROUP_ID = 0 as GroupId;

/** META_REPLICAS_MAX is the most voters the metadata group gets (as etcd: 5 is enough). */
export const META_REPLICAS_MAX = 5;

/** LayoutNode is one member of the cluster. */
export interface LayoutNode {
  id: NodeId;
  /** address is where peers and clients reach the node, as `host:port`. */
  address: string;
  state: NodeState;
}

/**
 * GroupReplicas is one group's replicas. `replicas` are its current Raft members (voters and
 * learners, as last observed by the mover; clients route among them), `learners` the subset
 * that does not vote yet, and `target` the `replicationFactor` nodes it should end on, its
 * preferred leader first. Outside a move, `replicas` equals `target` and `learners` is empty.
 */
export interface GroupReplicas {
  groupId: GroupId;
  replicas: NodeId[];
  learners: NodeId[];
  target: NodeId[];
}

/**
 * ClusterLayout is a cluster's routing at one epoch. Invariants (checked by the parser):
 * nodes are sorted by id with distinct ids and addresses; placement has one entry per group
 * 1..groupCount in order, each with `replicationFactor` distinct member nodes.
 */
export interface ClusterLayout {
  /** epoch grows by one with every change; clients with an older epoch are told to refresh. */
  epoch: number;
  /** routingVersion names the key -> group function (ROUTING_VERSION) the layout assumes. */
  routingVersion: number;
  groupCount: number;
  replicationFactor: number;
  nodes: LayoutNode[];
  placement: GroupReplicas[];
  /** metaGroup is group 0, the metadata group (up to META_REPLICAS_MAX voters). */
  metaGroup: GroupReplicas;
}

/** ClusterLayoutOptions are the inputs of a new layout; counts default to 64 groups and rf 3. */
export interface ClusterLayoutOptions {
  nodes: readonly { id: number; address: string }[];
  groupCount?: number;
  replicationFactor?: number;
  /** epoch defaults to 1, the first epoch of a new cluster. */
  epoch?: number;
}

/**
 * createClusterLayout validates the options and computes the placement. Throws
 * RingConfigError with the bad value and its allowed range.
 */
export function createClusterLayout(options: ClusterLayoutOptions): ClusterLayout {
  const groupCount = options.groupCount ?? GROUP_COUNT_DEFAULT;
  const replicationFactor = options.replicationFactor ?? REPLICATION_FACTOR_DEFAULT;
  const epoch = options.epoch ?? 1;
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new RingConfigError(`epoch must be a non-negative safe integer, got ${epoch}`);
  }
  const nodes: LayoutNode[] = options.nodes.map((node) => ({
    id: node.id as NodeId,
    address: node.address,
    state: 'up',
  }));
  nodes.sort((a, b) => a.id - b.id);
  checkNodeIds(nodes.map((node) => node.id));
  checkAddresses(nodes.map((node) => node.address));
  checkReplicationFactor(replicationFactor, nodes.length);
  const placed = placement(
    groupCount,
    nodes.map((node) => node.id),
    replicationFactor,
  );
  return {
    epoch,
    routingVersion: ROUTING_VERSION,
    groupCount,
    replicationFactor,
    nodes,
    placement: [...placed].map(([groupId, replicas]) => ({
      groupId,
      replicas,
      learners: [],
      target: [...replicas],
    })),
    metaGroup: initialMetaGroup(nodes.map((node) => node.id)),
  };
}

/** initialMetaGroup puts the metadata group on the lowest META_REPLICAS_MAX node ids. */
function initialMetaGroup(nodeIds: readonly NodeId[]): GroupReplicas {
  const replicas = [...nodeIds].sort((a, b) => a - b).slice(0, META_REPLICAS_MAX);
  return { groupId: META_GROUP_ID, replicas, learners: [], target: [...replicas] };
}

/** groupSettled says a group's members are exactly its target, none of them a learner. */
export function groupSettled(entry: GroupReplicas): boolean {
  return (
    entry.learners.length === 0 &&
    entry.replicas.length === entry.target.length &&
    entry.target.every((node) => entry.replicas.includes(node))
  );
}

/** liveNodes returns the nodes not removed. */
export function liveNodes(layout: ClusterLayout): LayoutNode[] {
  return layout.nodes.filter((node) => node.state !== 'removed');
}

/** groupsOf returns the metadata group then every data group, in id order. */
export function groupsOf(layout: ClusterLayout): GroupReplicas[] {
  return [layout.metaGroup, ...layout.placement];
}

/** groupEntry returns a group's entry (0 is the metadata group); undefined if out of range. */
export function groupEntry(layout: ClusterLayout, groupId: number): GroupReplicas | undefined {
  return groupId === 0 ? layout.metaGroup : layout.placement[groupId - 1];
}

/** placementOfLayout returns a layout's current replicas as a Map, as `placement()` does. */
export function placementOfLayout(layout: ClusterLayout): Placement {
  return new Map(layout.placement.map((entry) => [entry.groupId, [...entry.replicas]]));
}

/** targetsOfLayout returns a layout's target replicas as a Map. */
export function targetsOfLayout(layout: ClusterLayout): Placement {
  return new Map(layout.placement.map((entry) => [entry.groupId, [...entry.target]]));
}

/** checkAddresses throws unless every address is a distinct, non-blank `host:port`. */
function checkAddresses(addresses: readonly string[]): void {
  const seen = new Set<string>();
  for (const address of addresses) {
    if (!/^\S+:\d{1,5}$/.test(address) || address.length > NODE_ADDRESS_LENGTH_MAX) {
      throw new RingConfigError(
        `node address must be host:port without spaces, at most ${NODE_ADDRESS_LENGTH_MAX} ` +
          `characters, got ${JSON.stringify(address.slice(0, 300))}`,
      );
    }
    if (seen.has(address)) throw new RingConfigError(`duplicate node address ${address}`);
    seen.add(address);
  }
}

/**
 * parseClusterLayout validates a layout given as JSON text or as an already parsed value and
 * returns a fresh copy (nodes sorted by id, placement by group id). It checks the structure,
 * not that the placement equals the computed one: while nodes are added or removed, the
 * stored placement is the truth and differs from the target. Throws ClusterLayoutError.
 */
export function parseClusterLayout(json: unknown): ClusterLayout {
  const value = typeof json === 'string' ? parseJsonText(json) : json;
  const root = expectObject(value, '$', [
    'epoch',
    'routingVersion',
    'groupCount',
    'replicationFactor',
    'nodes',
    'placement',
    'metaGroup',
  ]);
  const epoch = expectInteger(root.epoch, '$.epoch', 0, Number.MAX_SAFE_INTEGER);
  const routingVersion = expectInteger(root.routingVersion, '$.routingVersion', 1, 1e9);
  if (routingVersion !== ROUTING_VERSION) {
    throw new ClusterLayoutError(
      '$.routingVersion',
      `routing version ${routingVersion} is not this build's ${ROUTING_VERSION}; ` +
        `keys would be routed to the wrong groups`,
    );
  }
  const groupCount = expectInteger(root.groupCount, '$.groupCount', 1, Number.MAX_SAFE_INTEGER);
  const replicationFactor = expectInteger(
    root.replicationFactor,
    '$.replicationFactor',
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const nodes = parseNodes(root.nodes);
  rethrowAt('$', () => {
    checkGroupCount(groupCount);
    checkReplicationFactor(replicationFactor, liveNodeIds(nodes).length);
  });
  const nodeIds = new Set<number>(liveNodeIds(nodes));
  const placed = parsePlacement(root.placement, groupCount, replicationFactor, nodeIds);
  const metaGroup = parseGroup(root.metaGroup, '$.metaGroup', 0, 0, null, nodeIds);
  return {
    epoch,
    routingVersion,
    groupCount,
    replicationFactor,
    nodes,
    placement: placed,
    metaGroup,
  };
}

/** parseJsonText parses the text after checking its length, before any work is spent on it. */
function parseJsonText(text: string): unknown {
  if (text.length > LAYOUT_JSON_LENGTH_MAX) {
    throw new ClusterLayoutError(
      '$',
      `layout JSON is ${text.length} characters, more than ${LAYOUT_JSON_LENGTH_MAX}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ClusterLayoutError('$', 'not valid JSON', { cause: error });
  }
}

/** parseNodes checks `$.nodes` and returns its entries sorted by id. */
function parseNodes(value: unknown): LayoutNode[] {
  const list = expectArray(value, '$.nodes');
  const nodes = list.map((item, index) => {
    const path = `$.nodes[${index}]`;
    const node = expectObject(item, path, ['id', 'address', 'state']);
    const id = expectInteger(node.id, `${path}.id`, 1, Number.MAX_SAFE_INTEGER) as NodeId;
    if (typeof node.address !== 'string') {
      throw new ClusterLayoutError(`${path}.address`, 'must be a string');
    }
    const state = node.state as NodeState;
    if (!NODE_STATES.includes(state)) {
      throw new ClusterLayoutError(`${path}.state`, `must be one of ${NODE_STATES.join(', ')}`);
    }
    return { id, address: node.address, state };
  });
  rethrowAt('$.nodes', () => {
    checkNodeIds(nodes.map((node) => node.id));
    // A removed node's address may be taken by a newer node.
    checkAddresses(nodes.filter((node) => node.state !== 'removed').map((node) => node.address));
  });
  return nodes.sort((a, b) => a.id - b.id);
}

/** liveNodeIds returns the ids of the nodes that may hold replicas (not removed). */
function liveNodeIds(nodes: readonly LayoutNode[]): NodeId[] {
  return nodes.filter((node) => node.state !== 'removed').map((node) => node.id);
}

/** parsePlacement checks `$.placement`: every group once, each with a valid replica set. */
function parsePlacement(
  value: unknown,
  groupCount: number,
  replicationFactor: number,
  nodeIds: ReadonlySet<number>,
): GroupReplicas[] {
  const list = expectArray(value, '$.placement');
  if (list.length !== groupCount) {
    throw new ClusterLayoutError(
      '$.placement',
      `has ${list.length} entries, expected one per group (${groupCount})`,
    );
  }
  const entries = list.map((item, index) =>
    parseGroup(item, `$.placement[${index}]`, 1, groupCount, replicationFactor, nodeIds),
  );
  entries.sort((a, b) => a.groupId - b.groupId);
  entries.forEach((entry, index) => {
    if (entry.groupId !== index + 1) {
      throw new ClusterLayoutError('$.placement', `group ${index + 1} is missing or repeated`);
    }
  });
  return entries;
}

/**
 * parseGroup checks one group's entry: its id in [minId, maxId]; `target` of exactly
 * `targetSize` nodes (1..META_REPLICAS_MAX when null); `replicas` of 1 to twice that many
 * (a move adds a replica before it removes one); learners among the replicas; all distinct
 * live nodes.
 */
function parseGroup(
  item: unknown,
  path: string,
  minId: number,
  maxId: number,
  targetSize: number | null,
  nodeIds: ReadonlySet<number>,
): GroupReplicas {
  const entry = expectObject(item, path, ['groupId', 'replicas', 'learners', 'target']);
  const groupId = expectInteger(entry.groupId, `${path}.groupId`, minId, maxId) as GroupId;
  const ids = (field: string): NodeId[] =>
    expectArray(entry[field], `${path}.${field}`).map(
      (node, at) =>
        expectInteger(node, `${path}.${field}[${at}]`, 1, Number.MAX_SAFE_INTEGER) as NodeId,
    );
  const replicas = ids('replicas');
  const learners = ids('learners');
  const target = ids('target');
  const size = targetSize ?? META_REPLICAS_MAX;
  if (targetSize !== null && target.length !== targetSize) {
    throw new ClusterLayoutError(
      `${path}.target`,
      `has ${target.length} replicas, expected the replication factor ${targetSize}`,
    );
  }
  checkNodeList(target, 1, size, nodeIds, `${path}.target`);
  checkNodeList(replicas, 1, 2 * size, nodeIds, `${path}.replicas`);
  checkNodeList(learners, 0, 2 * size, nodeIds, `${path}.learners`);
  for (const learner of learners) {
    if (!replicas.includes(learner)) {
      throw new ClusterLayoutError(`${path}.learners`, `node ${learner} is not in replicas`);
    }
  }
  if (learners.length >= replicas.length) {
    throw new ClusterLayoutError(`${path}.learners`, 'leaves the group without a voter');
  }
  return { groupId, replicas, learners, target };
}

/** checkNodeList checks a list of min..max distinct node ids, all live cluster members. */
function checkNodeList(
  list: readonly number[],
  min: number,
  max: number,
  nodeIds: ReadonlySet<number>,
  path: string,
): void {
  if (list.length < min || list.length > max) {
    throw new ClusterLayoutError(path, `has ${list.length} nodes, allowed ${min} to ${max}`);
  }
  if (new Set(list).size !== list.length) {
    throw new ClusterLayoutError(path, `repeats a node: [${list.join(', ')}]`);
  }
  for (const node of list) {
    if (!nodeIds.has(node)) throw new ClusterLayoutError(path, `node ${node} is not in $.nodes`);
  }
}

/** rethrowAt turns a RingConfigError from a shared check into a ClusterLayoutError at `path`. */
function rethrowAt(path: string, check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof RingConfigError) {
      throw new ClusterLayoutError(path, error.message, { cause: error });
    }
    throw error;
  }
}

/** expectObject checks `value` is an object with exactly the fields `keys`. */
function expectObject(
  value: unknown,
  path: string,
  keys: readonly string[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClusterLayoutError(path, 'must be an object');
  }
  // Unknown fields are refused: in a hand-written config they are nearly always typos.
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new ClusterLayoutError(`${path}.${key}`, 'unknown field');
  }
  for (const key of keys) {
    if (!(key in value)) throw new ClusterLayoutError(`${path}.${key}`, 'missing');
  }
  return value as Record<string, unknown>;
}

/** expectArray checks `value` is an array. */
function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new ClusterLayoutError(path, 'must be an array');
  return value;
}

/** expectInteger checks `value` is a safe integer in [min, max]. */
function expectInteger(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ClusterLayoutError(
      path,
      `must be an integer in [${min}, ${max}], got ${describe(value)}`,
    );
  }
  return value;
}

/** describe shows a bad value in an error message, cut short: layouts can be megabytes. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}
