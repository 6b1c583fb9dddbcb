/**
 * The nemesis turns schedule events into faults on a running cluster: partitions of every
 * shape, crashes (optionally with a quick restart), restarts, membership changes (add a learner
 * or a voter, promote, remove a voter or learner, never fewer than VOTERS_MIN voters), leadership
 * transfers,
 * forced campaigns and network quality changes. Node choices resolve at the event's time.
 */
import { ConfChangeType, Role } from '../../src/raft/index.js';
import { VOTERS_MIN, type Cluster } from './cluster.js';
import type { ConfChangeOp, FaultEvent, PartitionMode } from './schedule.js';

/** applyFault injects one event into the cluster at the current simulated time. */
export function applyFault(cluster: Cluster, event: FaultEvent): void {
  switch (event.kind) {
    case 'partition':
      return partition(cluster, event.args.mode, event.args.pick);
    case 'heal':
      return cluster.network.heal();
    case 'crash':
      return crash(cluster, event.args);
    case 'restart': {
      const down = cluster.nodeIds().filter((id) => cluster.node(id)?.up === false);
      if (down.length > 0) cluster.restart(down[event.args.pick % down.length]);
      return;
    }
    case 'confChange':
      return confChange(cluster, event.args.op, event.args.pick);
    case 'transferLeader':
      return cluster.transferLeader(event.args.pick);
    case 'campaign':
      return campaign(cluster, event.args.pick, event.args.count);
    case 'trigger':
      return cluster.triggers.arm(event.args);
    case 'dropRate':
      cluster.network.faults.dropRate = event.args.rate;
      return;
    case 'dupRate':
      cluster.network.faults.dupRate = event.args.rate;
      return;
    case 'delay': {
      const { minMs, maxMs, reorderRate, reorderDelayMsMax } = event.args;
      Object.assign(cluster.network.faults, {
        delayMsMin: minMs,
        delayMsMax: maxMs,
        reorderRate,
        reorderDelayMsMax,
      });
      return;
    }
    default: {
      const never: never = event;
      throw new Error(`unknown fault ${JSON.stringify(never)}`);
    }
  }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

function partition(cluster: Cluster, mode: PartitionMode, pick: number): void {
  const ids = cluster.nodeIds();
  if (ids.length < 2) return;
  const leaderId = cluster.leader()?.id ?? ids[pick % ids.length];
  const net = cluster.network;
  const others = (id: number): number[] => ids.filter((other) => other !== id);
  switch (mode) {
    case 'split': {
      const rotated = rotate(ids, pick);
      const minority = 1 + (pick % Math.floor(ids.length / 2));
      return net.partition([rotated.slice(0, minority), rotated.slice(minority)]);
    }
    case 'isolate': {
      const id = ids[pick % ids.length];
      return net.partition([[id], others(id)]);
    }
    case 'isolate-leader':
      return net.partition([[leaderId], others(leaderId)]);
    case 'one-way': {
      const id = ids[pick % ids.length];
      return net.blockOneWay([id], others(id));
    }
    case 'one-way-leader':
      return net.blockOneWay(others(leaderId), [leaderId]);
    case 'bridge': {
      const rotated = rotate(ids, pick);
      const half = Math.ceil(rotated.length / 2);
      return net.bridge(rotated.slice(0, half), rotated[half - 1], rotated.slice(half - 1));
    }
    default: {
      const never: never = mode;
      throw new Error(`unknown partition mode ${String(never)}`);
    }
  }
}

function crash(
  cluster: Cluster,
  args: { pick: number; leader: boolean; restartAfterMs: number },
): void {
  const up = cluster.nodeIds().filter((id) => cluster.node(id)?.up === true);
  if (up.length === 0) return;
  const target = (args.leader ? cluster.leader()?.id : undefined) ?? up[args.pick % up.length];
  cluster.crash(target);
  if (args.restartAfterMs > 0) {
    cluster.scheduler.after(args.restartAfterMs, () => cluster.restart(target));
  }
}

function confChange(cluster: Cluster, op: ConfChangeOp, pick: number): void {
  if (op === 'add-learner') return cluster.addNode(ConfChangeType.AddLearner);
  if (op === 'add-voter') return cluster.addNode(ConfChangeType.AddNode);
  const leader = cluster.leader();
  if (leader === undefined) return;
  const { voters, learners } = leader.status().confState;
  if (op === 'promote' && learners.length > 0) {
    cluster.proposeConfChange(ConfChangeType.AddNode, learners[pick % learners.length]);
  } else if (op === 'remove-learner' && learners.length > 0) {
    cluster.proposeConfChange(ConfChangeType.RemoveNode, learners[pick % learners.length]);
  } else if (op === 'remove-voter' && voters.length > VOTERS_MIN) {
    cluster.proposeConfChange(ConfChangeType.RemoveNode, voters[pick % voters.length]);
  }
}

/** campaign makes `count` voters (not the leader) start an election at the same moment. */
function campaign(cluster: Cluster, pick: number, count: number): void {
  const up = cluster.upNodes().filter((node) => {
    const status = node.status();
    return status.role !== Role.Leader && status.confState.voters.includes(node.id);
  });
  for (const node of rotate(up, pick).slice(0, Math.max(1, count))) {
    node.rawNode().campaign();
    cluster.touched(node);
  }
}
