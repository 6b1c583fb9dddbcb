/**
 * AdminService answers `Cluster` (identity and layout: how clients discover the ring) and
 * `Status` (this node and each of its groups: what `strata status` shows).
 */
import * as grpc from '@grpc/grpc-js';
import { rawMethod } from './grpc-methods.js';
import { Role, type GroupId, type NodeId } from '../raft/index.js';
import { AdminCallError } from './admin-calls.js';
import { ChangeRefused } from './meta-changes.js';
import { changeInputOf, grpcCodeOf, type MetaService } from './meta.js';
import { StoreError } from './group.js';
import { strata } from './admin-gen/admin.js';
import type { strata as AdminTypes } from './admin-gen/admin-types.js';
import type { StoreNode } from './node.js';

/** ADMIN_SERVICE is the gRPC definition of strata.admin.Admin. */
export const ADMIN_SERVICE: grpc.ServiceDefinition = {
  cluster: rawMethod('strata.admin.Admin', 'Cluster', false, false),
  status: rawMethod('strata.admin.Admin', 'Status', false, false),
  change: rawMethod('strata.admin.Admin', 'Change', false, false),
  groupChange: rawMethod('strata.admin.Admin', 'GroupChange', false, false),
};

/** CHANGE_DEADLINE_MS bounds a change passed on to the metadata leader. */
const CHANGE_DEADLINE_MS = 15_000;

const ROLE_NAMES: Record<Role, string> = {
  [Role.Follower]: 'follower',
  [Role.PreCandidate]: 'pre-candidate',
  [Role.Candidate]: 'candidate',
  [Role.Leader]: 'leader',
};

/** knownEpochOf reads a ClusterRequest's known epoch (0 for an old or malformed request). */
function knownEpochOf(bytes: Buffer): number {
  try {
    return Number(strata.admin.ClusterRequest.decode(bytes).knownEpoch ?? 0);
  } catch {
    return 0;
  }
}

/** failure turns an error into a gRPC status for the callback. */
function failure(error: unknown): Partial<grpc.StatusObject> {
  const details = error instanceof Error ? error.message : String(error);
  return { code: grpcCodeOf(error), details };
}

/**
 * change runs a layout change here if this node leads the metadata group, else passes it on
 * (once) to the leader, or to each metadata replica in turn while the leader is unknown.
 */
async function change(node: StoreNode, meta: MetaService, bytes: Buffer): Promise<Uint8Array> {
  let request;
  try {
    request = strata.admin.ChangeRequest.decode(bytes);
  } catch (error) {
    throw new ChangeRefused(`malformed ChangeRequest: ${(error as Error).message}`, true);
  }
  if (request.clusterId !== node.config.clusterId) {
    throw new ChangeRefused(
      `this node belongs to cluster '${node.config.clusterId}', not '${request.clusterId}'`,
    );
  }
  const input = changeInputOf(request);
  if (meta.isLeader()) {
    const done = await meta.change(input);
    return strata.admin.ChangeResponse.encode({
      epoch: done.layout.epoch,
      layoutJson: JSON.stringify(done.layout),
      message: done.message,
      nodeId: done.nodeId,
    }).finish();
  }
  if (request.forwarded) {
    throw new StoreError(
      'NOT_LEADER',
      `node ${node.config.nodeId} does not lead the metadata group`,
    );
  }
  const forwarded = strata.admin.ChangeRequest.encode({ ...request, forwarded: true }).finish();
  const leader = meta.leaderAddress();
  const candidates = [
    ...(leader ? [leader] : []),
    ...node.layout.metaGroup.replicas
      .filter((id) => id !== node.config.nodeId)
      .map((id) => node.addressOf(id)),
  ];
  let last: unknown = new StoreError('UNAVAILABLE', 'no metadata replica is known');
  for (const address of new Set(candidates)) {
    if (!address) continue;
    try {
      return await node.admin.call(address, 'Change', forwarded, CHANGE_DEADLINE_MS);
    } catch (error) {
      last = error;
      if (error instanceof AdminCallError && error.grpcCode !== grpc.status.UNAVAILABLE)
        throw error;
    }
  }
  throw last;
}

/** groupChange runs one membership step of the mover on this node (the group's leader). */
async function groupChange(meta: MetaService, bytes: Buffer): Promise<Uint8Array> {
  let request;
  try {
    request = strata.admin.GroupChangeRequest.decode(bytes);
  } catch (error) {
    throw new ChangeRefused(`malformed GroupChangeRequest: ${(error as Error).message}`, true);
  }
  const done = await meta.groupChange(
    request.groupId as GroupId,
    request.op,
    Number(request.nodeId) as NodeId,
  );
  return strata.admin.GroupChangeResponse.encode(done).finish();
}

/** adminImplementation returns the handlers of ADMIN_SERVICE for `node`. */
export function adminImplementation(
  node: StoreNode,
  meta: MetaService,
): grpc.UntypedServiceImplementation {
  return {
    change: (
      call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
      callback: grpc.sendUnaryData<Uint8Array>,
    ) => {
      change(node, meta, call.request).then(
        (bytes) => callback(null, bytes),
        (error: unknown) => callback(failure(error)),
      );
    },
    groupChange: (
      call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
      callback: grpc.sendUnaryData<Uint8Array>,
    ) => {
      groupChange(meta, call.request).then(
        (bytes) => callback(null, bytes),
        (error: unknown) => callback(failure(error)),
      );
    },
    cluster: (
      call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
      callback: grpc.sendUnaryData<Uint8Array>,
    ) => {
      const knownEpoch = knownEpochOf(call.request);
      if (knownEpoch > 0 && knownEpoch >= node.layout.epoch) {
        const short = { clusterId: node.config.clusterId, nodeId: node.config.nodeId };
        callback(
          null,
          strata.admin.ClusterResponse.encode({ ...short, epoch: node.layout.epoch }).finish(),
        );
        return;
      }
      const leaders: number[] = [];
      for (let groupId = 1; groupId <= node.layout.groupCount; groupId++) {
        leaders.push(node.groups.get(groupId as never)?.raw.leaderId() ?? 0);
      }
      callback(
        null,
        strata.admin.ClusterResponse.encode({
          clusterId: node.config.clusterId,
          nodeId: node.config.nodeId,
          epoch: node.layout.epoch,
          layoutJson: JSON.stringify(node.layout),
          leaders,
        }).finish(),
      );
    },
    status: (
      _call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
      callback: grpc.sendUnaryData<Uint8Array>,
    ) => {
      callback(null, strata.admin.StatusResponse.encode(statusOf(node)).finish());
    },
  };
}

/** statusOf gathers a node's status as the StatusResponse message. */
export function statusOf(node: StoreNode): AdminTypes.admin.StatusResponse.$Properties {
  const groups = [...node.groups.values()].map((group) => {
    const status = group.raw.status();
    return {
      groupId: status.groupId,
      role: ROLE_NAMES[status.role],
      leaderId: status.leader,
      term: status.term,
      commit: status.commit,
      applied: status.applied,
      firstIndex: status.firstIndex,
      lastIndex: status.lastIndex,
      voters: status.confState.voters,
      learners: status.confState.learners,
      progress: (status.progress ?? []).map((p) => ({
        nodeId: p.id,
        match: p.match,
        next: p.next,
        state: p.state,
        learner: p.isLearner,
      })),
      pendingProposals: group.pendingProposalCount(),
      droppedMessages: status.droppedMessages,
    };
  });
  return {
    clusterId: node.config.clusterId,
    nodeId: node.config.nodeId,
    address: node.config.listen,
    groups,
    writeFault: node.writeFault?.message ?? '',
    cycles: node.stats.cycles,
    syncs: node.stats.syncs,
    entriesApplied: node.stats.entriesApplied,
    cycleLagMsMax: node.stats.cycleLagMsMax,
    snapshotsSent: node.snapshots.stats.sent,
    snapshotsInstalled: node.snapshots.stats.installed,
    peersRefused: node.transport.stats.peersRefused,
    framesRejected: node.transport.stats.framesRejected,
    snapshotResumedBytes: node.snapshots.stats.resumedBytes,
  };
}
