/**
 * MetaService: the cluster's metadata, kept in group 0 (the metadata group), and the mover
 * that makes each group's Raft membership follow the layout's targets.
 *
 * The layout is one key of group 0 (LAYOUT_KEY), written only on the metadata leader, only by
 * a compare-and-set on the key's mod index, through one queue: every change is checked against
 * the layout it replaces and bumps the epoch exactly once. Every node adopts a newer layout
 * when it sees one (node.ts: from its own metadata replica, or by polling).
 *
 * The mover runs on the metadata leader, a round every MOVER_INTERVAL_MS. It is stateless: each
 * round it asks every node for its status, takes each group's membership from the group's
 * leader, and takes the next step for groups whose membership differs from their target:
 *   1. a learner not in the target is removed (a move rolled back);
 *   2. a target node missing from the group is added as a learner (its node creates an empty
 *      replica; the leader fills it by snapshot, then log);
 *   3. a caught-up learner of the target is promoted to voter;
 *   4. once every target node is a caught-up voter, a voter outside the target is removed,
 *      after its leadership (if it leads) was handed to a target voter.
 * So a group never has fewer caught-up voters than its target, at most MOVES_MAX groups are
 * mid-move, and a crash of any node leaves a membership from which the next round goes on.
 * Leaders of draining nodes are transferred away before any of their replicas move. Each round
 * ends by writing the observed memberships into the layout (one epoch for all of a round's
 * changes) so clients route to the real members.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeStatusResponse, type NodeStatus } from './admin-codec.js';
import { ConfChangeType, EMPTY_BYTES, Role, type GroupId, type NodeId } from '../raft/index.js';
import {
  META_GROUP_ID,
  groupEntry,
  groupSettled,
  groupsOf,
  parseClusterLayout,
  type ClusterLayout,
  type GroupReplicas,
} from '../ring/index.js';
import { AdminCallError } from './admin-calls.js';
import { strata as pb } from './admin-gen/admin.js';
import type { strata as AdminTypes } from './admin-gen/admin-types.js';
import { statusOf } from './admin-service.js';
import { encodeCommand } from './kv-codec.js';
import { CompareResult, CompareTarget } from './kv-types.js';
import {
  ADMIN_OPS,
  ChangeRefused,
  planChange,
  type AdminOp,
  type ChangeInput,
} from './meta-changes.js';
import { LAYOUT_KEY, StoreError, readStoredLayout, type StoreNode } from './node.js';

/** META_LIMITS are the metadata service's bounds (docs/operations.md). */
export const META_LIMITS = {
  /** Groups mid-move at once, cluster-wide. */
  movesMax: 4,
  /** Pause between mover rounds (a round with work is followed by the next at once). */
  moverIntervalMs: 500,
  /**
   * Pause between rounds while the cluster is settled (no move, no joining node): a round asks
   * every node for the status of every group, which at 1,000 groups per node allocated tens of
   * MB/s and kept V8's heap large. A layout change starts a round at once.
   */
  moverIdleIntervalMs: 5_000,
  /** A learner within this many entries of the leader's last index counts as caught up. */
  catchUpLagEntries: 64,
  /** Deadline of one Admin call the mover or a forwarded change makes. */
  callDeadlineMs: 3_000,
  /** Deadline of a node's status probe (a node that misses it counts as down). */
  probeDeadlineMs: 1_000,
} as const;

/** RoundState is how a mover round ended (it sets the pause before the next). */
type RoundState = 'busy' | 'pending' | 'settled';

/** GroupView is a group's membership as its leader sees it. */
interface GroupView {
  leader: NodeId;
  term: number;
  voters: NodeId[];
  learners: NodeId[];
  lastIndex: number;
  match: Map<NodeId, number>;
}

/** MetaService serves layout changes and runs the mover on the metadata leader. */
export class MetaService {
  readonly #node: StoreNode;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #roundRunning = false;
  #stopped = false;
  #lastError = '';
  /** stats count the mover's work (tests and `strata admin status` read them). */
  readonly stats = { rounds: 0, steps: 0, transfers: 0, layoutWrites: 0 };

  constructor(node: StoreNode) {
    this.#node = node;
  }

  /** start starts the mover's rounds. */
  start(): void {
    this.#schedule(META_LIMITS.moverIntervalMs);
  }

  /** stop stops the mover. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** isLeader says whether this node leads the metadata group. */
  isLeader(): boolean {
    const meta = this.#node.groups.get(META_GROUP_ID);
    return meta !== undefined && meta.role === Role.Leader;
  }

  /** leaderAddress is the metadata leader's address as known here ('' if unknown). */
  leaderAddress(): string {
    const meta = this.#node.groups.get(META_GROUP_ID);
    const leader = meta?.raw.leaderId() ?? 0;
    return leader ? this.#node.addressOf(leader as NodeId) : '';
  }

  /**
   * change plans and commits one layout change (this node must lead the metadata group).
   * Throws ChangeRefused (refusals), StoreError (not the leader, storage).
   */
  change(input: ChangeInput): Promise<{ layout: ClusterLayout; message: string; nodeId: number }> {
    return this.#serialized(async () => {
      if (input.op === 'transfer-leader') return this.#transferLeader(input);
      const { layout, modIndex } = await this.#readCurrent();
      const alive = await this.#probeAlive(layout, input);
      const plan = planChange(layout, input, { alive });
      if (plan.layout === null) return { layout, message: plan.message, nodeId: plan.nodeId };
      await this.#write(plan.layout, modIndex);
      this.#kick();
      return { layout: plan.layout, message: plan.message, nodeId: plan.nodeId };
    });
  }

  /**
   * groupChange takes one membership step on a group this node leads and resolves with the
   * membership once it is applied (a transfer resolves at once).
   */
  async groupChange(
    groupId: GroupId,
    op: string,
    nodeId: NodeId,
  ): Promise<{ voters: NodeId[]; learners: NodeId[] }> {
    const group = this.#node.requireGroup(groupId);
    if (group.role !== Role.Leader) {
      throw new StoreError(
        'NOT_LEADER',
        `node ${this.#node.config.nodeId} does not lead group ${groupId}`,
        group.raw.leaderId(),
      );
    }
    const types: Record<string, ConfChangeType> = {
      'add-learner': ConfChangeType.AddLearner,
      promote: ConfChangeType.AddNode,
      remove: ConfChangeType.RemoveNode,
    };
    if (op === 'transfer-leader') {
      group.raw.transferLeader(nodeId);
      this.#node.schedule();
    } else if (op in types) {
      const promise = group.proposeConfChange({ type: types[op]!, nodeId, context: EMPTY_BYTES });
      this.#node.schedule();
      await promise;
    } else {
      throw new StoreError('INVALID_ARGUMENT', `unknown group change '${op}'`);
    }
    const conf = group.raw.status().confState;
    return { voters: conf.voters, learners: conf.learners };
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** #readCurrent reads the stored layout after a linearizable barrier on group 0. */
  async #readCurrent(): Promise<{ layout: ClusterLayout; modIndex: number }> {
    if (!this.isLeader()) {
      throw new StoreError(
        'NOT_LEADER',
        'this node does not lead the metadata group',
        this.#node.leaderOf(META_GROUP_ID),
      );
    }
    await this.#node.linearizableBarrier(META_GROUP_ID);
    const stored = await readStoredLayout(this.#node.sm);
    if (stored) return stored;
    return { layout: this.#node.layout, modIndex: 0 };
  }

  /** #write commits `next` if the stored layout is still at `modIndex` (0: absent). */
  async #write(next: ClusterLayout, modIndex: number): Promise<void> {
    const checked = parseClusterLayout(JSON.parse(JSON.stringify(next)) as unknown);
    const key = LAYOUT_KEY;
    const compare =
      modIndex === 0
        ? { key, result: CompareResult.Equal, target: CompareTarget.Exists as const, exists: false }
        : { key, result: CompareResult.Equal, target: CompareTarget.ModIndex as const, modIndex };
    const value = new TextEncoder().encode(JSON.stringify(checked));
    const command = encodeCommand({
      clientId: 0,
      seq: 0,
      op: {
        type: 'txn',
        txn: {
          compare: [compare],
          success: [{ type: 'put', put: { key, value, prevKv: false, header: null } }],
          failure: [],
          header: null,
        },
      },
    });
    const result = await this.#node.propose(META_GROUP_ID, command);
    if (result.type !== 'response' || result.response.type !== 'txn') {
      throw new StoreError('INTERNAL', 'the layout write had no txn answer');
    }
    if (!result.response.txn.succeeded) {
      throw new StoreError('CONFLICT', 'the layout changed meanwhile; try again');
    }
    this.stats.layoutWrites++;
    this.#node.adoptLayout(checked);
  }

  /** #probeAlive returns the nodes that answer a status probe (only when the op needs it). */
  async #probeAlive(layout: ClusterLayout, input: ChangeInput): Promise<Set<number>> {
    if (input.op === 'add-node') {
      await this.#checkNewNode(input.address);
      return new Set();
    }
    if (input.op === 'remove-node') return new Set();
    const statuses = await this.#statuses(layout);
    return new Set(statuses.keys());
  }

  /** #checkNewNode refuses an address where a node of another cluster (or a member) answers. */
  async #checkNewNode(address: string): Promise<void> {
    let answer;
    try {
      const bytes = await this.#node.admin.call(
        address,
        'Cluster',
        pb.admin.ClusterRequest.encode({}).finish(),
        META_LIMITS.probeDeadlineMs,
      );
      answer = pb.admin.ClusterResponse.decode(bytes);
    } catch {
      return; // nothing answers there yet: the node registers now and starts later (--join)
    }
    if (answer.clusterId !== this.#node.config.clusterId) {
      throw new ChangeRefused(
        `add-node: the node at ${address} belongs to cluster '${answer.clusterId}', not '${this.#node.config.clusterId}'`,
      );
    }
  }

  /**
   * #transferLeader hands a group's leadership to one of its voters and, when that voter is in
   * the group's target, makes it the preferred leader (first in the target) so that the
   * leader hand-back keeps it there rather than undoing the transfer.
   */
  async #transferLeader(
    input: ChangeInput,
  ): Promise<{ layout: ClusterLayout; message: string; nodeId: number }> {
    const { layout: current, modIndex } = await this.#readCurrent();
    let layout = current;
    const entry = input.groupId >= 1 ? groupEntry(layout, input.groupId) : undefined;
    if (!entry)
      throw new ChangeRefused(
        `transfer-leader: group ${input.groupId} is not in 1..${layout.groupCount}`,
        true,
      );
    const statuses = await this.#statuses(layout);
    const view = viewsOf(statuses).get(entry.groupId);
    if (!view)
      throw new ChangeRefused(
        `transfer-leader: group ${input.groupId} has no leader now; try again`,
      );
    if (!view.voters.includes(input.toNode as NodeId)) {
      throw new ChangeRefused(
        `transfer-leader: node ${input.toNode} is not a voter of group ${input.groupId} (voters ${view.voters.join(', ')})`,
        true,
      );
    }
    if (!statuses.has(input.toNode))
      throw new ChangeRefused(`transfer-leader: node ${input.toNode} is down`);
    const to = input.toNode as NodeId;
    if (entry.groupId !== 0 && entry.target.includes(to) && entry.target[0] !== to) {
      const target = [to, ...entry.target.filter((node) => node !== to)];
      // The replicas in the order the mover writes them (target order first), so that its next
      // round finds nothing to record.
      const replicas = orderedReplicas(target, entry.replicas);
      const placement = layout.placement.map((g) =>
        g.groupId === entry.groupId ? { ...g, target, replicas } : g,
      );
      layout = { ...layout, epoch: layout.epoch + 1, placement };
      await this.#write(layout, modIndex);
      this.#kick();
    }
    if (view.leader !== input.toNode)
      await this.#groupCall(
        layout,
        view.leader,
        entry.groupId,
        'transfer-leader',
        input.toNode as NodeId,
      );
    return {
      layout,
      message:
        `group ${input.groupId}: leadership goes from node ${view.leader} to node ${input.toNode}` +
        (layout === current ? '' : ` (now its preferred leader)`),
      nodeId: input.toNode,
    };
  }

  /** #statuses asks every live node for its status; nodes that do not answer are left out. */
  async #statuses(layout: ClusterLayout): Promise<Map<number, NodeStatus>> {
    const statuses = new Map<number, NodeStatus>();
    const request = pb.admin.StatusRequest.encode({}).finish();
    await Promise.all(
      layout.nodes
        .filter((n) => n.state !== 'removed')
        .map(async (n) => {
          try {
            const bytes =
              n.id === this.#node.config.nodeId
                ? pb.admin.StatusResponse.encode(statusOf(this.#node)).finish()
                : await this.#node.admin.call(
                    n.address,
                    'Status',
                    request,
                    META_LIMITS.probeDeadlineMs,
                  );
            const status = decodeStatusResponse(bytes);
            if (status.clusterId === this.#node.config.clusterId && status.nodeId === n.id) {
              statuses.set(n.id, status);
            }
          } catch {
            // down or unreachable: left out
          }
        }),
    );
    return statuses;
  }

  async #groupCall(
    layout: ClusterLayout,
    leader: NodeId,
    groupId: GroupId,
    op: string,
    nodeId: NodeId,
  ): Promise<void> {
    if (leader === this.#node.config.nodeId) {
      await this.groupChange(groupId, op, nodeId);
      return;
    }
    const address = layout.nodes.find((n) => n.id === leader)?.address;
    if (!address) return;
    const request = pb.admin.GroupChangeRequest.encode({ groupId, op, nodeId }).finish();
    await this.#node.admin.call(address, 'GroupChange', request, META_LIMITS.callDeadlineMs);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#round().then((state) => {
        if (this.#timer) return; // kicked meanwhile
        const delays = {
          busy: 50,
          pending: META_LIMITS.moverIntervalMs,
          settled: META_LIMITS.moverIdleIntervalMs,
        };
        this.#schedule(delays[state]);
      });
    }, delayMs);
  }

  /** #kick starts a round soon (after a layout change). */
  #kick(): void {
    if (!this.#roundRunning) this.#schedule(50);
  }

  /**
   * #round runs one mover round; resolves `busy` when it took a step (more may follow),
   * `settled` when every group is on its target and no node is joining, else `pending`.
   */
  async #round(): Promise<RoundState> {
    if (this.#roundRunning || !this.isLeader()) return 'pending';
    this.#roundRunning = true;
    try {
      return await this.#serialized(() => this.#roundWork());
    } catch (error) {
      // Lost leadership, a conflict, a node down: the next round starts over. Said once per
      // distinct message so a stuck mover is visible in the node's log without flooding it.
      const message = error instanceof Error ? error.message : String(error);
      if (message !== this.#lastError) {
        this.#lastError = message;
        process.stderr.write(`strata node ${this.#node.config.nodeId}: mover: ${message}\n`);
      }
      return 'pending';
    } finally {
      this.#roundRunning = false;
    }
  }

  async #roundWork(): Promise<RoundState> {
    this.stats.rounds++;
    const { layout, modIndex } = await this.#readCurrent();
    const statuses = await this.#statuses(layout);
    const alive = new Set(statuses.keys());
    const views = viewsOf(statuses);
    let next = layout;
    // Joining nodes that answer are up.
    if (layout.nodes.some((n) => n.state === 'joining' && alive.has(n.id))) {
      next = {
        ...next,
        nodes: next.nodes.map((n) =>
          n.state === 'joining' && alive.has(n.id) ? { ...n, state: 'up' as const } : n,
        ),
      };
    }
    const steps: Promise<void>[] = [];
    // Draining nodes give up their leaderships first.
    const draining = new Set(
      layout.nodes.filter((n) => n.state === 'draining').map((n) => n.id as number),
    );
    let transfers = 0;
    for (const entry of groupsOf(layout)) {
      const view = views.get(entry.groupId);
      if (!view || !draining.has(view.leader)) continue;
      const to = bestVoter(view, entry.target, alive, draining);
      if (to === 0) continue;
      transfers++;
      steps.push(
        this.#groupCall(layout, view.leader, entry.groupId, 'transfer-leader', to).catch(
          () => undefined,
        ),
      );
    }
    this.stats.transfers += transfers;
    let moving = groupsOf(layout).filter((entry) =>
      isMoving(entry, views.get(entry.groupId)),
    ).length;
    if (transfers === 0) {
      for (const entry of groupsOf(layout)) {
        const view = views.get(entry.groupId);
        if (!view) continue;
        const wasMoving = isMoving(entry, view);
        if (!wasMoving && moving >= META_LIMITS.movesMax) continue;
        const step =
          this.#node.mutation === 'remove-before-add'
            ? (removeFirst(entry, view) ?? nextStep(entry, view, alive))
            : nextStep(entry, view, alive);
        if (!step) continue;
        if (!wasMoving) moving++;
        this.stats.steps++;
        steps.push(
          this.#groupCall(layout, view.leader, entry.groupId, step.op, step.node).catch(
            () => undefined,
          ),
        );
      }
    }
    await Promise.all(steps);
    // Record the memberships as they are now (after this round's steps).
    const after = steps.length > 0 ? viewsOf(await this.#statuses(layout)) : views;
    const observed = observedLayout(next, after);
    if (observed !== layout) await this.#write({ ...observed, epoch: layout.epoch + 1 }, modIndex);
    if (steps.length > 0) return 'busy';
    const settled =
      observed === layout &&
      !layout.nodes.some((n) => n.state === 'joining') &&
      groupsOf(layout).every((entry) => !isMoving(entry, after.get(entry.groupId)));
    return settled ? 'settled' : 'pending';
  }
}

/** viewsOf picks, for each group, the membership reported by its leader of highest term. */
function viewsOf(statuses: ReadonlyMap<number, NodeStatus>): Map<GroupId, GroupView> {
  const views = new Map<GroupId, GroupView>();
  for (const status of statuses.values()) {
    for (const group of status.groups) {
      if (group.role !== 'leader') continue;
      const known = views.get(group.groupId as GroupId);
      if (known && known.term >= group.term) continue;
      views.set(group.groupId as GroupId, {
        leader: status.nodeId as NodeId,
        term: group.term,
        voters: group.voters as NodeId[],
        learners: group.learners as NodeId[],
        lastIndex: group.lastIndex,
        match: new Map(group.progress.map((p) => [p.nodeId as NodeId, p.match])),
      });
    }
  }
  return views;
}

/** isMoving says whether a group's membership differs from its target. */
function isMoving(entry: GroupReplicas, view: GroupView | undefined): boolean {
  if (!view) return !groupSettled(entry);
  return view.learners.length > 0 || !sameSet(view.voters, entry.target);
}

function caughtUp(view: GroupView, node: NodeId): boolean {
  if (node === view.leader) return true;
  const match = view.match.get(node) ?? 0;
  return match > 0 && match + META_LIMITS.catchUpLagEntries >= view.lastIndex;
}

/** nextStep is the one membership step a group takes next (null: none, or not yet). */
function nextStep(
  entry: GroupReplicas,
  view: GroupView,
  alive: ReadonlySet<number>,
): { op: string; node: NodeId } | null {
  const target = entry.target;
  const stray = view.learners.find((node) => !target.includes(node));
  if (stray !== undefined) return { op: 'remove', node: stray };
  const promotable = view.learners.find((node) => target.includes(node) && caughtUp(view, node));
  if (promotable !== undefined) return { op: 'promote', node: promotable };
  if (view.learners.length > 0) return null; // a learner is catching up
  const missing = target.find((node) => !view.voters.includes(node) && alive.has(node));
  if (missing !== undefined) return { op: 'add-learner', node: missing };
  if (!target.every((node) => view.voters.includes(node) && caughtUp(view, node))) return null;
  const extra = view.voters.find((node) => !target.includes(node));
  if (extra === undefined) return null;
  if (extra === view.leader) {
    const to = bestVoter(view, target, alive, new Set());
    return to === 0 ? null : { op: 'transfer-leader', node: to };
  }
  return { op: 'remove', node: extra };
}

/** removeFirst is the `remove-before-add` bug: drop a non-leader voter outside the target. */
function removeFirst(entry: GroupReplicas, view: GroupView): { op: string; node: NodeId } | null {
  const extra = view.voters.find((node) => !entry.target.includes(node) && node !== view.leader);
  return extra === undefined ? null : { op: 'remove', node: extra };
}

/** bestVoter picks a caught-up, live voter of the target to lead (0: none). */
function bestVoter(
  view: GroupView,
  target: readonly NodeId[],
  alive: ReadonlySet<number>,
  avoid: ReadonlySet<number>,
): NodeId {
  const candidates = target.filter(
    (node) =>
      node !== view.leader &&
      view.voters.includes(node) &&
      alive.has(node) &&
      !avoid.has(node) &&
      caughtUp(view, node),
  );
  return candidates[0] ?? (0 as NodeId);
}

/**
 * observedLayout returns `layout` with each group's replicas and learners as its leader now
 * reports them (target members first, in target order), or `layout` itself if none changed.
 */
function observedLayout(
  layout: ClusterLayout,
  views: ReadonlyMap<GroupId, GroupView>,
): ClusterLayout {
  let changed = false;
  const observe = (entry: GroupReplicas): GroupReplicas => {
    const view = views.get(entry.groupId);
    if (!view) return entry;
    const members = [...view.voters, ...view.learners];
    const replicas = orderedReplicas(entry.target, members);
    const learners = [...view.learners].sort((a, b) => a - b);
    if (sameList(replicas, entry.replicas) && sameList(learners, entry.learners)) return entry;
    changed = true;
    return { ...entry, replicas, learners };
  };
  const metaGroup = observe(layout.metaGroup);
  const placement = layout.placement.map(observe);
  return changed ? { ...layout, metaGroup, placement } : layout;
}

/** orderedReplicas lists `members` with the target's nodes first, in target order. */
function orderedReplicas(target: readonly NodeId[], members: readonly NodeId[]): NodeId[] {
  return [
    ...target.filter((node) => members.includes(node)),
    ...members.filter((node) => !target.includes(node)).sort((a, b) => a - b),
  ];
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** changeInputOf validates a ChangeRequest's op (the planner checks the rest). */
export function changeInputOf(request: AdminTypes.admin.ChangeRequest.$Properties): ChangeInput {
  const op = request.op as AdminOp;
  if (!ADMIN_OPS.includes(op)) {
    throw new ChangeRefused(
      `unknown change '${request.op}' (known: ${ADMIN_OPS.join(', ')})`,
      true,
    );
  }
  const num = (value: unknown): number => Number(value ?? 0);
  return {
    op,
    nodeId: num(request.nodeId),
    groupId: num(request.groupId),
    fromNode: num(request.fromNode),
    toNode: num(request.toNode),
    address: request.address ?? '',
  };
}

/** grpcCodeOf maps a change failure to a gRPC status code. */
export function grpcCodeOf(error: unknown): grpc.status {
  if (error instanceof ChangeRefused)
    return error.invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.FAILED_PRECONDITION;
  if (error instanceof AdminCallError) return error.grpcCode;
  if (
    error instanceof StoreError &&
    (error.code === 'NOT_LEADER' || error.code === 'LEADERSHIP_LOST')
  )
    return grpc.status.UNAVAILABLE;
  return grpc.status.UNAVAILABLE;
}
