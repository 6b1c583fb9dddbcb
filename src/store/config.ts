/**
 * NodeConfig: everything a store node needs to start, from a JSON file and/or command-line
 * flags. Parsing is strict: unknown keys are refused (a typo must not silently become a
 * default), and every value is checked with the allowed range in the error.
 */
import { nodeId, type NodeId } from '../raft/index.js';
import { GROUP_COUNT_DEFAULT, REPLICATION_FACTOR_DEFAULT } from '../ring/index.js';

/** PeerAddress is one member of the static cluster. */
export interface PeerAddress {
  id: NodeId;
  address: string;
}

/** NodeConfig configures one `strata node` process. */
export interface NodeConfig {
  nodeId: NodeId;
  /** clusterId must be equal on every node; a node refuses peers of another cluster. */
  clusterId: string;
  dataDir: string;
  /** listen is the host:port the node binds for peers and clients alike. */
  listen: string;
  /** peers lists every member of the cluster (this node included) with its address. */
  peers: PeerAddress[];
  groupCount: number;
  replicationFactor: number;
  /** tickMs is the length of one Raft tick; timeouts below are in ticks. */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** A group compacts its log once this many entries were applied since its last compaction. */
  compactEntries: number;
  /** Entries kept below the compaction point for slow followers. */
  compactTrailingEntries: number;
  /** Most client proposals waiting to be applied, per group (RESOURCE_EXHAUSTED past it). */
  pendingProposalsMax: number;
  /** Largest Raft entry (one encoded command), bytes. */
  entryBytesMax: number;
  /** An idle group stops heartbeats after this many idle ticks (0: never). */
  quiesceTicks: number;
  /** Every this many ticks, hand leaderships back to preferred leaders (0: never). */
  leaderBalanceTicks: number;
}

/** ConfigFileError says a configuration value is wrong; the message names key and range. */
export class NodeConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'NodeConfigError';
  }
}

/** NODE_CONFIG_DEFAULTS are the defaults of every optional key. */
export const NODE_CONFIG_DEFAULTS = {
  groupCount: GROUP_COUNT_DEFAULT,
  replicationFactor: REPLICATION_FACTOR_DEFAULT,
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  compactEntries: 10_000,
  compactTrailingEntries: 1_000,
  pendingProposalsMax: 4_096,
  entryBytesMax: 4 * 1024 * 1024,
  quiesceTicks: 20,
  leaderBalanceTicks: 50,
} as const;

const RANGES: Record<string, [number, number]> = {
  groupCount: [1, 65_535],
  replicationFactor: [1, 7],
  tickMs: [5, 10_000],
  electionTicks: [2, 1_000],
  heartbeatTicks: [1, 100],
  compactEntries: [10, 100_000_000],
  compactTrailingEntries: [0, 100_000_000],
  pendingProposalsMax: [1, 1_000_000],
  entryBytesMax: [1024, 64 * 1024 * 1024],
  quiesceTicks: [0, 1_000_000],
  leaderBalanceTicks: [0, 1_000_000],
};

const KNOWN_KEYS = new Set([
  'nodeId',
  'clusterId',
  'dataDir',
  'listen',
  'peers',
  ...Object.keys(NODE_CONFIG_DEFAULTS),
]);

/** parseAddress checks a `host:port` string and returns it unchanged. */
export function parseAddress(value: unknown, key: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(value)) {
    throw new NodeConfigError(`${key} must be host:port, got ${JSON.stringify(value)}`);
  }
  const port = Number(value.slice(value.lastIndexOf(':') + 1));
  if (port < 1 || port > 65_535)
    throw new NodeConfigError(`${key} port ${port} is not in [1, 65535]`);
  return value;
}

function integer(raw: Record<string, unknown>, key: string): number {
  const value = raw[key] ?? NODE_CONFIG_DEFAULTS[key as keyof typeof NODE_CONFIG_DEFAULTS];
  const [min, max] = RANGES[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new NodeConfigError(
      `${key} = ${JSON.stringify(value)} is invalid: allowed range is [${min}, ${max}]`,
    );
  }
  return value;
}

function parsePeers(value: unknown): PeerAddress[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new NodeConfigError('peers must be a non-empty list of {id, address}');
  }
  const peers = value.map((peer: unknown, i: number) => {
    const p = peer as { id?: unknown; address?: unknown };
    if (typeof p !== 'object' || p === null || typeof p.id !== 'number' || p.id < 1) {
      throw new NodeConfigError(`peers[${i}].id must be a positive integer`);
    }
    return { id: nodeId(p.id), address: parseAddress(p.address, `peers[${i}].address`) };
  });
  const ids = new Set(peers.map((p) => p.id));
  const addresses = new Set(peers.map((p) => p.address));
  if (ids.size !== peers.length) throw new NodeConfigError('peers has duplicate ids');
  if (addresses.size !== peers.length) throw new NodeConfigError('peers has duplicate addresses');
  return peers.sort((a, b) => a.id - b.id);
}

/** parseNodeConfig validates a raw object (from JSON and flags) into a NodeConfig. */
export function parseNodeConfig(raw: Record<string, unknown>): NodeConfig {
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new NodeConfigError(
        `unknown configuration key '${key}' (known: ${[...KNOWN_KEYS].join(', ')})`,
      );
    }
  }
  if (typeof raw.nodeId !== 'number' || !Number.isSafeInteger(raw.nodeId) || raw.nodeId < 1) {
    throw new NodeConfigError(
      `nodeId must be a positive integer, got ${JSON.stringify(raw.nodeId)}`,
    );
  }
  if (typeof raw.clusterId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(raw.clusterId)) {
    throw new NodeConfigError('clusterId must be 1 to 64 characters of [A-Za-z0-9._-]');
  }
  if (typeof raw.dataDir !== 'string' || raw.dataDir.length === 0) {
    throw new NodeConfigError('dataDir must be a non-empty path');
  }
  const config: NodeConfig = {
    nodeId: nodeId(raw.nodeId),
    clusterId: raw.clusterId,
    dataDir: raw.dataDir,
    listen: parseAddress(raw.listen, 'listen'),
    peers: parsePeers(raw.peers),
    groupCount: integer(raw, 'groupCount'),
    replicationFactor: integer(raw, 'replicationFactor'),
    tickMs: integer(raw, 'tickMs'),
    electionTicks: integer(raw, 'electionTicks'),
    heartbeatTicks: integer(raw, 'heartbeatTicks'),
    compactEntries: integer(raw, 'compactEntries'),
    compactTrailingEntries: integer(raw, 'compactTrailingEntries'),
    pendingProposalsMax: integer(raw, 'pendingProposalsMax'),
    entryBytesMax: integer(raw, 'entryBytesMax'),
    quiesceTicks: integer(raw, 'quiesceTicks'),
    leaderBalanceTicks: integer(raw, 'leaderBalanceTicks'),
  };
  if (!config.peers.some((p) => p.id === config.nodeId)) {
    throw new NodeConfigError(`nodeId ${config.nodeId} is not among peers`);
  }
  if (config.electionTicks <= config.heartbeatTicks) {
    throw new NodeConfigError(
      `electionTicks ${config.electionTicks} must exceed heartbeatTicks ${config.heartbeatTicks}`,
    );
  }
  if (config.replicationFactor > config.peers.length) {
    throw new NodeConfigError(
      `replicationFactor ${config.replicationFactor} exceeds the ${config.peers.length} peers`,
    );
  }
  return config;
}
