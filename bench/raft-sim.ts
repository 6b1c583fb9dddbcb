/**
 * Raft core throughput in the in-memory simulator: 3 replicas, no faults, MemoryStorage as the
 * "disk" and synchronous delivery as the "network". For several proposals-per-cycle settings
 * (1 = batching off: one proposal per Ready/advance cycle; more = batching on) it reports
 * committed entries per second of wall time and bytes allocated per committed entry, measured
 * as the heap's net growth plus what every GC in between freed (process.memoryUsage() and
 * node:v8's GCProfiler; run with --expose-gc so each row starts from a collected heap). Each
 * row is bounded in time. Run: npm run bench:raft [-- --ms 1500 --bytes 100].
 */
import { GCProfiler } from 'node:v8';
import { parseArgs } from 'node:util';
import {
  MemoryStorage,
  RawNode,
  Role,
  groupId,
  mulberry32,
  nodeId,
  type Message,
  type NodeId,
} from '../src/raft/index.js';

/** BenchRow is one measured configuration. */
interface BenchRow {
  mode: string;
  proposalsPerCycle: number;
  committed: number;
  cycles: number;
  wallMs: number;
  bytesPerEntry: number;
}

interface Replica {
  raw: RawNode;
  storage: MemoryStorage;
  applied: number;
}

const VOTERS = [nodeId(1), nodeId(2), nodeId(3)];
const SNAPSHOT_EVERY = 100;
const SNAPSHOT_TRAILING = 10;

/** BenchCluster drives three replicas in lock step: every cycle is one Ready per replica. */
class BenchCluster {
  readonly replicas = new Map<NodeId, Replica>();
  private mailbox: Message[] = [];
  /** committed counts non-empty entries applied by the leader. */
  committed = 0;
  cycles = 0;

  constructor() {
    for (const id of VOTERS) {
      const storage = MemoryStorage.bootstrap({ voters: VOTERS.slice(), learners: [] });
      const raw = new RawNode(
        {
          id,
          groupId: groupId(1),
          random: mulberry32(id),
          applied: 1,
          preVote: true,
          checkQuorum: true,
          inflightMessagesMax: 256,
        },
        storage,
      );
      this.replicas.set(id, { raw, storage, applied: 1 });
    }
    this.leader().raw.campaign();
    for (let i = 0; i < 50 && !this.hasLeader(); i++) this.cycle();
    if (!this.hasLeader()) throw new Error('no leader after 50 cycles');
  }

  hasLeader(): boolean {
    return this.replicas.get(VOTERS[0])?.raw.status().role === Role.Leader;
  }

  leader(): Replica {
    return this.replicas.get(VOTERS[0]) as Replica;
  }

  /** cycle runs one Ready/advance per replica, then delivers every message sent. */
  cycle(): void {
    this.cycles++;
    for (const [id, replica] of this.replicas) {
      if (!replica.raw.hasReady()) continue;
      const ready = replica.raw.ready();
      if (ready.snapshot !== null) replica.storage.applySnapshot(ready.snapshot);
      replica.storage.append(ready.entries);
      if (ready.hardState !== null) replica.storage.setHardState(ready.hardState);
      for (const message of ready.earlyMessages) this.mailbox.push(message);
      for (const message of ready.messages) this.mailbox.push(message);
      for (const entry of ready.committedEntries) {
        if (id === VOTERS[0] && entry.data.byteLength > 0) this.committed++;
        replica.applied = entry.index;
      }
      replica.raw.advance(ready);
      this.compact(replica);
    }
    const mail = this.mailbox;
    this.mailbox = [];
    for (const message of mail) this.replicas.get(message.to)?.raw.step(message);
  }

  private compact(replica: Replica): void {
    const snapshotIndex = replica.storage.snapshot().metadata.index;
    if (replica.applied - snapshotIndex < SNAPSHOT_EVERY) return;
    const confState = replica.raw.status().confState;
    replica.storage.createSnapshot(replica.applied, confState, new Uint8Array(0));
    replica.storage.compact(replica.applied - SNAPSHOT_TRAILING);
  }
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) gc();
}

/** measure runs one configuration for about `budgetMs` of wall time. */
function measure(proposalsPerCycle: number, budgetMs: number, payloadBytes: number): BenchRow {
  const cluster = new BenchCluster();
  const payload = new Uint8Array(payloadBytes).fill(7);
  for (let i = 0; i < 2000; i++) {
    cluster.leader().raw.propose(payload); // warm-up
    cluster.cycle();
  }
  collect();
  const committedBefore = cluster.committed;
  const cyclesBefore = cluster.cycles;
  const profiler = new GCProfiler();
  const heapBefore = process.memoryUsage().heapUsed;
  profiler.start();
  const started = performance.now();
  let proposed = 0;
  while (performance.now() - started < budgetMs) {
    for (let round = 0; round < 64; round++) {
      for (let i = 0; i < proposalsPerCycle; i++) cluster.leader().raw.propose(payload);
      proposed += proposalsPerCycle;
      cluster.cycle();
    }
  }
  while (cluster.committed - committedBefore < proposed) cluster.cycle(); // drain the pipeline
  const wallMs = performance.now() - started;
  const heapAfter = process.memoryUsage().heapUsed;
  const freed = profiler
    .stop()
    .statistics.reduce(
      (sum, gc) =>
        sum + gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize,
      0,
    );
  const committed = cluster.committed - committedBefore;
  return {
    mode: proposalsPerCycle === 1 ? 'batching off' : 'batching on',
    proposalsPerCycle,
    committed,
    cycles: cluster.cycles - cyclesBefore,
    wallMs,
    bytesPerEntry: (heapAfter - heapBefore + freed) / committed,
  };
}

function printTable(rows: BenchRow[], payloadBytes: number): void {
  const gcNote = (globalThis as { gc?: () => void }).gc === undefined ? ' (no --expose-gc)' : '';
  console.log(
    `raft core in the simulator: 3 replicas, no faults, ${payloadBytes} B entries${gcNote}`,
  );
  const header = [
    'mode',
    'proposals/cycle',
    'committed',
    'cycles',
    'wall ms',
    'entries/s',
    'bytes alloc/entry',
  ];
  const lines = rows.map((row) => [
    row.mode,
    String(row.proposalsPerCycle),
    String(row.committed),
    String(row.cycles),
    row.wallMs.toFixed(0),
    Math.round((row.committed / row.wallMs) * 1000).toLocaleString('en-US'),
    Math.round(row.bytesPerEntry).toLocaleString('en-US'),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of lines) console.log(format(line));
}

function main(): void {
  const { values } = parseArgs({
    options: { ms: { type: 'string', default: '1000' }, bytes: { type: 'string', default: '100' } },
  });
  const budgetMs = Number(values.ms);
  const payloadBytes = Number(values.bytes);
  const rows = [1, 8, 64, 256].map((batch) => measure(batch, budgetMs, payloadBytes));
  printTable(rows, payloadBytes);
}

main();
