// Proves the client's Admin codec: Cluster and Status answers round-trip through the generated
// protobuf code into plain numbers, and bad input is refused at the edge with MalformedError
// naming the field (uint64 above 2^53 - 1, bytes that are not protobuf).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedError } from './kv-errors.js';
import { strata } from './admin-gen/admin.js';
import {
  decodeClusterResponse,
  decodeStatusResponse,
  encodeClusterResponse,
  encodeStatusResponse,
  type NodeStatus,
} from './admin-codec.js';

const STATUS: NodeStatus = {
  clusterId: 'c1',
  nodeId: 2,
  address: '127.0.0.1:7002',
  groups: [
    {
      groupId: 5,
      role: 'leader',
      leaderId: 2,
      term: 3,
      commit: 40,
      applied: 39,
      firstIndex: 1,
      lastIndex: 41,
      voters: [1, 2, 3],
      learners: [4],
      progress: [{ nodeId: 1, match: 38, next: 39, state: 'replicate', learner: false }],
      pendingProposals: 1,
      droppedMessages: 0,
    },
  ],
  writeFault: '',
  cycles: 10,
  syncs: 9,
  entriesApplied: 39,
  cycleLagMsMax: 1.5,
  snapshotsSent: 0,
  snapshotsInstalled: 0,
  peersRefused: 0,
  framesRejected: 0,
};

describe('admin codec', () => {
  it('round-trips a ClusterResponse', () => {
    const info = { clusterId: 'c1', nodeId: 3, epoch: 7, layoutJson: '{}', leaders: [0, 2, 3] };
    assert.deepEqual(decodeClusterResponse(encodeClusterResponse(info)), info);
  });

  it('round-trips a StatusResponse', () => {
    assert.deepEqual(decodeStatusResponse(encodeStatusResponse(STATUS)), STATUS);
  });

  it('refuses a uint64 above 2^53 - 1, naming the field', () => {
    const bytes = strata.admin.ClusterResponse.encode({
      clusterId: 'c',
      nodeId: 1,
      leaders: [1, '18446744073709551615' as unknown as number],
    }).finish();
    assert.throws(
      () => decodeClusterResponse(bytes),
      (error: unknown) => error instanceof MalformedError && error.field === 'leaders[1]',
    );
  });

  it('refuses bytes that are not protobuf', () => {
    assert.throws(() => decodeStatusResponse(new Uint8Array([0xff, 0xff, 0xff])), MalformedError);
  });
});
