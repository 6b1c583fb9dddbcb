/**
 * AdminService answers `Cluster` (identity and layout: how clients discover the ring) and
 * `Status` (this node and each of its groups: what `strata status` shows).
 */
import * as grpc from '@grpc/grpc-js';
import { rawMethod } from './grpc-methods.js';
import { Role } from '../raft/index.js';
import { strata } from './admin-gen/admin.js';
import type { strata as AdminTypes } from './admin-gen/admin-types.js';
import type { StoreNode } from './node.js';

/** ADMIN_SERVICE is the gRPC definition of strata.admin.Admin. */
export const ADMIN_SERVICE: grpc.ServiceDefinition = {
  cluster: rawMethod('strata.admin.Admin', 'Cluster', false, false),
  status: rawMethod('strata.admin.Admin', 'Status', false, false),
};

const ROLE_NAMES: Record<Role, string> = {
  [Role.Follower]: 'follower',
  [Role.PreCandidate]: 'pre-candidate',
  [Role.Candidate]: 'candidate',
  [Role.Leader]: 'leader',
};

/** adminImplementation returns the handlers of ADMIN_SERVICE for `node`. */
export function adminImplementation(node: StoreNode): grpc.UntypedServiceImplementation {
  return {
    cluster: (
      _call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
      callback: grpc.sendUnaryData<Uint8Array>,
    ) => {
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
