/**
 * Strata store benchmark (a benchmark, never a test): starts a 3-node cluster of real
 * `strata node` processes on loopback (fsync on: every ready cycle's log batch is written with
 * sync), data in a temporary folder, and drives it through StrataClient with closed-loop
 * workloads, each after a short warm-up and bounded by a duration and an operation cap:
 * - put-1, put-64, put-256: puts of 100 B values over 10,000 keys at 1, 64 and 256 in flight;
 * - get-linearizable-64, get-serializable-64: gets of pre-loaded keys at 64 in flight.
 * Per workload it reports ops/s, p50/p90/p99/p99.9 latency, errors, this process's CPU per
 * operation and event-loop utilisation, the node processes' CPU per operation (/proc/<pid>/stat)
 * and fsyncs per operation; prints a markdown table and writes bench/results/store-<ts>.{json,md}.
 * Everything it starts it stops by process id at the end, and on SIGINT/SIGTERM.
 *
 * Run: npm run bench [-- --duration 5 --warmup 1 --groups 64 --ops-max 1000000 --only put-64]
 * The client shares the machine with the three nodes: numbers are for the whole system on one
 * host, and other load on it (see the load-average column) moves them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../jepsen-like-tests/harness/process-cluster.js';
import { StrataClient, type Consistency } from '../src/client/index.js';
import { runClosedLoop, type Operation } from './store-load.js';
import { sampleServers, serverDelta, waitApplied } from './store-probe.js';
import {
  markdownTable,
  errorNotes,
  runInfo,
  workloadRow,
  writeResults,
  type WorkloadRow,
} from './store-report.js';

/** Workload is one closed-loop configuration. */
interface Workload {
  name: string;
  kind: 'put' | 'get';
  inFlight: number;
  consistency?: Consistency;
}

/** WORKLOADS run in this order (puts first, so gets read a store that has data). */
const WORKLOADS: readonly Workload[] = [
  { name: 'put-1', kind: 'put', inFlight: 1 },
  { name: 'put-64', kind: 'put', inFlight: 64 },
  { name: 'put-256', kind: 'put', inFlight: 256 },
  { name: 'get-linearizable-64', kind: 'get', inFlight: 64, consistency: 'linearizable' },
  { name: 'get-serializable-64', kind: 'get', inFlight: 64, consistency: 'serializable' },
];

const NODE_COUNT = 3;
const KEY_COUNT = 10_000;
const VALUE_BYTES = 100;
const CLIENT_DEADLINE_MS = 10_000;
const LEADERS_TIMEOUT_MS = 60_000;
const CATCH_UP_TIMEOUT_MS = 60_000;
const PRELOAD_IN_FLIGHT = 256;
const PRELOAD_TIMEOUT_MS = 120_000;
const IDLE_SAMPLE_MS = 2_000;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

/** Settings are the command-line options, checked. */
interface Settings {
  durationS: number;
  warmupS: number;
  groups: number;
  opsMax: number;
  only: string | null;
}

function numberOption(raw: string | undefined, name: string, min: number, max: number): number {
  const fallback = { duration: 5, warmup: 1, groups: 64, 'ops-max': 1_000_000 }[name];
  const value = raw === undefined ? Number(fallback) : Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`--${name} ${raw} is invalid: allowed range is [${min}, ${max}]`);
  }
  return value;
}

/** parseSettings reads and checks the command line. */
function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      groups: { type: 'string' },
      'ops-max': { type: 'string' },
      only: { type: 'string' },
    },
  });
  const only = values.only ?? null;
  if (only !== null && !WORKLOADS.some((w) => w.name === only)) {
    const names = WORKLOADS.map((w) => w.name).join(', ');
    throw new RangeError(`--only ${only} is not a workload (known: ${names})`);
  }
  return {
    durationS: numberOption(values.duration, 'duration', 0.1, 3_600),
    warmupS: numberOption(values.warmup, 'warmup', 0, 60),
    groups: Math.round(numberOption(values.groups, 'groups', 1, 4_096)),
    opsMax: Math.round(numberOption(values['ops-max'], 'ops-max', 1, 100_000_000)),
    only,
  };
}

/** xorshift32 is a small seeded random source, so every run picks the same keys. */
function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}

const KEYS: readonly Uint8Array[] = Array.from({ length: KEY_COUNT }, (_, i) =>
  Buffer.from(`bench/key-${String(i).padStart(5, '0')}`),
);
const VALUE = new Uint8Array(VALUE_BYTES).map((_, i) => 97 + (i % 26));

/** BenchDataError says a get did not return the pre-loaded value. */
class BenchDataError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'WRONG_VALUE',
    message: string,
  ) {
    super(message);
    this.name = 'BenchDataError';
  }
}

/** operationOf builds a workload's operation: a put or a get of a random key. */
function operationOf(client: StrataClient, workload: Workload, seed: number): Operation {
  const random = xorshift32(seed);
  if (workload.kind === 'put') {
    return async () => {
      await client.put(KEYS[random() % KEY_COUNT], VALUE);
    };
  }
  const consistency = workload.consistency;
  return async () => {
    const key = KEYS[random() % KEY_COUNT];
    const kv = await client.get(key, { consistency });
    if (kv === null) throw new BenchDataError('NOT_FOUND', `${key} is missing`);
    if (kv.value.length !== VALUE_BYTES) {
      throw new BenchDataError('WRONG_VALUE', `${key} has ${kv.value.length} bytes`);
    }
  };
}

/** StoreBench owns the cluster, the client and the temporary folder of one run. */
class StoreBench {
  private clusterStart: Promise<ProcessCluster> | null = null;
  private client: StrataClient | null = null;
  private cleanupDone: Promise<void> | null = null;
  readonly controller = new AbortController();
  private preloaded = false;

  constructor(
    readonly settings: Settings,
    readonly dir: string,
  ) {}

  /** start starts the nodes, waits for a leader in every group and connects the client. */
  async start(): Promise<{ cluster: ProcessCluster; client: StrataClient }> {
    const { groups } = this.settings;
    this.clusterStart = ProcessCluster.start({
      dir: this.dir,
      nodes: NODE_COUNT,
      groupCount: groups,
      clusterId: 'bench',
    });
    const cluster = await this.clusterStart;
    const leadersMs = await cluster.waitForLeaders(groups, LEADERS_TIMEOUT_MS);
    const endpoints = cluster.endpoints();
    this.client = await StrataClient.connect({ endpoints, deadlineMs: CLIENT_DEADLINE_MS });
    const leaders = await cluster.leaders(groups);
    const perNode = new Map<number, number>();
    for (const leader of leaders.values()) perNode.set(leader, (perNode.get(leader) ?? 0) + 1);
    const spread = [...perNode].map(([id, count]) => `node ${id}: ${count}`).join(', ');
    log(`cluster up: ${groups} groups, leaders in ${leadersMs} ms (${spread})`);
    return { cluster, client: this.client };
  }

  /** idleServerCores measures the nodes' CPU (in cores) while no client sends anything. */
  async idleServerCores(cluster: ProcessCluster): Promise<number> {
    await waitApplied(cluster, CATCH_UP_TIMEOUT_MS);
    const before = await sampleServers(cluster);
    const startedMs = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const delta = serverDelta(before, await sampleServers(cluster));
    const cores = delta.cpuUs / 1_000 / (performance.now() - startedMs);
    log(`idle: the nodes use ${cores.toFixed(2)} cores, ${delta.syncs} fsyncs`);
    return cores;
  }

  /** preload writes every key once, so that gets find them (not measured). */
  async preload(client: StrataClient): Promise<void> {
    if (this.preloaded) return;
    const result = await runClosedLoop({
      concurrency: PRELOAD_IN_FLIGHT,
      durationMs: PRELOAD_TIMEOUT_MS,
      opsMax: KEY_COUNT,
      signal: this.controller.signal,
      operation: async (sequence) => {
        await client.put(KEYS[sequence], VALUE);
      },
    });
    const rate = Math.round((result.ops * 1_000) / result.elapsedMs);
    log(`preloaded ${result.ops} keys in ${Math.round(result.elapsedMs)} ms (${rate}/s)`);
    if (result.errors.total > 0) {
      log(`preload errors (gets of those keys will fail): ${JSON.stringify(result.errors)}`);
    }
    this.preloaded = true;
  }

  /** measure runs one workload: warm-up, then the measured run with server samples around it. */
  async measure(
    cluster: ProcessCluster,
    client: StrataClient,
    w: Workload,
    seed: number,
  ): Promise<WorkloadRow> {
    const { durationS, warmupS, opsMax } = this.settings;
    const signal = this.controller.signal;
    if (w.kind === 'get') await this.preload(client);
    if (warmupS > 0) {
      const operation = operationOf(client, w, seed ^ 0x5eed);
      const durationMs = warmupS * 1_000;
      await runClosedLoop({ concurrency: w.inFlight, durationMs, opsMax, signal, operation });
    }
    await waitApplied(cluster, CATCH_UP_TIMEOUT_MS);
    const loadAverageBefore = loadavg()[0];
    const before = await sampleServers(cluster);
    const load = await runClosedLoop({
      concurrency: w.inFlight,
      durationMs: durationS * 1_000,
      opsMax,
      signal,
      operation: operationOf(client, w, seed),
    });
    const catchUpMs = await waitApplied(cluster, CATCH_UP_TIMEOUT_MS);
    const after = await sampleServers(cluster);
    const delta = serverDelta(before, after);
    return workloadRow(w.name, w.inFlight, load, delta, { catchUpMs, loadAverageBefore });
  }

  /** cleanup closes the client, kills the nodes by process id and removes the folder. */
  cleanup(): Promise<void> {
    this.cleanupDone ??= (async () => {
      this.controller.abort();
      this.client?.close();
      const cluster = await this.clusterStart?.catch(() => null);
      await cluster?.close();
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return this.cleanupDone;
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function summary(row: WorkloadRow): string {
  const l = row.latencyUs;
  return (
    `${row.workload}: ${Math.round(row.opsPerSecond)} ops/s, p50 ${(l.p50 / 1e3).toFixed(2)} ms,` +
    ` p99 ${(l.p99 / 1e3).toFixed(2)} ms, ${row.errors} errors,` +
    ` server ${Math.round(row.serverCpuUsPerOp)} µs/op`
  );
}

/** main runs the selected workloads and reports them. */
async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const info = runInfo(
    { ...settings, nodes: NODE_COUNT, keys: KEY_COUNT, valueBytes: VALUE_BYTES },
    REPO_ROOT,
  );
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-'));
  const bench = new StoreBench(settings, dir);
  const stop = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the nodes and removing ${dir}`);
    void bench.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const rows: WorkloadRow[] = [];
  try {
    const { cluster, client } = await bench.start();
    info.idleServerCores = await bench.idleServerCores(cluster);
    const selected = WORKLOADS.filter((w) => settings.only === null || w.name === settings.only);
    for (const [i, workload] of selected.entries()) {
      if (bench.controller.signal.aborted) break;
      const row = await bench.measure(cluster, client, workload, 0x9e3779b9 + i);
      rows.push(row);
      log(summary(row));
    }
  } finally {
    await bench.cleanup();
  }
  process.stdout.write(`\n${markdownTable(rows)}\n\n${errorNotes(rows)}\n`);
  const paths = await writeResults(RESULTS_DIR, info, rows);
  log(`wrote ${paths.join(' and ')}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`store bench failed: ${error instanceof Error ? error.stack : error}\n`);
  process.exitCode = 1;
});
