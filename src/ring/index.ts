/**
 * Public surface of src/ring: routing keys to groups and placing group replicas on nodes.
 * Everything exported is here; other modules in src/ring are internals.
 */
export { ClusterLayoutError, RingConfigError, RingError } from './errors.js';
export { routingKey } from './hash-tag.js';
export { GroupRing, ROUTING_VERSION, SLOT_COUNT, hashSlot } from './group-ring.js';
export {
  GROUP_COUNT_DEFAULT,
  GROUP_COUNT_MAX,
  NODE_ADDRESS_LENGTH_MAX,
  NODE_COUNT_MAX,
  REPLICATION_FACTOR_DEFAULT,
  REPLICATION_FACTOR_MAX,
} from './limits.js';
export {
  diffPlacement,
  placement,
  preferredLeaderCounts,
  replicaCounts,
  type Placement,
  type ReplicaMove,
} from './placement.js';
export { countMoves, rebalanceTargets } from './rebalance.js';
export {
  LAYOUT_JSON_LENGTH_MAX,
  META_GROUP_ID,
  META_REPLICAS_MAX,
  NODE_STATES,
  createClusterLayout,
  groupEntry,
  groupSettled,
  groupsOf,
  liveNodes,
  parseClusterLayout,
  placementOfLayout,
  targetsOfLayout,
  type ClusterLayout,
  type ClusterLayoutOptions,
  type GroupReplicas,
  type LayoutNode,
  type NodeState,
} from './layout.js';
