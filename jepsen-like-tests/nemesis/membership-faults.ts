/**
 * Membership faults: layout changes made through the Admin service while the workloads run, as
 * an operator would with `strata admin`:
 * - `membership:move`: `move-replica` of one data group from one of its target replicas to a
 *   running node outside its target. The change only sets the target: over the next seconds the
 *   mover on the metadata leader adds the new replica as a learner, fills it, promotes it and
 *   removes the old one, while the next faults (kills, partitions, ...) hit it mid-move;
 * - `membership:leader`: `transfer-leader` of one data group to another of its voters.
 * Each change goes to a node drawn from the step (which passes it on to the metadata leader),
 * and to the other running nodes in turn while none is reached. Nothing is undone at the heal:
 * the heal only notes how far the change got, and the runner waits for every move to finish
 * before the final checks (runner/layout.ts). A change the cluster refuses (a move to a node
 * that is down, a transfer to a node that no longer votes) is logged as refused: refusing it is
 * the cluster's correct answer, not a failure of the fault.
 *
 * A move never sends a group's replica back to a node that held it earlier in the run. A new
 * replica there starts with an empty log; the Raft invariant check tells it from the old one
 * only by a status sample taken while the node held no replica of the group
 * (checks/raft-invariants.ts), and a verdict should not hang on that sample's timing.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClusterLayout } from '../../src/ring/index.js';
import { AdminCallError } from '../../src/store/admin-calls.js';
import type { LayoutChange } from '../runner/cluster.js';
import { NO_HEAL, variantOf, type Heal, type NemesisContext } from './context.js';
import type { NemesisStep } from './schedule.js';

/** MembershipState is what the membership faults remember over one run. */
export class MembershipState {
  /** hosts maps a data group to every node that held or was sent a replica of it. */
  readonly hosts = new Map<number, Set<number>>();
  /** movesMade counts moves the cluster accepted; transfersMade, leadership transfers. */
  movesMade = 0;
  transfersMade = 0;
  /** refused counts changes the cluster refused; unreached, those no node took. */
  refused = 0;
  unreached = 0;

  /** remember adds every member and target node of every group of `layout` to hosts. */
  remember(layout: ClusterLayout): void {
    for (const entry of layout.placement) {
      for (const node of [...entry.replicas, ...entry.learners, ...entry.target]) {
        this.hostsOf(entry.groupId).add(node);
      }
    }
  }

  /** hostsOf returns the set of nodes that held or were sent a replica of `groupId`. */
  hostsOf(groupId: number): Set<number> {
    let set = this.hosts.get(groupId);
    if (!set) this.hosts.set(groupId, (set = new Set()));
    return set;
  }

  /** summary renders the counts in one line. */
  summary(): string {
    return (
      `${this.movesMade} moves and ${this.transfersMade} leadership transfers made, ` +
      `${this.refused} changes refused, ${this.unreached} not reached`
    );
  }
}

/** MoveChoice is one replica move. */
export interface MoveChoice {
  groupId: number;
  fromNode: number;
  toNode: number;
}

/**
 * chooseMove draws from `picks` a data group that has somewhere to go, one of its target
 * replicas and a destination: a node that is up in the layout, in `running`, outside the
 * group's target and never a host of it (`hosts`). Null when no group has a destination (pure).
 */
export function chooseMove(
  layout: ClusterLayout,
  hosts: ReadonlyMap<number, ReadonlySet<number>>,
  running: readonly number[],
  picks: readonly number[],
): MoveChoice | null {
  const up = layout.nodes.filter((n) => n.state === 'up').map((n) => n.id as number);
  const options = layout.placement
    .map((entry) => ({
      entry,
      destinations: up.filter(
        (id) =>
          running.includes(id) &&
          !(entry.target as readonly number[]).includes(id) &&
          !hosts.get(entry.groupId)?.has(id),
      ),
    }))
    .filter((option) => option.destinations.length > 0 && option.entry.target.length > 0);
  if (options.length === 0) return null;
  const { entry, destinations } = options[picks[0]! % options.length]!;
  return {
    groupId: entry.groupId,
    fromNode: entry.target[picks[1]! % entry.target.length]!,
    toNode: destinations[picks[2]! % destinations.length]!,
  };
}

/** ChangeOutcome is what became of one layout change. */
type ChangeOutcome =
  | { kind: 'made'; via: number; message: string }
  | { kind: 'refused'; via: number; reason: string }
  | { kind: 'unreached'; errors: string[] };

function isRefusal(error: unknown): error is AdminCallError {
  return (
    error instanceof AdminCallError &&
    (error.grpcCode === grpc.status.FAILED_PRECONDITION ||
      error.grpcCode === grpc.status.INVALID_ARGUMENT)
  );
}

/**
 * sendChange sends `change` to the running nodes, starting with the one `pick` draws, until one
 * answers; a refusal is final. Bounded: one call (CHANGE_CALL_MS) per node.
 */
async function sendChange(
  ctx: NemesisContext,
  change: LayoutChange,
  pick: number,
): Promise<ChangeOutcome> {
  const running = runningNodes(ctx);
  const start = running.length > 0 ? pick % running.length : 0;
  const order = [...running.slice(start), ...running.slice(0, start)];
  const errors: string[] = [];
  for (const via of order) {
    try {
      return { kind: 'made', via, message: await ctx.cluster.change(via, change) };
    } catch (error) {
      if (isRefusal(error)) return { kind: 'refused', via, reason: error.message };
      errors.push(`node ${via}: ${(error as Error).message}`);
    }
  }
  return { kind: 'unreached', errors };
}

function runningNodes(ctx: NemesisContext): number[] {
  return ctx.cluster.ids().filter((id) => ctx.cluster.isRunning(id) && !ctx.cluster.isPaused(id));
}

/** noteUnmade logs a change that was refused or reached no node, and counts it. */
function noteUnmade(step: NemesisStep, ctx: NemesisContext, what: string, outcome: ChangeOutcome) {
  if (outcome.kind === 'refused') {
    ctx.membership.refused++;
    ctx.log.add(step.name, 'note', `refused: ${what} (via node ${outcome.via}): ${outcome.reason}`);
  } else if (outcome.kind === 'unreached') {
    ctx.membership.unreached++;
    ctx.log.add(step.name, 'note', `not made: ${what}: ${outcome.errors.join('; ')}`);
  }
}

async function moveFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const layout = await ctx.cluster.layout();
  if (!layout) {
    ctx.log.add(step.name, 'note', 'no node answered Admin.Cluster; no move');
    return NO_HEAL;
  }
  ctx.membership.remember(layout);
  const choice = chooseMove(layout, ctx.membership.hosts, runningNodes(ctx), step.picks);
  if (!choice) {
    ctx.log.add(step.name, 'note', 'every group has already been on every running node; no move');
    return NO_HEAL;
  }
  const { groupId, fromNode, toNode } = choice;
  const what = `move group ${groupId} from node ${fromNode} to node ${toNode}`;
  const change = { op: 'move-replica', groupId, fromNode, toNode } as const;
  const outcome = await sendChange(ctx, change, step.picks[3]!);
  // Unreached may still have been made (the answer lost): the node counts as a host either way.
  if (outcome.kind !== 'refused') ctx.membership.hostsOf(groupId).add(toNode);
  if (outcome.kind !== 'made') {
    noteUnmade(step, ctx, what, outcome);
    return NO_HEAL;
  }
  ctx.membership.movesMade++;
  ctx.log.add(step.name, 'start', `${what} (via node ${outcome.via}): ${outcome.message}`);
  return async () => {
    const now = await ctx.cluster.layout();
    const entry = now?.placement[groupId - 1];
    const progress = entry
      ? `replicas ${entry.replicas.join(',')}, learners ${entry.learners.join(',') || '-'}, ` +
        `target ${entry.target.join(',')}`
      : 'layout unknown';
    ctx.log.add(
      step.name,
      'heal',
      `group ${groupId} now: ${progress} (moves finish by themselves)`,
    );
  };
}

/** votersOf returns `groupId`'s voters as its leader reports them (empty without a leader). */
async function votersOf(ctx: NemesisContext, groupId: number, leader: number): Promise<number[]> {
  const status = await ctx.cluster.status(leader);
  const group = status?.groups?.find((g) => Number(g.groupId ?? 0) === groupId);
  return group?.role === 'leader' ? (group.voters ?? []).map(Number) : [];
}

async function leaderFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const groupId = (step.picks[0]! % ctx.cluster.spec.groupCount) + 1;
  const leader = await ctx.cluster.leaderOf(groupId);
  const running = runningNodes(ctx);
  const others = leader === 0 ? [] : await votersOf(ctx, groupId, leader);
  const candidates = others.filter((id) => id !== leader && running.includes(id));
  if (candidates.length === 0) {
    ctx.log.add(
      step.name,
      'note',
      `group ${groupId} has no leader with another running voter now; no transfer`,
    );
    return NO_HEAL;
  }
  const toNode = candidates[step.picks[1]! % candidates.length]!;
  const what = `transfer the leadership of group ${groupId} from node ${leader} to node ${toNode}`;
  const change = { op: 'transfer-leader', groupId, toNode } as const;
  const outcome = await sendChange(ctx, change, step.picks[3]!);
  if (outcome.kind !== 'made') {
    noteUnmade(step, ctx, what, outcome);
    return NO_HEAL;
  }
  ctx.membership.transfersMade++;
  ctx.log.add(step.name, 'start', `${what} (via node ${outcome.via}): ${outcome.message}`);
  return async () => {
    const now = await ctx.cluster.leaderOf(groupId);
    ctx.log.add(step.name, 'heal', `group ${groupId} is led by node ${now || 'none'}`);
  };
}

/** membershipFault runs a `membership:*` step (see above). */
export async function membershipFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  switch (variantOf(step)) {
    case 'move':
      return moveFault(step, ctx);
    case 'leader':
      return leaderFault(step, ctx);
    default:
      throw new Error(`unknown membership nemesis ${step.name}`);
  }
}
