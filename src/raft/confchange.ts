/**
 * The one definition of what a committed membership change does to a membership. The core
 * applies it when the entry is applied; a driver that persists the membership with its state
 * machine computes the same result ahead of time, to write it in the same batch.
 */
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from './types.js';

/**
 * applyConfChangeToState returns `conf` after `change`: AddNode adds a voter (promoting a
 * learner), AddLearner adds a learner (no effect on a voter: demotion is not supported),
 * RemoveNode removes a voter or learner. Lists stay sorted and disjoint.
 */
export function applyConfChangeToState(conf: ConfState, change: ConfChange): ConfState {
  const voters = new Set<NodeId>(conf.voters);
  const learners = new Set<NodeId>(conf.learners);
  switch (change.type) {
    case ConfChangeType.AddNode:
      learners.delete(change.nodeId);
      voters.add(change.nodeId);
      break;
    case ConfChangeType.AddLearner:
      if (!voters.has(change.nodeId)) learners.add(change.nodeId);
      break;
    case ConfChangeType.RemoveNode:
      voters.delete(change.nodeId);
      learners.delete(change.nodeId);
      break;
  }
  const sorted = (ids: Set<NodeId>): NodeId[] => [...ids].sort((a, b) => a - b);
  return { voters: sorted(voters), learners: sorted(learners) };
}
