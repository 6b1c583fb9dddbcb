/**
 * The contract every workload of the Jepsen-like runner follows. A workload drives clients
 * against the cluster while the nemesis runs, does its final reads once the cluster is healed,
 * then checks its own history. Adding a workload (the stream-task word count on Kafka is the
 * next one) means implementing Workload and adding a factory to WORKLOADS in index.ts.
 */
import type { Clock } from '../runner/time.js';
import type { ProcessIds } from '../runner/history.js';
import type { Validity } from '../checker/index.js';
import type { ReplicaContents } from '../checks/replicas.js';

/** WorkloadContext is what the runner gives a workload. */
export interface WorkloadContext {
  /** endpoints are the nodes' host:port addresses. */
  endpoints: string[];
  clock: Clock;
  processIds: ProcessIds;
  /** dir is the run's results folder (a workload writes `<name>.jsonl` there). */
  dir: string;
  /** random is the run's seeded PRNG for workload choices. */
  random: () => number;
  /** groupCount is the cluster's number of groups. */
  groupCount: number;
  /** log prints a progress line. */
  log: (line: string) => void;
  /**
   * readEveryReplica reads, once the cluster converged, the keys with a prefix of every group
   * on every replica that hosts it (serializable reads, node by node).
   */
  readEveryReplica: (prefix: string) => Promise<ReplicaContents[]>;
}

/** WorkloadResult is a workload's verdict and what it counted. */
export interface WorkloadResult {
  name: string;
  /** valid: true (passed), false (an anomaly), 'unknown' (inconclusive: never a pass). */
  valid: Validity;
  /** opsChecked counts the operations the checker examined. */
  opsChecked: number;
  counts: { invoked: number; ok: number; fail: number; info: number };
  /** summary is one line for the run's summary. */
  summary: string;
  /** anomalies lists what went wrong, one line each (empty when valid). */
  anomalies: string[];
  /** details is written to the report as JSON (e.g. the checker's result). */
  details: unknown;
}

/** Workload is one kind of client traffic with its checker. */
export interface Workload {
  readonly name: string;
  /** start connects and starts the clients; it returns once they are running. */
  start(ctx: WorkloadContext): Promise<void>;
  /** stop makes the clients finish their current operation and stop (bounded by deadlines). */
  stop(): Promise<void>;
  /** finalReads reads what the checker needs once the cluster is healed (bounded). */
  finalReads(ctx: WorkloadContext): Promise<void>;
  /** check checks the history; it may use worker threads. */
  check(ctx: WorkloadContext): Promise<WorkloadResult>;
  /** close closes clients and files. */
  close(): Promise<void>;
}

/** WorkloadTuning bounds a workload's clients. */
export interface WorkloadTuning {
  /** workers is the number of concurrent client loops. */
  workers: number;
  /** clients is the number of StrataClient instances the workers share. */
  clients: number;
  /** opsMax bounds the operations of one worker. */
  opsMax: number;
  /** thinkMs is the pause between two operations of a worker. */
  thinkMs: number;
  /** deadlineMs is each call's deadline. */
  deadlineMs: number;
  /** attemptTimeoutMs is the client's per-attempt timeout (shorter: more retries). */
  attemptTimeoutMs: number;
}
