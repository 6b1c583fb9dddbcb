/**
 * SimNode is one simulated replica: a RawNode (volatile), its MemoryStorage (durable) and its
 * register state machine (volatile, rebuilt from the snapshot at restart). It runs the Ready
 * contract with a simulated disk: a Ready is persisted when its disk write completes, then its
 * messages are sent, committed entries applied and advance() called. A crash drops the RawNode,
 * the Ready in flight (its write never happens) and the state machine.
 */
import {
  EntryType,
  NONE,
  RawNode,
  decodeConfChange,
  groupId,
  mulberry32,
  type ConfChange,
  type Entry,
  type MemoryStorage,
  type Message,
  type NodeId,
  type RaftConfigInput,
  type RaftStatus,
  type Ready,
  type Snapshot,
} from '../../src/raft/index.js';
import type { ReadyContext } from './invariants.js';
import { KvStore, decodeCommand, type KvCommand, type KvResult } from './kv.js';
import type { Scheduler } from './scheduler.js';

/** SIM_GROUP is the group id every simulated replica belongs to. */
export const SIM_GROUP = groupId(1);

/** NodeHooks is what a SimNode needs from its cluster (clock, network, observers). */
export interface NodeHooks {
  readonly scheduler: Scheduler;
  readonly sendBeforePersist: boolean;
  readonly snapshotEvery: number;
  readonly snapshotTrailing: number;
  diskDelayMs(node: SimNode, ready: Ready): number;
  raftOptions(): Omit<RaftConfigInput, 'id' | 'groupId' | 'random'>;
  send(node: SimNode, messages: Message[]): void;
  persisted(node: SimNode, ready: Ready, context: ReadyContext, lastIndexBefore: number): void;
  applied(node: SimNode, entry: Entry, command: KvCommand | null, result: KvResult | null): void;
  confChangeApplied(node: SimNode, change: ConfChange): void;
  snapshotInstalled(node: SimNode, snapshot: Snapshot): void;
  snapshotCreated(node: SimNode, snapshot: Snapshot): void;
  readReady(node: SimNode, context: string): void;
  touched(node: SimNode): void;
  /** ticked runs after each tick (node-level liveness when quiescence is on). */
  ticked(node: SimNode): void;
}

interface ReadWait {
  context: string;
  index: number;
}

const decoder = new TextDecoder();

/**
 * SimNode. Invariants: `raw === null` exactly when the node is down; `life` changes at every
 * start and crash, so actions scheduled for an earlier life are ignored; `applied` is the index
 * of the last entry (or snapshot) applied to `kv` in this life.
 */
export class SimNode {
  raw: RawNode | null = null;
  life = 0;
  kv = new KvStore();
  applied = 0;
  /** removed: a committed conf change took it out; it is stopped for good. */
  removed = false;
  /** readyCycles counts Ready batches processed (persisted and advanced). */
  readyCycles = 0;
  private inflight: Ready | null = null;
  private readWaits: ReadWait[] = [];
  /** lastHeard: simulated time a message or ping last arrived from each peer (this life). */
  private readonly lastHeard = new Map<number, number>();

  constructor(
    readonly id: NodeId,
    /** storage is the durable state: it survives crashes and is written only by finishReady. */
    readonly storage: MemoryStorage,
    /** tickMs is this node's tick interval (clock skew: not every node ticks at 10 ms). */
    readonly tickMs: number,
    private readonly hooks: NodeHooks,
  ) {}

  /** up tells whether the node runs. */
  get up(): boolean {
    return this.raw !== null;
  }

  /** status returns the RawNode's status; the node must be up. */
  status(): RaftStatus {
    return this.rawNode().status();
  }

  /** rawNode returns the running RawNode, throwing if the node is down. */
  rawNode(): RawNode {
    if (this.raw === null) throw new Error(`node ${this.id} is down`);
    return this.raw;
  }

  /**
   * start boots the replica over its storage: the state machine comes from the storage's
   * snapshot, entries after it are re-delivered as committed. `forgetVote` is the
   * forget-vote-on-restart mutation (the persisted vote is lost).
   */
  start(seed: number, forgetVote: boolean): void {
    if (this.raw !== null) throw new Error(`node ${this.id} is already up`);
    if (forgetVote) this.storage.setHardState({ ...this.storage.hardStateNow(), vote: NONE });
    const snapshot = this.storage.snapshot();
    this.kv = KvStore.restore(snapshot.data);
    this.applied = snapshot.metadata.index;
    this.life++;
    this.inflight = null;
    this.readWaits = [];
    this.lastHeard.clear();
    this.startedMs = this.hooks.scheduler.nowMs;
    this.raw = new RawNode(
      {
        ...this.hooks.raftOptions(),
        id: this.id,
        groupId: SIM_GROUP,
        random: mulberry32(seed),
        applied: this.applied,
      },
      this.storage,
    );
    this.scheduleTick(this.hooks.scheduler.nowMs + 1 + (seed % this.tickMs));
  }

  /** crash stops the replica, losing everything not yet persisted. */
  crash(): void {
    this.raw = null;
    this.inflight = null;
    this.readWaits = [];
    this.kv = new KvStore();
    this.life++;
  }

  /** heard records that something (a message or a ping) arrived from `peer` now. */
  heard(peer: number): void {
    this.lastHeard.set(peer, this.hooks.scheduler.nowMs);
  }

  /** heardMs is when `peer` was last heard from (the start of this life if never). */
  heardMs(peer: number): number {
    return this.lastHeard.get(peer) ?? this.startedMs;
  }

  private startedMs = 0;

  /** deliver steps a peer message into the replica (ignored when down). */
  deliver(message: Message): void {
    if (this.raw === null) return;
    this.heard(message.from);
    this.raw.step(message);
    this.hooks.touched(this);
  }

  /** waitRead registers a read to serve once applied reaches `index`. */
  private waitRead(context: string, index: number): void {
    this.readWaits.push({ context, index });
  }

  private scheduleTick(atMs: number): void {
    const life = this.life;
    this.hooks.scheduler.at(atMs, () => {
      if (this.life !== life || this.raw === null) return;
      this.raw.tick();
      this.hooks.ticked(this);
      this.hooks.touched(this);
      this.scheduleTick(this.hooks.scheduler.nowMs + this.tickMs);
    });
  }

  /**
   * maybeReady starts a Ready cycle when the replica has work and no Ready is in flight. The
   * write completes after a simulated disk delay; with send-before-persist the messages leave
   * at once instead of after the write.
   */
  maybeReady(): void {
    const raw = this.raw;
    if (raw === null || this.inflight !== null || !raw.hasReady()) return;
    const status = raw.status();
    const context: ReadyContext = { role: status.role, term: status.term };
    const ready = raw.ready();
    this.inflight = ready;
    // The leader's Appends leave at once (they may); with send-before-persist, everything does.
    this.hooks.send(this, ready.earlyMessages);
    if (this.hooks.sendBeforePersist) this.hooks.send(this, ready.messages);
    const life = this.life;
    this.hooks.scheduler.after(this.hooks.diskDelayMs(this, ready), () => {
      if (this.life !== life) return; // crashed: the write never happened
      this.finishReady(ready, context);
    });
  }

  private finishReady(ready: Ready, context: ReadyContext): void {
    const raw = this.rawNode();
    const lastIndexBefore = this.storage.lastIndex();
    if (ready.snapshot !== null) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState !== null) this.storage.setHardState(ready.hardState);
    this.hooks.persisted(this, ready, context, lastIndexBefore);
    if (!this.hooks.sendBeforePersist) this.hooks.send(this, ready.messages);
    if (ready.snapshot !== null) {
      this.kv = KvStore.restore(ready.snapshot.data);
      this.applied = ready.snapshot.metadata.index;
      this.hooks.snapshotInstalled(this, ready.snapshot);
    }
    for (const entry of ready.committedEntries) this.applyEntry(entry);
    for (const state of ready.readStates) this.waitRead(decoder.decode(state.context), state.index);
    raw.advance(ready);
    this.inflight = null;
    this.readyCycles++;
    this.maybeSnapshot(raw);
    this.serveReads();
    this.hooks.touched(this);
  }

  private applyEntry(entry: Entry): void {
    let command: KvCommand | null = null;
    let result: KvResult | null = null;
    if (entry.type === EntryType.ConfChange) {
      this.hooks.confChangeApplied(this, decodeConfChange(entry.data));
    } else {
      command = decodeCommand(entry.data);
      if (command !== null) result = this.kv.apply(command);
    }
    this.applied = entry.index;
    this.hooks.applied(this, entry, command, result);
  }

  /** maybeSnapshot snapshots the state machine every `snapshotEvery` applied entries. */
  private maybeSnapshot(raw: RawNode): void {
    const snapshotIndex = this.storage.snapshot().metadata.index;
    if (this.applied - snapshotIndex < this.hooks.snapshotEvery) return;
    const snapshot = this.storage.createSnapshot(
      this.applied,
      raw.status().confState,
      this.kv.serialize(),
    );
    this.storage.compact(this.applied - this.hooks.snapshotTrailing);
    this.hooks.snapshotCreated(this, snapshot);
  }

  private serveReads(): void {
    if (this.readWaits.length === 0) return;
    const waiting: ReadWait[] = [];
    for (const wait of this.readWaits) {
      if (wait.index <= this.applied) this.hooks.readReady(this, wait.context);
      else waiting.push(wait);
    }
    this.readWaits = waiting;
  }
}
