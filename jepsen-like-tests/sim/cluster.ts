/**
 * Cluster wires the simulated replicas, network, clients and safety checker to one
 * discrete-event loop. One seed drives everything: the driver's choices, the network's fate of
 * each message, each replica's election jitter, the clients' operations. After every event the
 * replicas it touched get their Ready cycle started and their status checked.
 */
import {
  ConfChangeType,
  EMPTY_BYTES,
  MemoryStorage,
  MessageType,
  NotLeaderError,
  ProposalDroppedError,
  Role,
  NONE,
  nodeId,
  type ConfChange,
  type Entry,
  type Message,
  type Mutation,
  type RaftConfigInput,
  type Ready,
  type Snapshot,
} from '../../src/raft/index.js';
import { ClientPool, type ClientOptions } from './clients.js';
import {
  PropertyViolation,
  SafetyChecker,
  type ReadyContext,
  type StorageView,
} from './invariants.js';
import { encodeCommand, type KvCommand, type KvResult } from './kv.js';
import { Network } from './network.js';
import { SimNode, type NodeHooks } from './node.js';
import { Random } from './random.js';
import { Scheduler } from './scheduler.js';
import { Triggers } from './triggers.js';

/** ClusterOptions configures one simulated cluster. */
export interface ClusterOptions {
  seed: number;
  nodeCount: number;
  /** Take a snapshot every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept below the snapshot when compacting. */
  snapshotTrailing: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** quiesceTicks: idle groups quiesce (0: off); nodes then ping each other every tick. */
  quiesceTicks: number;
  /** Each node ticks every TICK_MS +- up to this many ms. */
  tickSkewMs: number;
  /** Largest Append payload: small values split the log into many messages. */
  messageBytesMax: number;
  mutation: Mutation | null;
  clients: ClientOptions;
  /** trace receives a line per notable event (leader changes, faults, snapshots) if set. */
  trace?: (line: string) => void;
}

/** TICK_MS is the nominal tick interval of a replica. */
export const TICK_MS = 10;
/** NODES_MAX bounds the number of replicas that exist at once. */
export const NODES_MAX = 7;
/**
 * EVENTS_PER_MS_MAX bounds the work of a run: healthy runs average about 2-5 events per
 * simulated ms; a message loop (replicas answering each other forever) blows through this.
 */
export const EVENTS_PER_MS_MAX = 40;
/**
 * Transports report failures imperfectly: a message cut by a partition is reported to the
 * sender's core as unreachable with this probability, and a snapshot's outcome is reported
 * with SNAPSHOT_REPORT_RATE (the core must cope with the missing reports by itself).
 */
export const UNREACHABLE_REPORT_RATE = 0.5;
/** SNAPSHOT_REPORT_RATE: see UNREACHABLE_REPORT_RATE. */
export const SNAPSHOT_REPORT_RATE = 0.9;
/** VOTERS_MIN is the fewest voters the nemesis leaves when removing one. */
export const VOTERS_MIN = 3;

const CORE_MUTATIONS: readonly Mutation[] = [
  'commit-old-term',
  'read-without-readindex',
  'vote-without-log-check',
];

/** ClusterStats counts what happened in a run (to show the faults really happened). */
export interface ClusterStats {
  crashes: number;
  restarts: number;
  snapshotsCreated: number;
  snapshotsInstalled: number;
  confChangesProposed: number;
  transfers: number;
  nodesAdded: number;
  nodesRemoved: number;
}

/** Cluster is the simulated world of one run. */
export class Cluster implements NodeHooks {
  readonly scheduler = new Scheduler();
  readonly random: Random;
  readonly network: Network;
  readonly checker: SafetyChecker;
  readonly clients: ClientPool;
  readonly triggers: Triggers;
  readonly nodes = new Map<number, SimNode>();
  readonly stats: ClusterStats = {
    crashes: 0,
    restarts: 0,
    snapshotsCreated: 0,
    snapshotsInstalled: 0,
    confChangesProposed: 0,
    transfers: 0,
    nodesAdded: 0,
    nodesRemoved: 0,
  };
  readonly sendBeforePersist: boolean;
  readonly snapshotEvery: number;
  readonly snapshotTrailing: number;
  private readonly touchedNodes = new Set<SimNode>();
  /** The leadership each leader was last seen with (for the elected/first-commit triggers). */
  private readonly leaderships = new Map<number, { term: number; life: number; commit: number }>();
  private readonly raftConfig: Omit<RaftConfigInput, 'id' | 'groupId' | 'random'>;
  private nextNodeId: number;
  /** Liveness probes waiting to be applied, by (negative) op id. */
  private readonly probes = new Map<number, (index: number) => void>();
  private nextProbe = 1;

  constructor(readonly options: ClusterOptions) {
    this.random = new Random(options.seed);
    this.network = new Network(this.random.fork());
    this.checker = new SafetyChecker(() => this.scheduler.nowMs);
    this.triggers = new Triggers({
      after: (delayMs, action) => this.scheduler.after(delayMs, action),
      crash: (id) => this.crash(id),
      restart: (id) => this.restart(id),
      isolate: (id) => this.isolate(id),
      log: (line) => this.log(line),
    });
    this.sendBeforePersist = options.mutation === 'send-before-persist';
    this.snapshotEvery = options.snapshotEvery;
    this.snapshotTrailing = options.snapshotTrailing;
    const mutations = new Set<Mutation>();
    if (options.mutation !== null && CORE_MUTATIONS.includes(options.mutation)) {
      mutations.add(options.mutation);
    }
    this.raftConfig = {
      electionTicks: 10,
      heartbeatTicks: 1,
      preVote: options.preVote,
      checkQuorum: options.checkQuorum,
      messageBytesMax: options.messageBytesMax,
      inflightMessagesMax: 16,
      snapshotTimeoutTicks: 30,
      quiesceTicks: options.quiesceTicks,
      mutations,
      unsafeAllowMutations: mutations.size > 0,
    };
    const voters = [];
    for (let id = 1; id <= options.nodeCount; id++) voters.push(nodeId(id));
    for (const id of voters) {
      this.createNode(id, MemoryStorage.bootstrap({ voters: voters.slice(), learners: [] }));
    }
    this.nextNodeId = options.nodeCount + 1;
    this.clients = new ClientPool(this, this.random.fork(), options.clients);
    for (const node of this.nodes.values()) this.startNode(node);
  }

  private createNode(id: number, storage: MemoryStorage): SimNode {
    const skew = this.options.tickSkewMs;
    const tickMs = TICK_MS + (skew === 0 ? 0 : this.random.int(-skew, skew));
    const node = new SimNode(nodeId(id), storage, tickMs, this);
    this.nodes.set(id, node);
    return node;
  }

  private startNode(node: SimNode): void {
    const forgetVote = this.options.mutation === 'forget-vote-on-restart' && node.life > 0;
    node.start(this.random.seed32(), forgetVote);
    this.checker.observeStart(node.id, node.life, node.status(), node.storage);
    this.touched(node);
  }

  /** log traces a line stamped with the simulated time (no-op without options.trace). */
  log(line: string | (() => string)): void {
    const trace = this.options.trace;
    if (trace !== undefined) {
      trace(`t=${this.scheduler.nowMs} ${typeof line === 'string' ? line : line()}`);
    }
  }

  // ----- the event loop -----

  /** runUntil runs every event up to and including `untilMs`; the clock ends at untilMs. */
  runUntil(untilMs: number): void {
    this.settle();
    while (this.scheduler.peekMs() <= untilMs) {
      this.scheduler.runNext();
      this.settle();
      this.checkWorkBound();
    }
    this.scheduler.nowMs = Math.max(this.scheduler.nowMs, untilMs);
  }

  private checkWorkBound(): void {
    const { actionsRun, nowMs } = this.scheduler;
    if (actionsRun > EVENTS_PER_MS_MAX * Math.max(nowMs, 1000)) {
      throw new PropertyViolation(
        'Bounded Work',
        `${actionsRun} events by t=${nowMs}ms ` +
          `(more than ${EVENTS_PER_MS_MAX} per ms): a message loop between replicas?`,
        nowMs,
      );
    }
  }

  /** settle starts the Ready cycles of touched replicas and checks their status. */
  settle(): void {
    for (const node of this.touchedNodes) {
      this.touchedNodes.delete(node);
      if (node.raw === null) continue;
      node.maybeReady();
      node.raw.checkInvariants();
      const status = node.raw.status();
      this.checker.observeStatus(node.id, status, node.storage);
      this.watchLeadership(node, status.role, status.term, status.commit);
    }
  }

  /** watchLeadership fires the 'elected' and 'first-commit' triggers. */
  private watchLeadership(node: SimNode, role: Role, term: number, commit: number): void {
    if (role !== Role.Leader) {
      this.leaderships.delete(node.id);
      return;
    }
    const seen = this.leaderships.get(node.id);
    if (seen === undefined || seen.term !== term || seen.life !== node.life) {
      this.leaderships.set(node.id, { term, life: node.life, commit });
      this.triggers.reached('elected', node.id);
    } else if (commit > seen.commit && seen.commit >= 0) {
      seen.commit = -1; // fire once per leadership
      this.triggers.reached('first-commit', node.id);
    }
  }

  // ----- NodeHooks -----

  diskDelayMs(_node: SimNode, ready: Ready): number {
    const writes = ready.entries.length > 0 || ready.snapshot !== null || ready.hardState !== null;
    return writes ? this.random.int(1, 5) : 0;
  }

  raftOptions(): Omit<RaftConfigInput, 'id' | 'groupId' | 'random'> {
    return this.raftConfig;
  }

  send(node: SimNode, messages: Message[]): void {
    const unreachable = new Set<number>();
    for (const message of messages) {
      this.checker.observeSent(message);
      if (!message.reject && message.type === MessageType.VoteResponse) {
        this.triggers.reached('vote', message.from);
      } else if (!message.reject && message.type === MessageType.AppendResponse) {
        this.triggers.reached('append-ack', message.from);
      }
      const delays = this.network.route(message.from, message.to);
      const blocked = delays.length === 0 && this.network.isBlocked(message.from, message.to);
      if (blocked && this.random.chance(UNREACHABLE_REPORT_RATE)) unreachable.add(message.to);
      for (const delay of delays) this.deliverLater(node, message, delay);
      if (delays.length === 0 && message.type === MessageType.Snapshot) {
        this.reportSnapshot(node, node.life, message.to, false);
      }
    }
    if (unreachable.size === 0) return;
    const life = node.life;
    this.scheduler.after(0, () => {
      if (node.life !== life || node.raw === null) return;
      for (const to of unreachable) node.raw.reportUnreachable(nodeId(to));
      this.touched(node);
    });
  }

  /**
   * ticked runs after a node's tick when quiescence is on, as a store node does: it pings every
   * peer through the simulated network (pings obey partitions, loss and delay), and wakes the
   * node's quiesced replica when its leader's node has been silent for an election timeout.
   */
  ticked(node: SimNode): void {
    if (this.options.quiesceTicks === 0) return;
    for (const other of this.nodes.values()) {
      if (other === node) continue;
      for (const delay of this.network.route(node.id, other.id)) {
        this.scheduler.after(delay, () => {
          if (other.up && this.network.arrives(node.id, other.id)) other.heard(node.id);
        });
      }
    }
    const raw = node.raw;
    if (raw === null || !raw.isQuiesced()) return;
    const leader = raw.leaderId();
    if (leader === NONE || leader === node.id) return;
    if (this.scheduler.nowMs - node.heardMs(leader) > 10 * node.tickMs) {
      raw.wake();
      this.touched(node);
    }
  }

  private deliverLater(sender: SimNode, message: Message, delayMs: number): void {
    const senderLife = sender.life;
    this.scheduler.after(delayMs, () => {
      const target = this.nodes.get(message.to);
      const arrived = this.network.arrives(message.from, message.to) && target?.up === true;
      if (arrived) target.deliver(copyMessage(message));
      if (message.type === MessageType.Snapshot) {
        this.reportSnapshot(sender, senderLife, message.to, arrived);
      }
    });
  }

  private reportSnapshot(sender: SimNode, life: number, to: number, ok: boolean): void {
    if (!this.random.chance(SNAPSHOT_REPORT_RATE)) return; // the report got lost
    this.scheduler.after(0, () => {
      if (sender.life !== life || sender.raw === null) return;
      sender.raw.reportSnapshot(nodeId(to), ok);
      this.touched(sender);
    });
  }

  persisted(node: SimNode, ready: Ready, context: ReadyContext, lastIndexBefore: number): void {
    const soft = ready.softState;
    if (soft !== null) {
      this.log(
        () =>
          `node ${node.id} is ${Role[soft.role]} (leader ${soft.leader}, term ` +
          `${ready.hardState?.term ?? node.status().term})`,
      );
    }
    const self: StorageView = { id: node.id, storage: node.storage };
    this.checker.observePersist(self, ready, context, lastIndexBefore, this.storageViews());
  }

  private *storageViews(): Iterable<StorageView> {
    for (const node of this.nodes.values()) yield { id: node.id, storage: node.storage };
  }

  applied(node: SimNode, entry: Entry, command: KvCommand | null, result: KvResult | null): void {
    this.checker.observeApply(node.id, entry);
    this.clients.onApplied(node, entry.index, command, result);
    this.probeApplied(entry.index, command);
  }

  confChangeApplied(_node: SimNode, change: ConfChange): void {
    if (change.type !== ConfChangeType.RemoveNode) return;
    const removed = this.nodes.get(change.nodeId);
    if (removed === undefined || removed.removed) return;
    removed.removed = true;
    this.log(`node ${change.nodeId} removed from the group`);
    this.stats.nodesRemoved++;
    this.scheduler.after(0, () => this.stopNode(removed));
  }

  snapshotInstalled(node: SimNode, snapshot: Snapshot): void {
    this.stats.snapshotsInstalled++;
    this.log(() => `node ${node.id} installed snapshot ${snapshot.metadata.index}`);
    this.checker.observeSnapshotInstalled(node.id, snapshot);
  }

  snapshotCreated(node: SimNode, snapshot: Snapshot): void {
    this.stats.snapshotsCreated++;
    this.checker.observeSnapshotCreated(node.id, snapshot);
  }

  readReady(node: SimNode, context: string): void {
    this.clients.onReadReady(node, context);
  }

  touched(node: SimNode): void {
    this.touchedNodes.add(node);
  }

  // ----- what clients and the nemesis see -----

  /** nodeIds lists the nodes that exist and were not removed (up or down). */
  nodeIds(): number[] {
    const ids: number[] = [];
    for (const node of this.nodes.values()) if (!node.removed) ids.push(node.id);
    return ids;
  }

  /** node returns a node by id. */
  node(id: number): SimNode | undefined {
    return this.nodes.get(id);
  }

  /** upNodes lists the running nodes. */
  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.up);
  }

  /** leader returns the running leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.upNodes()) {
      const status = node.status();
      if (status.role === Role.Leader && status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  // ----- faults -----

  /** crash stops a node, losing what it did not persist. */
  crash(id: number): void {
    const node = this.nodes.get(id);
    if (node === undefined || !node.up) return;
    node.crash();
    this.stats.crashes++;
    this.log(`node ${id} crashed`);
    this.clients.onNodeDown(id);
  }

  /** restart starts a crashed node again over its storage (removed nodes stay down). */
  restart(id: number): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.up || node.removed) return;
    this.stats.restarts++;
    this.startNode(node);
    this.log(() => `node ${id} restarted at term ${node.status().term}`);
  }

  /** isolate cuts a node off from every other node (both ways) until the next heal. */
  isolate(id: number): void {
    const others = this.nodeIds().filter((other) => other !== id);
    this.network.partition([[id], others]);
    this.log(`node ${id} isolated`);
  }

  private stopNode(node: SimNode): void {
    if (node.up) node.crash();
    this.clients.onNodeDown(node.id);
  }

  /** proposeConfChange asks the leader for a membership change; false if refused. */
  proposeConfChange(type: ConfChangeType, target: number): boolean {
    const leader = this.leader();
    if (leader === undefined) return false;
    const change: ConfChange = { type, nodeId: nodeId(target), context: EMPTY_BYTES };
    try {
      leader.rawNode().proposeConfChange(change);
    } catch (error) {
      if (error instanceof NotLeaderError || error instanceof ProposalDroppedError) return false;
      throw error;
    }
    this.stats.confChangesProposed++;
    this.log(() => `leader ${leader.id} proposed ${ConfChangeType[type]} ${target}`);
    this.touched(leader);
    return true;
  }

  /** addNode proposes a brand-new node (learner or voter) and boots it with empty storage. */
  addNode(type: ConfChangeType.AddLearner | ConfChangeType.AddNode): void {
    if (this.nodeIds().length >= NODES_MAX) return;
    const id = this.nextNodeId;
    if (!this.proposeConfChange(type, id)) return;
    this.nextNodeId++;
    this.stats.nodesAdded++;
    this.startNode(this.createNode(id, new MemoryStorage()));
  }

  /** transferLeader asks the leader to hand over to one of the other voters. */
  transferLeader(pick: number): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const voters = leader.status().confState.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    leader.rawNode().transferLeader(voters[pick % voters.length]);
    this.stats.transfers++;
    this.touched(leader);
  }

  // ----- liveness probes -----

  /**
   * proposeProbe proposes a fresh no-effect command at `node` (throws like propose);
   * `onApplied(index)` runs when a replica first applies it, that is, once it is committed.
   */
  proposeProbe(node: SimNode, onApplied: (index: number) => void): number {
    const op = -this.nextProbe++;
    node.rawNode().propose(encodeCommand({ op, f: 'probe' }));
    this.touched(node);
    this.probes.set(op, onApplied);
    return op;
  }

  private probeApplied(index: number, command: KvCommand | null): void {
    if (command === null || command.f !== 'probe') return;
    const callback = this.probes.get(command.op);
    if (callback === undefined) return;
    this.probes.delete(command.op);
    callback(index);
  }
}

/** copyMessage gives each delivery its own envelope and entry objects (data is shared). */
export function copyMessage(message: Message): Message {
  return { ...message, entries: message.entries.map((entry) => ({ ...entry })) };
}
