/**
 * Limits and defaults of src/ring, with the checks that enforce them. Every check throws a
 * RingConfigError naming the bad value and the allowed range.
 */
import type { NodeId } from '../raft/index.js';
import { RingConfigError } from './errors.js';

/** GROUP_COUNT_DEFAULT is the number of data groups of a new cluster. */
export const GROUP_COUNT_DEFAULT = 64;
/**
 * GROUP_COUNT_MAX keeps group ids in 16 bits (the slot table is a Uint16Array) and below the
 * slot count, so every group owns at least one slot.
 */
export const GROUP_COUNT_MAX = 65535;
/** REPLICATION_FACTOR_DEFAULT is the number of replicas of each group. */
export const REPLICATION_FACTOR_DEFAULT = 3;
/** REPLICATION_FACTOR_MAX bounds Raft voters per group; larger groups only add commit latency. */
export const REPLICATION_FACTOR_MAX = 7;
/** NODE_COUNT_MAX bounds the node ring (160 md5 hashes per node are computed at build). */
export const NODE_COUNT_MAX = 1024;
/** NODE_ADDRESS_LENGTH_MAX bounds a node's `host:port` address, in UTF-16 code units. */
export const NODE_ADDRESS_LENGTH_MAX = 255;

/** checkGroupCount throws unless `groupCount` is an integer in [1, GROUP_COUNT_MAX]. */
export function checkGroupCount(groupCount: number): void {
  if (!Number.isInteger(groupCount) || groupCount < 1 || groupCount > GROUP_COUNT_MAX) {
    throw new RingConfigError(
      `group count must be an integer in [1, ${GROUP_COUNT_MAX}], got ${groupCount}`,
    );
  }
}

/**
 * checkReplicationFactor throws unless `replicationFactor` is an integer in
 * [1, REPLICATION_FACTOR_MAX] and at most `nodeCount`: two replicas of one group on one node
 * would fail together, so the placement never does it.
 */
export function checkReplicationFactor(replicationFactor: number, nodeCount: number): void {
  if (
    !Number.isInteger(replicationFactor) ||
    replicationFactor < 1 ||
    replicationFactor > REPLICATION_FACTOR_MAX
  ) {
    throw new RingConfigError(
      `replication factor must be an integer in [1, ${REPLICATION_FACTOR_MAX}], ` +
        `got ${replicationFactor}`,
    );
  }
  if (replicationFactor > nodeCount) {
    throw new RingConfigError(
      `replication factor ${replicationFactor} exceeds the node count ${nodeCount}: ` +
        `each replica of a group needs its own node`,
    );
  }
}

/**
 * checkNodeIds throws unless there are 1..NODE_COUNT_MAX ids, each a positive safe integer
 * (0 is NONE in src/raft), with no duplicates.
 */
export function checkNodeIds(nodeIds: readonly number[]): asserts nodeIds is readonly NodeId[] {
  if (nodeIds.length < 1 || nodeIds.length > NODE_COUNT_MAX) {
    throw new RingConfigError(
      `node count must be in [1, ${NODE_COUNT_MAX}], got ${nodeIds.length}`,
    );
  }
  const seen = new Set<number>();
  for (const id of nodeIds) {
    if (!Number.isSafeInteger(id) || id < 1) {
      throw new RingConfigError(`node id must be a positive safe integer, got ${id}`);
    }
    if (seen.has(id)) throw new RingConfigError(`duplicate node id ${id}`);
    seen.add(id);
  }
}
