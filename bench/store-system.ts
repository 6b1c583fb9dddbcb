/**
 * The contract between the store benchmark and a system under test (Strata or etcd): start a
 * 3-member cluster on loopback, put and get keys through the system's own client, read the
 * servers' CPU time and fsync counters, wait until every member applied what was committed,
 * and stop everything by process id. The workloads (store-workloads.ts) only see this interface,
 * so both systems run the very same closed loops.
 */

/** SystemName names a system under test. */
export type SystemName = 'strata' | 'etcd';

/** ReadMode is a get's consistency: `at-index` is Strata's "at least the index I wrote". */
export type ReadMode = 'linearizable' | 'serializable' | 'at-index';

/**
 * Capability is an optional feature a workload may need. `checkpoint` is a stream-task
 * checkpoint (N dirty keys and the input offsets committed atomically): Strata only.
 */
export type Capability = 'get-at-index' | 'checkpoint';

/** ServerReading is one reading of every member: CPU time and counters, summed or by member. */
export interface ServerReading {
  /** cpuUsByMember is each member process's utime+stime (µs), by member name. */
  cpuUsByMember: Record<string, number>;
  /** syncs counts the members' fsyncs (Strata: its counter; etcd: WAL + backend commits). */
  syncs: number;
  /** cycles counts Strata's ready cycles (null for etcd). */
  cycles: number | null;
}

/** ServerDelta is what the members did between two readings. */
export interface ServerDelta {
  cpuUs: number;
  cpuUsByMember: Record<string, number>;
  syncs: number;
  cycles: number | null;
}

/** BenchSystem is one system under test with its cluster and client. */
export interface BenchSystem {
  readonly name: SystemName;
  readonly capabilities: ReadonlySet<Capability>;
  /** start starts the members, waits until they serve, and connects the client. */
  start(signal: AbortSignal): Promise<void>;
  /** put writes `value` under key number `key` (0 <= key < keys). */
  put(key: number, value: Uint8Array): Promise<void>;
  /** get reads key number `key`; null when absent. `at-index` needs the capability. */
  get(key: number, mode: ReadMode): Promise<Uint8Array | null>;
  /**
   * acquireTask makes the system own the stream task that checkpoint() commits to (not
   * measured; idempotent). Present only with the `checkpoint` capability.
   */
  acquireTask?(signal: AbortSignal): Promise<void>;
  /**
   * checkpoint commits one checkpoint of that task: `value` under each key number of `keys`
   * (distinct), and its input offsets, atomically. Only with the `checkpoint` capability.
   */
  checkpoint?(keys: readonly number[], value: Uint8Array): Promise<void>;
  /** read reads the members' CPU time and counters. */
  read(): Promise<ServerReading>;
  /** waitApplied waits until every member applied everything committed; returns the ms. */
  waitApplied(timeoutMs: number): Promise<number>;
  /** housekeep does the unmeasured upkeep between workloads (etcd: compact the history). */
  housekeep(): Promise<void>;
  /** describe says how the cluster runs (versions, flags), for the report. */
  describe(): Record<string, unknown>;
  /** close closes the client and stops every member by process id (idempotent). */
  close(): Promise<void>;
}

/** serverDelta subtracts two readings. */
export function serverDelta(before: ServerReading, after: ServerReading): ServerDelta {
  const cpuUsByMember: Record<string, number> = {};
  let cpuUs = 0;
  for (const [member, value] of Object.entries(after.cpuUsByMember)) {
    const delta = value - (before.cpuUsByMember[member] ?? value);
    cpuUsByMember[member] = delta;
    cpuUs += delta;
  }
  const cycles =
    after.cycles === null || before.cycles === null ? null : after.cycles - before.cycles;
  return { cpuUs, cpuUsByMember, syncs: after.syncs - before.syncs, cycles };
}
