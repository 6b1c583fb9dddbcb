/**
 * Simulated clients of the register store and the history they record. Each client runs one
 * operation at a time against the node it believes leads (following NotLeaderError hints, else
 * trying others): writes and compare-and-sets are proposals, reads go through readIndex. The
 * history uses the checker's format with the simulated clock:
 * - ok: the proposing node applied the entry carrying the op id (or served the read);
 * - fail: provably not applied (every propose threw, or the proposing node applied another
 *   entry at the op's index, or a cas found another value); reads that time out also fail;
 * - info: timed out, or the proposing node crashed; the client then takes a new process id.
 */
import type { CasArgs, HistoryEvent, Value } from '../checker/index.js';
import { NONE, NotLeaderError, ProposalDroppedError } from '../../src/raft/index.js';
import { encodeCommand, type KvCommand, type KvResult } from './kv.js';
import type { SimNode } from './node.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';

/** ClientHost is what clients need from the cluster. */
export interface ClientHost {
  readonly scheduler: Scheduler;
  /** nodeIds lists the nodes a client may contact (up or down, not removed). */
  nodeIds(): number[];
  node(id: number): SimNode | undefined;
  /** touched tells the cluster a client call changed the node (a Ready may be due). */
  touched(node: SimNode): void;
}

/** ClientOptions shape the workload. */
export interface ClientOptions {
  clients: number;
  keys: number;
  /** Operations issued in total (keeps per-key histories small for the checker). */
  opsMax: number;
  timeoutMs: number;
  thinkMsMax: number;
}

/** ClientStats counts outcomes. */
export interface ClientStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
}

type OpKind = 'read' | 'write' | 'cas';

interface Client {
  index: number;
  process: number;
  leaderGuess: number;
  lastSeen: Map<string, Value>;
}

interface PendingOp {
  opId: number;
  client: Client;
  f: OpKind;
  key: string;
  value: Value | CasArgs;
  nodeId: number;
  life: number;
  /** Log index of the proposal (0 for reads). */
  index: number;
  deadlineMs: number;
}

const HOPS_MAX = 4;
const encoder = new TextEncoder();

/** ClientPool runs the clients and owns the history. */
export class ClientPool {
  readonly history: HistoryEvent[] = [];
  readonly stats: ClientStats = { invoked: 0, ok: 0, fail: 0, info: 0 };
  private readonly clients: Client[] = [];
  private readonly pending = new Map<number, PendingOp>();
  private readonly byNodeIndex = new Map<string, PendingOp>();
  private readonly recentValues = new Map<string, number[]>();
  private nextOpId = 1;
  private nextValue = 1;
  private nextProcess: number;
  private stopped = false;

  constructor(
    private readonly host: ClientHost,
    private readonly random: Random,
    private readonly options: ClientOptions,
  ) {
    this.nextProcess = options.clients;
    for (let index = 0; index < options.clients; index++) {
      const leaderGuess = random.pick(host.nodeIds());
      this.clients.push({ index, process: index, leaderGuess, lastSeen: new Map() });
    }
  }

  /** start schedules every client's first operation. */
  start(): void {
    for (const client of this.clients) this.scheduleNext(client);
  }

  /** stop: no new operations; those in flight still complete or time out. */
  stop(): void {
    this.stopped = true;
  }

  /** inFlight is the number of operations not yet completed. */
  get inFlight(): number {
    return this.pending.size;
  }

  private scheduleNext(client: Client): void {
    this.host.scheduler.after(this.random.int(0, this.options.thinkMsMax), () =>
      this.issue(client),
    );
  }

  private issue(client: Client): void {
    if (this.stopped || this.nextOpId > this.options.opsMax) return;
    const op = this.newOp(client);
    this.record(op, 'invoke', op.value);
    this.stats.invoked++;
    const ids = this.host.nodeIds();
    const target = this.random.chance(0.85) ? client.leaderGuess : this.random.pick(ids);
    this.attempt(op, target, 0);
  }

  private newOp(client: Client): PendingOp {
    const roll = this.random.next();
    const f: OpKind = roll < 0.4 ? 'read' : roll < 0.8 ? 'write' : 'cas';
    const key = `k${this.random.int(0, this.options.keys - 1)}`;
    let value: Value | CasArgs = null;
    if (f === 'write') value = this.nextValue++;
    if (f === 'cas') value = [this.casExpectation(client, key), this.nextValue++];
    const opId = this.nextOpId++;
    return { opId, client, f, key, value, nodeId: 0, life: 0, index: 0, deadlineMs: 0 };
  }

  private casExpectation(client: Client, key: string): Value {
    const seen = client.lastSeen.get(key);
    if (seen !== undefined && this.random.chance(0.6)) return seen;
    const recent = this.recentValues.get(key) ?? [];
    return recent.length === 0 || this.random.chance(0.1) ? null : this.random.pick(recent);
  }

  /** attempt sends the op to `target`, following leader hints up to HOPS_MAX times. */
  private attempt(op: PendingOp, target: number, hops: number): void {
    const node = this.host.node(target);
    try {
      if (node === undefined || !node.up) throw new NotLeaderError(NONE);
      op.nodeId = node.id;
      op.life = node.life;
      if (op.f === 'read') {
        node.rawNode().readIndex(encoder.encode(String(op.opId)));
      } else {
        op.index = node.rawNode().propose(encodeCommand(this.command(op))).index;
        this.byNodeIndex.set(`${node.id}:${op.index}`, op);
      }
      this.host.touched(node);
    } catch (error) {
      if (error instanceof ProposalDroppedError) return this.complete(op, 'fail', op.value);
      if (!(error instanceof NotLeaderError)) throw error;
      const hint = Number(error.leaderHint);
      const others = this.host.nodeIds().filter((id) => id !== target);
      const next = hint !== 0 && hint !== target ? hint : this.random.pick(others);
      op.client.leaderGuess = next;
      if (hops + 1 >= HOPS_MAX) return this.complete(op, 'fail', op.value);
      return this.attempt(op, next, hops + 1);
    }
    op.deadlineMs = this.host.scheduler.nowMs + this.options.timeoutMs;
    this.pending.set(op.opId, op);
    this.host.scheduler.at(op.deadlineMs, () => this.expire(op));
  }

  private command(op: PendingOp): KvCommand {
    if (op.f === 'write')
      return { op: op.opId, f: 'write', key: op.key, value: op.value as number };
    const [expected, value] = op.value as CasArgs;
    return {
      op: op.opId,
      f: 'cas',
      key: op.key,
      expected: expected as number | null,
      value: value as number,
    };
  }

  private expire(op: PendingOp): void {
    if (!this.pending.has(op.opId)) return;
    const others = this.host.nodeIds().filter((id) => id !== op.nodeId);
    if (others.length > 0) op.client.leaderGuess = this.random.pick(others);
    this.complete(op, op.f === 'read' ? 'fail' : 'info', op.value);
  }

  /** onApplied resolves the op whose entry the proposing node just applied (or displaced). */
  onApplied(
    node: SimNode,
    index: number,
    command: KvCommand | null,
    result: KvResult | null,
  ): void {
    const displaced = this.byNodeIndex.get(`${node.id}:${index}`);
    if (displaced !== undefined && displaced.life === node.life) {
      const mine = command !== null && command.op === displaced.opId;
      if (!mine) this.complete(displaced, 'fail', displaced.value);
    }
    if (command === null || command.f === 'probe' || result === null) return;
    const op = this.pending.get(command.op);
    if (op === undefined || op.nodeId !== node.id || op.life !== node.life) return;
    op.client.leaderGuess = node.id;
    if (!result.applied) return this.complete(op, 'fail', op.value);
    op.client.lastSeen.set(op.key, command.value);
    this.rememberValue(op.key, command.value);
    this.complete(op, 'ok', op.value);
  }

  /** onReadReady serves a read whose read index the node has applied. */
  onReadReady(node: SimNode, context: string): void {
    const op = this.pending.get(Number(context));
    if (op === undefined || op.nodeId !== node.id || op.life !== node.life) return;
    const value = node.kv.read(op.key);
    op.client.leaderGuess = node.id;
    op.client.lastSeen.set(op.key, value);
    this.complete(op, 'ok', value);
  }

  /** onNodeDown resolves every op in flight at a node that crashed or was removed. */
  onNodeDown(nodeId: number): void {
    for (const op of [...this.pending.values()]) {
      if (op.nodeId === nodeId) this.complete(op, op.f === 'read' ? 'fail' : 'info', op.value);
    }
  }

  private rememberValue(key: string, value: number): void {
    const recent = this.recentValues.get(key) ?? [];
    recent.push(value);
    if (recent.length > 5) recent.shift();
    this.recentValues.set(key, recent);
  }

  private complete(op: PendingOp, type: 'ok' | 'fail' | 'info', value: Value | CasArgs): void {
    this.pending.delete(op.opId);
    if (op.index !== 0) this.byNodeIndex.delete(`${op.nodeId}:${op.index}`);
    this.record(op, type, value);
    this.stats[type]++;
    if (type === 'info') op.client.process = this.nextProcess++;
    this.scheduleNext(op.client);
  }

  private record(op: PendingOp, type: HistoryEvent['type'], value: Value | CasArgs): void {
    const event: HistoryEvent = {
      process: op.client.process,
      type,
      f: op.f,
      key: op.key,
      value,
      time: this.host.scheduler.nowMs,
    };
    if (type !== 'invoke') event.node = op.nodeId;
    this.history.push(event);
  }
}
