/**
 * The public surface of src/store: the store node, its configuration and services, and the
 * LevelDB-backed Raft log storage.
 */
export { StoreNode, StoreError, type NodeStats } from './node.js';
export {
  parseNodeConfig,
  parseAddress,
  NodeConfigError,
  NODE_CONFIG_DEFAULTS,
  type NodeConfig,
  type PeerAddress,
} from './config.js';
export { registerServices } from './services.js';
export { KV_SERVICE, KV_SERVICE_LIMITS, statusError } from './kv-service.js';
export { ADMIN_SERVICE, statusOf } from './admin-service.js';
export { TRANSPORT_LIMITS, PEER_SERVICE } from './transport.js';
export { SNAPSHOT_LIMITS } from './snapshots.js';
export { LogDb, GroupLogStorage, type LogDbStats } from './log-storage.js';
export { KvStateMachine } from './sm-state-machine.js';
export { LIMITS } from './kv-limits.js';
