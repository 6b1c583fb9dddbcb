/**
 * Codec of the Admin API (proto/admin.proto) for clients and peers: plain, validated types over the
 * static code in src/store/admin-gen, as src/store/kv-codec.ts does for the KV API. Decoding is
 * an edge: uint64 fields must be safe integers, required text must be present, and anything
 * that is not a valid message throws MalformedError naming the field.
 */
import { MalformedError } from './kv-errors.js';
import { strata } from './admin-gen/admin.js';
import type { strata as pb } from './admin-gen/admin-types.js';

const wire = strata.admin;

/** ADMIN_RESPONSE_BYTES_MAX bounds an Admin answer (a layout of 65,535 groups is ~3 MB). */
export const ADMIN_RESPONSE_BYTES_MAX = 32 * 1024 * 1024;

/** ClusterInfo is a node's answer to Admin.Cluster: identity, layout and leader hints. */
export interface ClusterInfo {
  clusterId: string;
  nodeId: number;
  epoch: number;
  /** layoutJson is src/ring's ClusterLayout as JSON (parse it with parseClusterLayout). */
  layoutJson: string;
  /** leaders[i] is the leader hint of group i + 1 (0: unknown or not hosted). */
  leaders: number[];
}

/** ReplicaProgress is a leader's view of one replica of a group. */
export interface ReplicaProgress {
  nodeId: number;
  match: number;
  next: number;
  state: string;
  learner: boolean;
}

/** GroupStatus is one group's replica on one node; `progress` is set at the leader only. */
export interface GroupStatus {
  groupId: number;
  role: string;
  leaderId: number;
  term: number;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  voters: number[];
  learners: number[];
  progress: ReplicaProgress[];
  pendingProposals: number;
  droppedMessages: number;
}

/** NodeStatus is a node's answer to Admin.Status. */
export interface NodeStatus {
  clusterId: string;
  nodeId: number;
  address: string;
  groups: GroupStatus[];
  writeFault: string;
  cycles: number;
  syncs: number;
  entriesApplied: number;
  cycleLagMsMax: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  peersRefused: number;
  framesRejected: number;
}

/** encodeClusterRequest encodes the (empty) Admin.Cluster request. */
export function encodeClusterRequest(): Uint8Array {
  return wire.ClusterRequest.encode({}).finish();
}

/** encodeStatusRequest encodes the (empty) Admin.Status request. */
export function encodeStatusRequest(): Uint8Array {
  return wire.StatusRequest.encode({}).finish();
}

/** encodeClusterResponse encodes a ClusterInfo (for tests and fakes). */
export function encodeClusterResponse(info: ClusterInfo): Uint8Array {
  return wire.ClusterResponse.encode(info).finish();
}

/** encodeStatusResponse encodes a NodeStatus (for tests and fakes). */
export function encodeStatusResponse(status: NodeStatus): Uint8Array {
  return wire.StatusResponse.encode(status).finish();
}

/** decodeClusterResponse decodes and validates an Admin.Cluster answer. */
export function decodeClusterResponse(bytes: Uint8Array): ClusterInfo {
  const t = 'ClusterResponse';
  const m = decodeWire(t, bytes, (b) => wire.ClusterResponse.decode(b));
  return {
    clusterId: m.clusterId ?? '',
    nodeId: safe(m.nodeId, t, 'nodeId'),
    epoch: safe(m.epoch, t, 'epoch'),
    layoutJson: m.layoutJson ?? '',
    leaders: (m.leaders ?? []).map((id, i) => safe(id, t, `leaders[${i}]`)),
  };
}

/** decodeStatusResponse decodes and validates an Admin.Status answer. */
export function decodeStatusResponse(bytes: Uint8Array): NodeStatus {
  const t = 'StatusResponse';
  const m = decodeWire(t, bytes, (b) => wire.StatusResponse.decode(b));
  return {
    clusterId: m.clusterId ?? '',
    nodeId: safe(m.nodeId, t, 'nodeId'),
    address: m.address ?? '',
    groups: (m.groups ?? []).map((g, i) => groupFromWire(g, `groups[${i}]`)),
    writeFault: m.writeFault ?? '',
    cycles: safe(m.cycles, t, 'cycles'),
    syncs: safe(m.syncs, t, 'syncs'),
    entriesApplied: safe(m.entriesApplied, t, 'entriesApplied'),
    cycleLagMsMax: finite(m.cycleLagMsMax, t, 'cycleLagMsMax'),
    snapshotsSent: safe(m.snapshotsSent, t, 'snapshotsSent'),
    snapshotsInstalled: safe(m.snapshotsInstalled, t, 'snapshotsInstalled'),
    peersRefused: safe(m.peersRefused, t, 'peersRefused'),
    framesRejected: safe(m.framesRejected, t, 'framesRejected'),
  };
}

function groupFromWire(g: pb.admin.GroupStatus.$Properties, at: string): GroupStatus {
  const t = 'StatusResponse';
  const f = (field: string): string => `${at}.${field}`;
  return {
    groupId: safe(g.groupId, t, f('groupId')),
    role: g.role ?? '',
    leaderId: safe(g.leaderId, t, f('leaderId')),
    term: safe(g.term, t, f('term')),
    commit: safe(g.commit, t, f('commit')),
    applied: safe(g.applied, t, f('applied')),
    firstIndex: safe(g.firstIndex, t, f('firstIndex')),
    lastIndex: safe(g.lastIndex, t, f('lastIndex')),
    voters: (g.voters ?? []).map((id, i) => safe(id, t, f(`voters[${i}]`))),
    learners: (g.learners ?? []).map((id, i) => safe(id, t, f(`learners[${i}]`))),
    progress: (g.progress ?? []).map((p, i) => ({
      nodeId: safe(p.nodeId, t, f(`progress[${i}].nodeId`)),
      match: safe(p.match, t, f(`progress[${i}].match`)),
      next: safe(p.next, t, f(`progress[${i}].next`)),
      state: p.state ?? '',
      learner: p.learner === true,
    })),
    pendingProposals: safe(g.pendingProposals, t, f('pendingProposals')),
    droppedMessages: safe(g.droppedMessages, t, f('droppedMessages')),
  };
}

/** decodeWire checks size and type, then decodes a private copy; failures are MalformedError. */
function decodeWire<T>(typeName: string, bytes: Uint8Array, decode: (b: Uint8Array) => T): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new MalformedError(typeName, '', `expected a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length > ADMIN_RESPONSE_BYTES_MAX) {
    const reason = `${bytes.length} bytes, above ADMIN_RESPONSE_BYTES_MAX ${ADMIN_RESPONSE_BYTES_MAX}`;
    throw new MalformedError(typeName, '', reason);
  }
  try {
    return decode(new Uint8Array(bytes));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new MalformedError(typeName, '', `malformed protobuf (${detail})`, { cause: error });
  }
}

/** WireLong is the Long protobufjs returns for uint64 fields. */
interface WireLong {
  low: number;
  high: number;
}

/** Two to the 32nd, and the largest high word of a safe integer (2^53 - 1). */
const HIGH_WORD = 0x1_0000_0000;
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

/** safe converts a decoded unsigned integer to a number, rejecting values above 2^53 - 1. */
function safe(value: number | WireLong | null | undefined, t: string, field: string): number {
  if (value == null) return 0;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new MalformedError(t, field, `${value} is not an integer in [0, 2^53 - 1]`);
  }
  const high = value.high >>> 0;
  if (high > SAFE_HIGH_WORD_MAX) throw new MalformedError(t, field, 'exceeds 2^53 - 1');
  return high * HIGH_WORD + (value.low >>> 0);
}

/** finite checks a decoded double. */
function finite(value: number | null | undefined, t: string, field: string): number {
  if (value == null) return 0;
  if (!Number.isFinite(value)) throw new MalformedError(t, field, `${value} is not finite`);
  return value;
}
