/**
 * StoreNode is a `strata node` process: it hosts many Raft groups (multi-raft) on two LevelDB
 * databases (the Raft logs in `<dataDir>/raft`, the key-value state in `<dataDir>/kv`), talks
 * to its peers over PeerTransport and serves clients over the Kv and Admin gRPC services.
 *
 * The ready loop (`cycle`) is the heart of it. Each cycle:
 * 1. gathers a Ready from every group that has one;
 * 2. stages their snapshots, entries and hard states into the log database and writes them as
 *    ONE synced batch (group commit across groups);
 * 3. sends all their messages, batched per destination node (snapshots go out of band);
 * 4. applies committed entries, each group's in one state-machine batch with its applied index
 *    and membership, answers the clients waiting on them, and calls advance().
 * Peer messages and proposals that arrive meanwhile are stepped at once; their work is picked
 * up by the next cycle.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  EMPTY_BYTES,
  applyConfChangeToState,
  assert,
  decodeConfChange,
  EntryType,
  MessageType,
  NONE,
  Role,
  decodeConfState,
  encodeConfState,
  mulberry32,
  type ConfState,
  type Entry,
  type GroupId,
  type Index,
  type Message,
  type NodeId,
  type RaftStorage,
  type Ready,
  type Term,
  type InitialState,
  type Snapshot,
} from '../raft/index.js';
import {
  GroupRing,
  createClusterLayout,
  parseClusterLayout,
  groupEntry,
  groupsOf,
  liveNodes,
  type ClusterLayout,
} from '../ring/index.js';
import { AdminCalls } from './admin-calls.js';
import { strata as adminPb } from './admin-gen/admin.js';
import { readLayoutFile, writeLayoutFile } from './layout-file.js';
import type { NodeConfig } from './config.js';
import { failpoint } from './failpoints.js';
import { ACK_BEFORE_SYNC_DELAY_MS, storeMutation, type StoreMutation } from './test-mutations.js';
import { GroupReplica, StoreError } from './group.js';
import { LogDb } from './log-storage.js';
import { KvStateMachine, type ApplyResult } from './sm-state-machine.js';
import { SnapshotManager } from './snapshots.js';
import { PEER_SERVICE, PeerTransport, TRANSPORT_LIMITS } from './transport.js';

/** NodeStats counts the ready loop's work (shown by `strata status`). */
export interface NodeStats {
  cycles: number;
  syncs: number;
  entriesPersisted: number;
  entriesApplied: number;
  messagesSent: number;
  compactions: number;
  cycleLagMsMax: number;
}

/** StoreNode hosts the groups of one node. Use `StoreNode.start(config)`. */
export class StoreNode {
  readonly groups = new Map<GroupId, GroupReplica>();
  readonly stats: NodeStats = {
    cycles: 0,
    syncs: 0,
    entriesPersisted: 0,
    entriesApplied: 0,
    messagesSent: 0,
    compactions: 0,
    cycleLagMsMax: 0,
  };
  readonly ring: GroupRing;
  #layout: ClusterLayout;
  /** admin makes Admin calls to peers (layout polls, the metadata service's calls). */
  readonly admin = new AdminCalls();
  /** stopHooks are called first when the node stops (services started with it). */
  readonly stopHooks: (() => void)[] = [];
  /** layoutListeners are called after each adopted layout (the metadata service). */
  readonly layoutListeners: ((layout: ClusterLayout) => void)[] = [];
  /** dropping holds the groups whose replica is being deleted from this node. */
  private readonly dropping = new Set<GroupId>();
  private layoutWrite: Promise<void> = Promise.resolve();
  private pollInFlight = false;
  readonly transport: PeerTransport;
  readonly snapshots: SnapshotManager;
  private server: grpc.Server | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private cycleScheduled = false;
  private cycleRunning = false;
  private cycleAgain = false;
  private stopped = false;
  /** writeFault is the storage error that stopped writes; cleared when a write succeeds again. */
  writeFault: Error | null = null;
  private addresses: Map<NodeId, string>;
  private peerIds: NodeId[];
  /**
   * faultFile (test-only, from STRATA_TEST_DISK_FAULT_FILE): while that file exists, every write
   * to the Raft log database fails, as a failing disk would.
   */
  private readonly faultFile = process.env.STRATA_TEST_DISK_FAULT_FILE ?? '';
  private faultInjected = false;
  private ticks = 0;
  /** mutation is a test-only store bug switched in by STRATA_TEST_MUTATION (see test-mutations). */
  readonly mutation: StoreMutation | null = storeMutation();
  private syncTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly config: NodeConfig,
    readonly logDb: LogDb,
    readonly sm: KvStateMachine,
    layout: ClusterLayout,
  ) {
    this.#layout = layout;
    this.addresses = new Map();
    this.peerIds = [];
    this.indexNodes(layout);
    this.ring = new GroupRing(config.groupCount);
    this.transport = new PeerTransport(
      config.nodeId,
      config.clusterId,
      (id) => this.addresses.get(id),
      {
        onMessages: (messages) => this.onPeerMessages(messages),
        onSnapshot: () => this.snapshots.receiver(),
        onUnreachable: (to, messages) => this.onUnreachable(to, messages),
      },
    );
    this.snapshots = new SnapshotManager(this, join(config.dataDir, 'snapshots'));
  }

  /** StoreNode.start opens the databases, creates or loads its groups and starts serving. */
  static async start(
    config: NodeConfig,
    services: (node: StoreNode, server: grpc.Server) => void = () => {},
  ): Promise<StoreNode> {
    await mkdir(config.dataDir, { recursive: true });
    await checkIdentity(config);
    const logDb = await LogDb.open(join(config.dataDir, 'raft'));
    let sm: KvStateMachine;
    try {
      sm = await KvStateMachine.open(join(config.dataDir, 'kv'));
    } catch (error) {
      await logDb.close();
      throw error;
    }
    let node: StoreNode;
    try {
      node = new StoreNode(config, logDb, sm, await initialLayout(config));
    } catch (error) {
      await logDb.close();
      await sm.close();
      throw error;
    }
    try {
      await node.snapshots.finishInterruptedRestores();
      await node.openGroups();
      await node.listen(services);
    } catch (error) {
      await node.stop();
      throw error;
    }
    if (node.mutation) {
      process.stderr.write(
        `WARNING: test mutation '${node.mutation}' is armed: this node is buggy on purpose\n`,
      );
    }
    node.ticker = setInterval(() => node.tick(), config.tickMs);
    node.schedule();
    return node;
  }

  /** layout is the newest cluster layout this node has adopted. */
  get layout(): ClusterLayout {
    return this.#layout;
  }

  /** indexNodes takes the addresses and peers of a layout's live nodes. */
  private indexNodes(layout: ClusterLayout): void {
    const addresses = new Map<NodeId, string>(this.config.peers.map((p) => [p.id, p.address]));
    for (const node of liveNodes(layout)) addresses.set(node.id, node.address);
    this.addresses = addresses;
    this.peerIds = [...addresses.keys()].filter((id) => id !== this.config.nodeId);
  }

  /**
   * adoptLayout installs a layout newer than the current one: it is saved to the layout file,
   * new nodes become reachable, replicas placed here are created and replicas no longer placed
   * here are deleted. Older or equal epochs are ignored (false).
   */
  adoptLayout(next: ClusterLayout): boolean {
    if (next.epoch <= this.#layout.epoch || this.stopped) return false;
    if (next.groupCount !== this.#layout.groupCount) {
      process.stderr.write(
        `strata node ${this.config.nodeId}: ignored a layout of ${next.groupCount} groups ` +
          `(this cluster has ${this.#layout.groupCount})\n`,
      );
      return false;
    }
    this.#layout = next;
    this.indexNodes(next);
    const dataDir = this.config.dataDir;
    this.layoutWrite = this.layoutWrite
      .then(() => (this.#layout === next ? writeLayoutFile(dataDir, next) : undefined))
      .catch((error: unknown) => {
        process.stderr.write(`strata node ${this.config.nodeId}: layout file: ${String(error)}\n`);
      });
    this.reconcileReplicas();
    for (const listener of this.layoutListeners) listener(next);
    return true;
  }

  /** hostsInLayout says whether the layout places a replica of `groupId` on this node. */
  private hostsInLayout(groupId: GroupId): boolean {
    const entry = groupEntry(this.#layout, groupId);
    if (!entry) return false;
    const me = this.config.nodeId;
    return entry.replicas.includes(me) || entry.target.includes(me);
  }

  /**
   * reconcileReplicas creates an empty replica of each group the layout places here (its
   * leader fills it: snapshot, then log) and deletes each replica the layout no longer lists
   * (the mover writes it out of a group's replicas only once its removal is committed).
   */
  reconcileReplicas(): void {
    for (const entry of groupsOf(this.#layout)) {
      const { groupId } = entry;
      const hosted = this.groups.has(groupId);
      const wanted = this.hostsInLayout(groupId);
      if (wanted && !hosted && !this.dropping.has(groupId)) this.openGroup(groupId);
      if (!wanted && hosted) void this.dropReplica(groupId);
    }
    this.schedule();
  }

  /** dropReplica deletes this node's replica of a group: its log, then its state. */
  private async dropReplica(groupId: GroupId): Promise<void> {
    const group = this.groups.get(groupId);
    if (!group || group.restoring || this.dropping.has(groupId)) return;
    this.dropping.add(groupId);
    try {
      this.groups.delete(groupId);
      while (group.inCycle) await new Promise((resolve) => setTimeout(resolve, 1));
      const error = new StoreError(
        'NOT_FOUND',
        `group ${groupId} left node ${this.config.nodeId}`,
        group.raw.leaderId(),
      );
      group.failAll(error);
      group.failWaiters(error);
      this.logDb.dropGroup(groupId);
      await this.logDb.sync();
      if (this.sm.groupIds().includes(groupId)) await this.sm.dropGroup(groupId);
    } catch (error) {
      this.onFatal(error);
    } finally {
      this.dropping.delete(groupId);
    }
  }

  /** pollLayout looks for a newer layout and adopts it. */
  private pollLayout(): void {
    if (this.pollInFlight || this.stopped) return;
    // A voter of the metadata group reads its own replica; every node also asks another
    // metadata replica, since its own may be cut off or removed without knowing it yet.
    const meta = this.groups.get(0 as GroupId);
    if (meta?.raw.status().confState.voters.includes(this.config.nodeId)) {
      void this.readLayoutFromMeta();
    }
    const others = this.#layout.metaGroup.replicas.filter((id) => id !== this.config.nodeId);
    const candidates = others.length > 0 ? others : this.peerIds;
    if (candidates.length === 0) return;
    const target = candidates[Math.floor(Math.random() * candidates.length)]!;
    const address = this.addresses.get(target);
    if (!address) return;
    this.pollInFlight = true;
    const request = adminPb.admin.ClusterRequest.encode({
      knownEpoch: this.#layout.epoch,
    }).finish();
    this.admin
      .call(address, 'Cluster', request, 1_000)
      .then((bytes) => {
        const answer = adminPb.admin.ClusterResponse.decode(bytes);
        if (answer.clusterId !== this.config.clusterId) return;
        if (Number(answer.epoch) <= this.#layout.epoch || answer.layoutJson === '') return;
        this.adoptLayout(parseClusterLayout(answer.layoutJson));
      })
      .catch(() => undefined)
      .finally(() => (this.pollInFlight = false));
  }

  /** readLayoutFromMeta adopts the layout stored in this node's metadata replica, if newer. */
  async readLayoutFromMeta(): Promise<void> {
    if (this.stopped || !this.groups.has(0 as GroupId)) return;
    const stored = await readStoredLayout(this.sm).catch(() => null);
    if (stored) this.adoptLayout(stored.layout);
  }

  /** addressOf returns a member's address (for leader hints), or ''. */
  addressOf(id: NodeId): string {
    return this.addresses.get(id) ?? '';
  }

  /**
   * openGroups opens every replica this node holds and creates those its layout places here:
   * bootstrapped with the first membership in a new cluster (epoch 1), empty otherwise (the
   * group's leader fills it). Replicas the layout no longer places here are deleted: the mover
   * took them out of the layout only after their removal was committed.
   */
  private async openGroups(): Promise<void> {
    const me = this.config.nodeId;
    const existing = new Set(this.logDb.listGroups());
    const fresh = this.#layout.epoch === 1;
    for (const entry of groupsOf(this.#layout)) {
      const { groupId, replicas } = entry;
      if (existing.has(groupId)) {
        existing.delete(groupId);
        if (this.hostsInLayout(groupId)) this.openGroup(groupId);
        else await this.deleteStoredGroup(groupId);
        continue;
      }
      if (!this.hostsInLayout(groupId)) continue;
      if (fresh) {
        await this.bootstrapGroup(
          groupId,
          [...replicas].sort((a, b) => a - b),
        );
        const replica = this.openGroup(groupId);
        // A new cluster elects each group's preferred leader at once instead of after a timeout.
        if (replicas[0] === me && groupId !== 0) replica.raw.campaign();
      } else {
        this.openGroup(groupId);
      }
    }
    for (const groupId of existing) await this.deleteStoredGroup(groupId);
    for (const groupId of this.sm.groupIds()) {
      if (!this.groups.has(groupId) && !this.hostsInLayout(groupId)) {
        await this.sm.dropGroup(groupId);
      }
    }
    await this.logDb.sync();
  }

  /** deleteStoredGroup deletes a group's log and state found on disk but not placed here. */
  private async deleteStoredGroup(groupId: GroupId): Promise<void> {
    this.logDb.dropGroup(groupId);
    await this.logDb.sync();
    if (this.sm.groupIds().includes(groupId)) await this.sm.dropGroup(groupId);
  }

  private async bootstrapGroup(groupId: GroupId, voters: NodeId[]): Promise<void> {
    const confState: ConfState = { voters, learners: [] };
    const storage = this.logDb.group(groupId);
    storage.applySnapshot({ metadata: { index: 1, term: 1, confState }, data: EMPTY_BYTES });
    storage.setHardState({ term: 1, vote: NONE, commit: 1 });
    storage.setConfState(confState, 1);
    if (this.sm.groupIds().includes(groupId)) return;
    await this.sm.createGroup(groupId, 1);
    await this.sm.setGroupMeta(groupId, encodeConfState(confState));
  }

  /** openGroup creates the replica of a group whose log and state are on disk. */
  openGroup(groupId: GroupId): GroupReplica {
    const storage = this.logDb.group(groupId);
    const hard = storage.hardStateNow();
    const smApplied = this.sm.appliedIndex(groupId);
    const meta = this.sm.groupMeta(groupId);
    const confState =
      meta.byteLength > 0 ? decodeConfState(meta) : storage.initialState().confState;
    // The state machine may be ahead of the log's commit (a snapshot restored just before a
    // crash): Raft then re-delivers entries the state machine already has, and it skips them.
    assert(
      smApplied >= storage.firstIndex() - 1,
      () =>
        `group ${groupId}: state machine applied ${smApplied} is below the compacted log ` +
        `(first index ${storage.firstIndex()}): the log was compacted past unsynced state`,
    );
    const applied = Math.min(smApplied, hard.commit);
    const raftStorage: RaftStorage = new ConfStateStorage(storage, confState);
    const replica = new GroupReplica(groupId, storage, raftStorage, {
      id: this.config.nodeId,
      groupId,
      random: mulberry32(this.config.nodeId * 65_537 + groupId),
      electionTicks: this.config.electionTicks,
      heartbeatTicks: this.config.heartbeatTicks,
      applied,
      entryBytesMax: this.config.entryBytesMax,
      quiesceTicks: this.config.quiesceTicks,
      messageBytesMax: TRANSPORT_LIMITS.batchBytesTarget / 4,
    });
    this.groups.set(groupId, replica);
    return replica;
  }

  private async listen(services: (node: StoreNode, server: grpc.Server) => void): Promise<void> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': TRANSPORT_LIMITS.frameBytesMax,
      'grpc.max_send_message_length': TRANSPORT_LIMITS.frameBytesMax,
    });
    server.addService(PEER_SERVICE, this.transport.implementation());
    services(this, server);
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(this.config.listen, grpc.ServerCredentials.createInsecure(), (error) => {
        if (error)
          reject(
            new StoreError(
              'BIND_FAILED',
              `cannot listen on ${this.config.listen}: ${error.message}`,
            ),
          );
        else resolve();
      });
    });
    this.server = server;
  }

  private tick(): void {
    if (this.faultFile) this.checkFaultFile(this.faultFile);
    for (const group of this.groups.values()) group.raw.tick();
    this.transport.ping(this.peerIds, this.config.tickMs);
    this.flushLazyWrites();
    this.ticks++;
    const every = this.config.leaderBalanceTicks;
    if (every > 0 && this.ticks % every === 0) this.handBackLeaderships();
    this.wakeGroupsOfSilentLeaders();
    if (this.ticks % LAYOUT_POLL_TICKS === 0) {
      this.pollLayout();
      this.reconcileReplicas();
    }
    this.schedule();
  }

  /**
   * handBackLeaderships transfers each group this node leads to the group's preferred leader
   * (its first replica in the layout) when that replica is caught up and its node is alive:
   * preferred leaders are spread evenly over the nodes, so leadership returns to an even spread
   * after failures and after a cluster starts.
   */
  private handBackLeaderships(): void {
    const silent = this.transport.silentPeers(
      this.peerIds,
      this.config.electionTicks * this.config.tickMs,
    );
    const draining = new Set(
      this.#layout.nodes.filter((n) => n.state !== 'up').map((n) => n.id as number),
    );
    for (const { groupId, target: wanted } of this.#layout.placement) {
      const preferred = wanted[0]!;
      const group = this.groups.get(groupId);
      if (!group || preferred === this.config.nodeId || group.role !== Role.Leader) continue;
      if (silent.includes(preferred) || draining.has(preferred)) continue;
      const status = group.raw.status();
      if (!status.confState.voters.includes(preferred)) continue;
      const target = status.progress?.find((p) => p.id === preferred);
      if (target && target.match === status.lastIndex) group.raw.transferLeader(preferred);
    }
    this.schedule();
  }

  /**
   * wakeGroupsOfSilentLeaders wakes the quiesced groups whose leader's node went silent (no
   * frame, not even a ping, for an election timeout): their followers then time out and elect
   * a new leader, as they would have without quiescence.
   */
  private wakeGroupsOfSilentLeaders(): void {
    const silenceMs = this.config.electionTicks * this.config.tickMs;
    const silent = this.transport.silentPeers(this.peerIds, silenceMs);
    if (silent.length === 0) return;
    for (const group of this.groups.values()) {
      if (group.raw.isQuiesced() && silent.includes(group.raw.leaderId())) group.raw.wake();
    }
  }

  /**
   * flushLazyWrites writes, once a tick, what cycles staged without syncing (commit-only hard
   * state changes), so it does not wait in memory for the next entry.
   */
  private flushLazyWrites(): void {
    if (this.recovering || this.syncTimer || this.logDb.pendingOperations() === 0) return;
    this.logDb.sync().catch((error: unknown) => this.onStorageFailure(error));
  }

  /** syncLater writes staged log writes after a delay (only under `ack-before-sync`). */
  private syncLater(): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.logDb.sync().catch((error: unknown) => this.onStorageFailure(error));
    }, ACK_BEFORE_SYNC_DELAY_MS);
  }

  private checkFaultFile(path: string): void {
    const present = existsSync(path);
    if (present === this.faultInjected) return;
    this.faultInjected = present;
    this.logDb.setWriteFault(present ? new Error(`injected disk fault (${path} exists)`) : null);
  }

  /** schedule runs a ready cycle soon (coalescing requests made meanwhile). */
  schedule(): void {
    if (this.cycleScheduled || this.stopped) return;
    this.cycleScheduled = true;
    setImmediate(() => {
      this.cycleScheduled = false;
      void this.runCycles();
    });
  }

  private async runCycles(): Promise<void> {
    // After a failed write the replicas in memory are ahead of the disk: no Ready is taken
    // until recoverFromStorageFailure rebuilds them from what the disk holds.
    if (this.recovering) return;
    if (this.cycleRunning) {
      this.cycleAgain = true;
      return;
    }
    this.cycleRunning = true;
    try {
      do {
        this.cycleAgain = false;
        await this.cycle();
      } while ((this.cycleAgain || this.anyReady()) && !this.stopped);
    } catch (error) {
      if (error instanceof LogWriteError) this.onStorageFailure(error.cause);
      else this.onFatal(error);
    } finally {
      this.cycleRunning = false;
    }
  }

  /**
   * onFatal stops the process on anything but a failed log write: a broken invariant (an
   * AssertionFailure) or a state machine that refuses further calls must not be papered over;
   * a restart recovers from what is on disk.
   */
  private onFatal(error: unknown): void {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`strata node ${this.config.nodeId}: fatal: ${detail}\n`);
    process.exit(70);
  }

  private anyReady(): boolean {
    for (const group of this.groups.values())
      if (!group.restoring && group.raw.hasReady()) return true;
    return false;
  }

  private async cycle(): Promise<void> {
    const started = performance.now();
    const batch: [GroupReplica, Ready][] = [];
    for (const group of this.groups.values()) {
      if (group.restoring || !group.raw.hasReady()) continue;
      group.inCycle = true;
      batch.push([group, group.raw.ready()]);
    }
    if (batch.length === 0) return;
    try {
      await this.persistSendApply(batch);
    } finally {
      for (const [group] of batch) group.inCycle = false;
    }
    this.stats.cycleLagMsMax = Math.max(this.stats.cycleLagMsMax, performance.now() - started);
  }

  private async persistSendApply(batch: [GroupReplica, Ready][]): Promise<void> {
    this.stats.cycles++;
    // Entries, votes, terms and snapshots must be on disk before the messages that depend on
    // them leave (Ready.mustSync); a commit-only change need not be: it rides on the next sync.
    let mustSync = false;
    for (const [group, ready] of batch) {
      if (ready.snapshot) group.storage.applySnapshot({ ...ready.snapshot, data: EMPTY_BYTES });
      if (ready.entries.length > 0) group.storage.append(ready.entries);
      if (ready.hardState) group.storage.setHardState(ready.hardState);
      mustSync ||= ready.mustSync;
      this.stats.entriesPersisted += ready.entries.length;
    }
    // The leaders' Appends and heartbeats leave now: followers write while we do (Ready contract).
    this.sendMessages(batch, (ready) => ready.earlyMessages);
    if (mustSync && this.mutation === 'ack-before-sync') {
      this.syncLater(); // the bug under test: acknowledge first, write a second later
    } else if (mustSync) {
      // A disk fault throws: nothing below runs (nothing is acknowledged).
      await this.logDb.sync().catch((error: unknown) => {
        throw new LogWriteError(error);
      });
      this.stats.syncs++;
      this.writeFault = null;
      failpoint('after-log-sync');
    }
    for (const [group, ready] of batch) {
      if (ready.softState) group.onRoleChange(ready.softState.role, ready.softState.leader);
    }
    this.sendMessages(batch, (ready) => ready.messages);
    failpoint('before-apply');
    await this.applyAll(batch);
  }

  /** sendMessages sends the chosen messages of a cycle's Readies (snapshots out of band). */
  private sendMessages(batch: [GroupReplica, Ready][], pick: (ready: Ready) => Message[]): void {
    const outgoing: Message[] = [];
    for (const [group, ready] of batch) {
      for (const m of pick(ready)) {
        if (m.type === MessageType.Snapshot) this.snapshots.send(group, m);
        else outgoing.push(m);
      }
    }
    if (outgoing.length === 0) return;
    this.transport.send(outgoing);
    this.stats.messagesSent += outgoing.length;
  }

  /**
   * applyAll applies the committed entries of every group of a cycle in one state-machine call
   * (one LevelDB read and one write for all of them), each group's with its applied index and
   * membership, then advances each group and answers its waiting clients and reads.
   */
  private async applyAll(batch: [GroupReplica, Ready][]): Promise<void> {
    const parts = batch.map(([group, ready]) => {
      const smApplied = this.sm.appliedIndex(group.groupId);
      const fresh = ready.committedEntries.filter((entry) => entry.index > smApplied);
      // A membership change is persisted with the state machine, in the same (synced) batch as
      // the entry that makes it, so the membership on disk is always as of the applied index.
      // (Decoded only when needed: most cycles change no membership.)
      const conf = hasConfChange(fresh)
        ? confAfter(decodeConfState(this.sm.groupMeta(group.groupId)), fresh)
        : null;
      return { group, ready, fresh, conf };
    });
    const applied = await this.sm.applyMany(
      parts.map(({ group, fresh, conf }) => ({
        groupId: group.groupId,
        entries: fresh,
        sync: conf !== null || group.groupId === 0,
        meta: conf ? encodeConfState(conf) : undefined,
      })),
    );
    for (let i = 0; i < parts.length; i++) {
      const { group, ready, fresh, conf } = parts[i]!;
      if (fresh.length > 0) {
        if (conf) group.storage.setConfState(conf, fresh[fresh.length - 1]!.index);
        this.stats.entriesApplied += fresh.length;
        group.appliedSinceCompaction += fresh.length;
      }
      group.raw.advance(ready);
      if (group.groupId === 0 && fresh.length > 0) void this.readLayoutFromMeta();
      const smApplied = this.sm.appliedIndex(group.groupId);
      group.onApplied(applied[i]!, ready.committedEntries, smApplied);
      for (const readState of ready.readStates)
        group.onReadState(readState.index, readState.context);
    }
    for (const { group } of parts) {
      if (group.appliedSinceCompaction >= this.config.compactEntries) await this.compact(group);
    }
  }

  /**
   * compact discards log entries the state machine has durably applied, keeping
   * compactTrailingEntries below for slow followers (one further behind gets a snapshot).
   */
  private async compact(group: GroupReplica): Promise<void> {
    group.appliedSinceCompaction = 0;
    await this.sm.flush(); // the state up to the applied index is on disk before its log goes
    const status = group.raw.status();
    const index = status.applied - this.config.compactTrailingEntries;
    if (index <= group.storage.firstIndex()) return;
    group.storage.createSnapshot(index, status.confState);
    group.storage.compact(index);
    this.stats.compactions++;
    this.schedule(); // the staged deletes ride on the next synced batch
  }

  private onPeerMessages(messages: Message[]): void {
    for (const m of messages) {
      let group = this.groups.get(m.groupId);
      if (!group && !this.dropping.has(m.groupId) && this.hostsInLayout(m.groupId)) {
        group = this.openGroup(m.groupId); // placed here: the leader came before the poll
      }
      if (!group || group.restoring) continue; // unknown group or busy restoring: dropped
      group.raw.step(m);
    }
    this.schedule();
  }

  private onUnreachable(to: NodeId, messages: Message[]): void {
    const seen = new Set<GroupId>();
    for (const m of messages) {
      if (seen.has(m.groupId)) continue;
      seen.add(m.groupId);
      this.groups.get(m.groupId)?.raw.reportUnreachable(to);
    }
  }

  /**
   * onStorageFailure handles a failed write: clients get a clear error and the node keeps
   * serving reads. The Raft state in memory is ahead of the disk, so the affected groups are
   * rebuilt from disk once a write succeeds again (a probe write every tick).
   */
  private onStorageFailure(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    this.writeFault = failure;
    for (const group of this.groups.values()) {
      group.failAll(
        new StoreError(
          'STORAGE_FAILURE',
          `writes are failing on node ${this.config.nodeId}: ${failure.message}`,
        ),
      );
    }
    void this.recoverFromStorageFailure();
  }

  private recovering = false;

  private async recoverFromStorageFailure(): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    try {
      while (!this.stopped) {
        await new Promise((resolve) => setTimeout(resolve, this.config.tickMs));
        try {
          await this.logDb.sync();
          break;
        } catch {
          continue;
        }
      }
      if (this.stopped) return;
      // Memory was ahead of the disk: restart every group from what the disk now holds.
      for (const groupId of [...this.groups.keys()]) this.openGroup(groupId);
      this.writeFault = null;
    } finally {
      this.recovering = false;
      this.schedule();
    }
  }

  /** waitForGroup resolves once no ready cycle holds `groupId` (it may then be set aside). */
  async waitForGroup(groupId: GroupId): Promise<void> {
    const group = this.groups.get(groupId);
    while (group?.inCycle) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  /** leaderOf returns the leader a group's replica here believes in. */
  leaderOf(groupId: GroupId): NodeId {
    return this.groups.get(groupId)?.raw.leaderId() ?? NONE;
  }

  /** requireGroup returns a hosted group or throws NOT_FOUND. */
  requireGroup(groupId: GroupId): GroupReplica {
    const group = this.groups.get(groupId);
    if (!group)
      throw new StoreError(
        'NOT_FOUND',
        `group ${groupId} is not hosted on node ${this.config.nodeId}`,
      );
    return group;
  }

  /** propose proposes a command to a group this node leads; resolves once applied. */
  propose(groupId: GroupId, data: Uint8Array): Promise<ApplyResult> {
    if (this.writeFault) {
      return Promise.reject(
        new StoreError(
          'STORAGE_FAILURE',
          `writes are failing on node ${this.config.nodeId}: ${this.writeFault.message}`,
        ),
      );
    }
    const group = this.requireGroup(groupId);
    const promise = group.propose(data, this.config.pendingProposalsMax);
    this.schedule();
    return promise;
  }

  /** linearizableBarrier resolves once this leader's state is as fresh as any committed write. */
  async linearizableBarrier(groupId: GroupId): Promise<void> {
    const group = this.requireGroup(groupId);
    const promise = group.readIndex();
    this.schedule();
    const index = await promise;
    await group.waitApplied(index, this.sm.appliedIndex(groupId));
  }

  /** waitApplied resolves once the group's applied index reaches `index`. */
  waitApplied(groupId: GroupId, index: Index): Promise<void> {
    const group = this.requireGroup(groupId);
    return group.waitApplied(index, this.sm.appliedIndex(groupId));
  }

  /** stop stops serving and closes the databases (Ctrl-C, tests). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const hook of this.stopHooks) hook();
    if (this.ticker) clearInterval(this.ticker);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    const error = new StoreError('UNAVAILABLE', `node ${this.config.nodeId} is stopping`);
    for (const group of this.groups.values()) {
      group.failAll(error);
      group.failWaiters(error);
    }
    this.snapshots.close();
    this.transport.close();
    this.admin.close();
    await this.layoutWrite;
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    }
    while (this.cycleRunning) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.logDb.sync().catch(() => undefined);
    await this.logDb.close();
    await this.sm.close();
  }
}

/** LogWriteError wraps a failed write of the Raft log database (the recoverable failure). */
class LogWriteError extends Error {
  constructor(override readonly cause: unknown) {
    super(`log write failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** confAfter returns the membership after the conf changes among `entries`, or null if none. */
function confAfter(conf: ConfState, entries: readonly Entry[]): ConfState | null {
  let changed: ConfState | null = null;
  for (const entry of entries) {
    if (entry.type !== EntryType.ConfChange) continue;
    changed = applyConfChangeToState(changed ?? conf, decodeConfChange(entry.data));
  }
  return changed;
}

function hasConfChange(entries: readonly Entry[]): boolean {
  for (let i = 0; i < entries.length; i++) {
    if (entries[i]!.type === EntryType.ConfChange) return true;
  }
  return false;
}

/**
 * ConfStateStorage presents a log storage whose initial membership is `confState`. A class, not
 * an object of six closures: one per group, and the closures cost about 650 B each time.
 */
class ConfStateStorage implements RaftStorage {
  constructor(
    private readonly storage: RaftStorage,
    private readonly confState: ConfState,
  ) {}

  initialState(): InitialState {
    return { hardState: this.storage.initialState().hardState, confState: this.confState };
  }

  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    return this.storage.entries(lo, hi, maxBytes);
  }

  term(index: Index): Term {
    return this.storage.term(index);
  }

  firstIndex(): Index {
    return this.storage.firstIndex();
  }

  lastIndex(): Index {
    return this.storage.lastIndex();
  }

  snapshot(): Snapshot {
    return this.storage.snapshot();
  }
}

/** LAYOUT_POLL_TICKS is how often (in ticks) a node polls for a newer layout. */
const LAYOUT_POLL_TICKS = 5;

/** LAYOUT_KEY is the metadata group's key holding the cluster layout (JSON). */
export const LAYOUT_KEY = new TextEncoder().encode('/strata/meta/layout');

/** readStoredLayout reads the layout stored in this node's metadata replica (null: none). */
export async function readStoredLayout(
  sm: KvStateMachine,
): Promise<{ layout: ClusterLayout; modIndex: Index } | null> {
  const kv = await sm.get(0 as GroupId, LAYOUT_KEY);
  if (!kv) return null;
  return { layout: parseClusterLayout(new TextDecoder().decode(kv.value)), modIndex: kv.modIndex };
}

/**
 * initialLayout is the layout a node starts from: its layout file if it has one (the newest
 * it adopted), else the first layout of a new cluster, computed from the configured peers.
 */
async function initialLayout(config: NodeConfig): Promise<ClusterLayout> {
  const stored = await readLayoutFile(config.dataDir);
  if (stored) {
    if (stored.groupCount !== config.groupCount) {
      throw new StoreError(
        'INVALID_CONFIG',
        `layout file in ${config.dataDir} has ${stored.groupCount} groups, configured ${config.groupCount}`,
      );
    }
    return stored;
  }
  return createClusterLayout({
    nodes: config.peers,
    groupCount: config.groupCount,
    replicationFactor: config.replicationFactor,
  });
}

/** IDENTITY_FILE records which cluster and node a data directory belongs to. */
export const IDENTITY_FILE = 'identity.json';

/** checkIdentity refuses to start a node on another cluster's or node's data. */
async function checkIdentity(config: NodeConfig): Promise<void> {
  const path = join(config.dataDir, IDENTITY_FILE);
  const expected = {
    clusterId: config.clusterId,
    nodeId: config.nodeId,
    groupCount: config.groupCount,
  };
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) {
    await writeFile(path, JSON.stringify(expected) + '\n');
    return;
  }
  const found = JSON.parse(text) as typeof expected;
  for (const key of ['clusterId', 'nodeId', 'groupCount'] as const) {
    if (found[key] !== expected[key]) {
      throw new StoreError(
        'INVALID_CONFIG',
        `data directory ${config.dataDir} belongs to ${key} ${JSON.stringify(found[key])}, not ${JSON.stringify(expected[key])}`,
      );
    }
  }
}

export { StoreError } from './group.js';
export type { Role };
