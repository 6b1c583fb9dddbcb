/**
 * The Strata side of the store benchmark: a 3-node cluster of real `strata node` processes on
 * loopback (ProcessCluster: fsync on, data in a temporary folder), driven through StrataClient
 * (pipelined Batch streams, coalesced per tick). It remembers the index of every key's last put,
 * so that an `at-index` get asks for "at least the state I wrote" (a read-your-writes session).
 * Checkpoints go through a stream task of its own (TaskCheckpointer, store-checkpoint.ts).
 */
import { ProcessCluster } from '../jepsen-like-tests/harness/process-cluster.js';
import { StrataClient, type Consistency } from '../src/client/index.js';
import { TaskCheckpointer } from './store-checkpoint.js';
import { nodePids, readStrata, waitApplied } from './store-probe.js';
import type { BenchSystem, Capability, ReadMode, ServerReading } from './store-system.js';

const LEADERS_TIMEOUT_MS = 60_000;

/** StrataOptions configure the Strata system under test. */
export interface StrataOptions {
  /** dir is an empty folder for the nodes' configs and data (removed by the caller). */
  dir: string;
  nodes: number;
  groups: number;
  keys: readonly Uint8Array[];
  clientDeadlineMs: number;
  log: (line: string) => void;
}

/** StrataSystem runs Strata for the benchmark. */
export class StrataSystem implements BenchSystem {
  readonly name = 'strata';
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    'get-at-index',
    'checkpoint',
  ]);
  private clusterStart: Promise<ProcessCluster> | null = null;
  private cluster: ProcessCluster | null = null;
  private client: StrataClient | null = null;
  private checkpointerStart: Promise<TaskCheckpointer> | null = null;
  private checkpointer: TaskCheckpointer | null = null;
  private closed: Promise<void> | null = null;
  /** lastIndex[key] is the index of the entry that last wrote key number `key` (0: none). */
  private readonly lastIndex: Float64Array;

  constructor(readonly options: StrataOptions) {
    this.lastIndex = new Float64Array(options.keys.length);
  }

  /** start starts the nodes, waits for a leader in every group and connects the client. */
  async start(signal: AbortSignal): Promise<void> {
    const { dir, nodes, groups, clientDeadlineMs } = this.options;
    this.clusterStart = ProcessCluster.start({
      dir,
      nodes,
      groupCount: groups,
      clusterId: 'bench',
    });
    const cluster = await this.clusterStart;
    this.cluster = cluster;
    const leadersMs = await cluster.waitForLeaders(groups, LEADERS_TIMEOUT_MS);
    signal.throwIfAborted();
    const endpoints = cluster.endpoints();
    this.client = await StrataClient.connect({ endpoints, deadlineMs: clientDeadlineMs, signal });
    const perNode = new Map<number, number>();
    for (const leader of (await cluster.leaders(groups)).values()) {
      perNode.set(leader, (perNode.get(leader) ?? 0) + 1);
    }
    const spread = [...perNode].map(([id, count]) => `node ${id}: ${count}`).join(', ');
    this.options.log(`strata up: ${groups} groups, leaders in ${leadersMs} ms (${spread})`);
  }

  private started(): { cluster: ProcessCluster; client: StrataClient } {
    if (!this.cluster || !this.client) throw new Error('strata is not started');
    return { cluster: this.cluster, client: this.client };
  }

  /** put writes a key and remembers the index that wrote it. */
  async put(key: number, value: Uint8Array): Promise<void> {
    const result = await this.started().client.put(this.options.keys[key], value);
    if (result.index > this.lastIndex[key]) this.lastIndex[key] = result.index;
  }

  /** get reads a key; `at-index` asks for the index of the key's last put. */
  async get(key: number, mode: ReadMode): Promise<Uint8Array | null> {
    const consistency: Consistency = mode === 'at-index' ? { atIndex: this.lastIndex[key] } : mode;
    const kv = await this.started().client.get(this.options.keys[key], { consistency });
    return kv === null ? null : kv.value;
  }

  /** acquireTask starts the benchmark's stream task once: connect, acquire, restore. */
  async acquireTask(signal: AbortSignal): Promise<void> {
    const endpoints = this.started().cluster.endpoints();
    const deadlineMs = this.options.clientDeadlineMs;
    this.checkpointerStart ??= TaskCheckpointer.start({ endpoints, deadlineMs, signal });
    this.checkpointer = await this.checkpointerStart;
  }

  /** checkpoint commits `value` under key numbers `keys` as one checkpoint of the task. */
  async checkpoint(keys: readonly number[], value: Uint8Array): Promise<void> {
    if (!this.checkpointer) throw new Error('strata: checkpoint() before acquireTask()');
    await this.checkpointer.checkpoint(
      keys.map((key) => this.options.keys[key]),
      value,
    );
  }

  /** read reads the nodes' CPU time and counters. */
  read(): Promise<ServerReading> {
    return readStrata(this.started().cluster);
  }

  /** waitApplied waits until every node applied every group's commit index. */
  waitApplied(timeoutMs: number): Promise<number> {
    return waitApplied(this.started().cluster, timeoutMs);
  }

  /** housekeep: nothing to do, the nodes compact their logs by themselves. */
  async housekeep(): Promise<void> {}

  /** describe reports the cluster's shape and the node processes' ids. */
  describe(): Record<string, unknown> {
    const pids = this.cluster ? Object.fromEntries(nodePids(this.cluster)) : {};
    return {
      nodes: this.options.nodes,
      groups: this.options.groups,
      durability: 'fsync of every ready cycle that must be synced',
      pids,
    };
  }

  /** close closes the task and the client, and kills the nodes by process id. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      // An acquire still running is not waited for: the nodes' end makes it fail.
      await this.checkpointer?.close();
      this.client?.close();
      const cluster = await this.clusterStart?.catch(() => null);
      await cluster?.close();
    })();
    return this.closed;
  }
}
