/**
 * The etcd side of the store benchmark: three `etcd` members on loopback (EtcdCluster, default
 * durability) driven through the `etcd3` package, as an application would use it: every
 * operation is one unary gRPC call to a member picked at random (a follower forwards a put to
 * the leader; a linearizable get costs a ReadIndex round). Server CPU is read from /proc, fsyncs
 * from the members' metrics (WAL fsyncs + backend commits). Between workloads the key history is
 * compacted (not measured): etcd keeps every revision until told otherwise, and 64 KiB puts
 * would otherwise fill its 2 GiB default quota over a few repeats.
 */
import { Etcd3 } from 'etcd3';
import { EtcdCluster, etcdVersion } from './etcd-cluster.js';
import { processCpuUs } from './store-probe.js';
import type { BenchSystem, Capability, ReadMode, ServerReading } from './store-system.js';

/** EtcdOptions configure the etcd system under test. */
export interface EtcdOptions {
  /** dir is an empty folder for the members' data (removed by the caller). */
  dir: string;
  members: number;
  keys: readonly Uint8Array[];
  clientDeadlineMs: number;
  log: (line: string) => void;
}

/** EtcdSystem runs etcd for the benchmark. */
export class EtcdSystem implements BenchSystem {
  readonly name = 'etcd';
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>();
  private clusterStart: Promise<EtcdCluster> | null = null;
  private cluster: EtcdCluster | null = null;
  private client: Etcd3 | null = null;
  private closed: Promise<void> | null = null;
  private readonly keys: readonly Buffer[];
  /** revisionMax is the highest revision a put returned; compacted is the last compaction's. */
  private revisionMax = 0;
  private compacted = 0;

  constructor(readonly options: EtcdOptions) {
    this.keys = options.keys.map((key) => Buffer.from(key.buffer, key.byteOffset, key.length));
  }

  /** start starts the members, waits until they are healthy and creates the client. */
  async start(signal: AbortSignal): Promise<void> {
    const startedMs = performance.now();
    this.clusterStart = EtcdCluster.start(this.options.dir, this.options.members);
    this.cluster = await this.clusterStart;
    signal.throwIfAborted();
    const deadlineMs = this.options.clientDeadlineMs;
    this.client = new Etcd3({
      hosts: this.cluster.endpoints(),
      defaultCallOptions: () => ({ deadline: Date.now() + deadlineMs }),
    });
    const elapsedMs = Math.round(performance.now() - startedMs);
    this.options.log(`etcd up: ${this.options.members} members healthy in ${elapsedMs} ms`);
  }

  private started(): { cluster: EtcdCluster; client: Etcd3 } {
    if (!this.cluster || !this.client) throw new Error('etcd is not started');
    return { cluster: this.cluster, client: this.client };
  }

  /** put writes a key (one Put call) and remembers the highest revision. */
  async put(key: number, value: Uint8Array): Promise<void> {
    const buffer = Buffer.from(value.buffer, value.byteOffset, value.length);
    const response = await this.started().client.put(this.keys[key]).value(buffer).exec();
    const revision = Number(response.header.revision);
    if (revision > this.revisionMax) this.revisionMax = revision;
  }

  /** get reads a key (one Range call), linearizable unless `serializable`. */
  async get(key: number, mode: ReadMode): Promise<Uint8Array | null> {
    if (mode === 'at-index') throw new Error('etcd has no at-index reads');
    const builder = this.started().client.get(this.keys[key]);
    return builder.serializable(mode === 'serializable').buffer();
  }

  /** read reads the members' CPU time and their fsync counters. */
  async read(): Promise<ServerReading> {
    const { cluster } = this.started();
    const reading: ServerReading = { cpuUsByMember: {}, syncs: 0, cycles: null };
    const pids = cluster.pids();
    for (const member of cluster.members) {
      const pid = pids.get(member.name);
      if (pid === undefined) throw new Error(`etcd ${member.name} is not running`);
      reading.cpuUsByMember[member.name] = processCpuUs(pid);
      const metrics = await cluster.metrics(member);
      reading.syncs += metrics.walFsyncs + metrics.backendCommits;
    }
    return reading;
  }

  /** waitApplied waits until every member applied the highest commit index. */
  waitApplied(timeoutMs: number): Promise<number> {
    return this.started().cluster.waitApplied(timeoutMs);
  }

  /** housekeep compacts the history up to the last revision written (physically). */
  async housekeep(): Promise<void> {
    if (this.revisionMax <= this.compacted) return;
    const revision = this.revisionMax;
    await this.started().client.kv.compact({ revision, physical: true });
    this.compacted = revision;
  }

  /** describe reports etcd's version, its durability and the members' process ids. */
  describe(): Record<string, unknown> {
    return {
      members: this.options.members,
      version: etcdVersion(),
      durability: 'etcd defaults (WAL fsync before acknowledging)',
      client: 'etcd3 (npm), every member as an endpoint',
      pids: this.cluster ? Object.fromEntries(this.cluster.pids()) : {},
    };
  }

  /** close closes the client and stops the members by process id. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.client?.close();
      const cluster = await this.clusterStart?.catch(() => null);
      await cluster?.close();
    })();
    return this.closed;
  }
}
