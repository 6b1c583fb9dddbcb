/**
 * The public surface of the Raft core. Everything a driver (the simulator, a store node) needs is
 * exported here; other modules in src/raft are internals.
 */
export * from './types.js';
export * from './errors.js';
export * from './config.js';
export * from './storage.js';
export { applyConfChangeToState } from './confchange.js';
export { RawNode, type RaftStatus, type ReplicaProgress } from './rawnode.js';
export {
  encodeConfChange,
  decodeConfChange,
  encodeMessage,
  decodeMessage,
  encodeMessageBatch,
  decodeMessageBatch,
  encodeEntry,
  decodeEntry,
  encodeHardState,
  decodeHardState,
  encodeConfState,
  decodeConfState,
  encodeSnapshotMetadata,
  decodeSnapshotMetadata,
  MessageDecodeError,
  encodeSnapshotChunk,
  decodeSnapshotChunk,
  encodeSnapshotAck,
  decodeSnapshotAck,
  encodeStreamEnd,
  decodeStreamEnd,
  type SnapshotChunk,
  type SnapshotAck,
} from './codec.js';
