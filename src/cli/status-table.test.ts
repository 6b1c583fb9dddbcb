// Proves `strata status` merges per-node answers into one row per group from the leader's
// view (progress known only there), computes lag as the leader's last index minus the slowest
// replica's match, falls back to the freshest follower when no leader answered, and aligns
// the table's columns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupStatus, NodeStatus } from '../client/index.js';
import { groupTable, mergeGroupStatus } from './status-table.js';

function group(fields: Partial<GroupStatus> & { groupId: number }): GroupStatus {
  return {
    role: 'follower', leaderId: 0, term: 1, commit: 0, applied: 0, firstIndex: 1, lastIndex: 0,
    voters: [1, 2, 3], learners: [], progress: [], pendingProposals: 0, droppedMessages: 0,
    ...fields,
  }; // prettier-ignore
}

function node(nodeId: number, groups: GroupStatus[]): NodeStatus {
  return {
    clusterId: 'c', nodeId, address: `127.0.0.1:${7000 + nodeId}`, groups, writeFault: '',
    cycles: 0, syncs: 0, entriesApplied: 0, cycleLagMsMax: 0, snapshotsSent: 0,
    snapshotsInstalled: 0, peersRefused: 0, framesRejected: 0,
  }; // prettier-ignore
}

const progress = (matches: number[]) =>
  matches.map((match, i) => ({
    nodeId: i + 1,
    match,
    next: match + 1,
    state: 'replicate',
    learner: false,
  }));

describe('status table', () => {
  it('takes the leader view and computes lag', () => {
    const rows = mergeGroupStatus([
      node(1, [
        group({ groupId: 2, role: 'leader', leaderId: 1, term: 3, commit: 50, applied: 49, lastIndex: 52, progress: progress([52, 40, 51]) }),
        group({ groupId: 1, leaderId: 2, term: 2, commit: 10, applied: 10, lastIndex: 10 }),
      ]),
      node(2, [
        group({ groupId: 2, leaderId: 1, term: 3, commit: 48, applied: 48, lastIndex: 52 }),
        group({ groupId: 1, role: 'leader', leaderId: 2, term: 2, commit: 11, applied: 11, lastIndex: 11, progress: progress([11, 11, 11]) }),
      ]),
    ]); // prettier-ignore
    assert.deepEqual(rows, [
      {
        group: 1,
        leader: 2,
        term: 2,
        commit: 11,
        applied: 11,
        members: '1,2,3',
        lag: 0,
        replicas: 2,
      },
      {
        group: 2,
        leader: 1,
        term: 3,
        commit: 50,
        applied: 49,
        members: '1,2,3',
        lag: 12,
        replicas: 2,
      },
    ]);
  });

  it('falls back to the freshest follower when no leader answered', () => {
    const [row] = mergeGroupStatus([
      node(2, [group({ groupId: 7, term: 4, commit: 9, leaderId: 0, learners: [4] })]),
      node(3, [group({ groupId: 7, term: 4, commit: 12, leaderId: 1 })]),
    ]);
    assert.deepEqual(row, {
      group: 7,
      leader: 1,
      term: 4,
      commit: 12,
      applied: 0,
      members: '1,2,3',
      lag: null,
      replicas: 2,
    });
  });

  it('aligns the columns', () => {
    const lines = groupTable([
      {
        group: 1,
        leader: 2,
        term: 2,
        commit: 11,
        applied: 11,
        members: '1,2,3',
        lag: 0,
        replicas: 3,
      },
      {
        group: 10,
        leader: 0,
        term: 13,
        commit: 1234,
        applied: 1200,
        members: '1,2,3,4~',
        lag: null,
        replicas: 1,
      },
    ]);
    assert.deepEqual(lines, [
      'group  leader  term  commit  applied  members   lag',
      '    1       2     2      11       11  1,2,3       0',
      '   10       -    13    1234     1200  1,2,3,4~    -',
    ]);
  });
});
