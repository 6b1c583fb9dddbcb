/**
 * runSchedule plays one Schedule on a fresh simulated cluster and checks every property:
 * the safety invariants after every event (invariants.ts), then, after healing everything,
 * liveness (a leader within LEADER_TICKS_MAX ticks, a fresh proposal applied everywhere within
 * COMMIT_TICKS_MAX ticks), then linearizability of the client history with the checker.
 */
import { checkHistorySync, formatResult, type HistoryEvent } from '../checker/index.js';
import {
  AssertionFailure,
  NotLeaderError,
  ProposalDroppedError,
  type Mutation,
} from '../../src/raft/index.js';
import { Cluster, TICK_MS } from './cluster.js';
import { PropertyViolation } from './invariants.js';
import { applyFault } from './nemesis.js';
import { DEFAULT_FAULTS } from './network.js';
import { sortedEvents, type Schedule } from './schedule.js';

/** LEADER_TICKS_MAX bounds the ticks from the final heal to a leader. */
export const LEADER_TICKS_MAX = 200;
/** COMMIT_TICKS_MAX bounds the ticks from the final heal to a fresh proposal being applied. */
export const COMMIT_TICKS_MAX = 300;
/** OP_TIMEOUT_MS is the client operation timeout (an op not answered by then is indeterminate). */
export const OP_TIMEOUT_MS = 500;
/** Per-key search budget of the linearizability checker. */
const CHECK_STEPS_MAX = 2_000_000;

/** RunStats are the numbers of one run (summed over runs by the suite). */
export interface RunStats {
  runs: number;
  events: number;
  simulatedMs: number;
  elections: number;
  snapshotsCreated: number;
  snapshotsInstalled: number;
  confChanges: number;
  transfers: number;
  crashes: number;
  messages: number;
  opsChecked: number;
  opsInfo: number;
  leaderTicksMax: number;
  /** Most events in one run (a message loop shows up here first). */
  runEventsMax: number;
}

/** emptyStats returns zeroed RunStats. */
export function emptyStats(): RunStats {
  return {
    runs: 0,
    events: 0,
    simulatedMs: 0,
    elections: 0,
    snapshotsCreated: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    transfers: 0,
    crashes: 0,
    messages: 0,
    opsChecked: 0,
    opsInfo: 0,
    leaderTicksMax: 0,
    runEventsMax: 0,
  };
}

/** addStats adds `b` into `a` (maxima for the *Max fields). */
export function addStats(a: RunStats, b: RunStats): void {
  for (const key of Object.keys(a) as (keyof RunStats)[]) {
    a[key] = key.endsWith('Max') ? Math.max(a[key], b[key]) : a[key] + b[key];
  }
}

/** RunFailure describes the property a run broke. */
export interface RunFailure {
  property: string;
  message: string;
  atMs: number;
}

/** RunResult is the outcome of one schedule. */
export interface RunResult {
  failure: RunFailure | null;
  stats: RunStats;
  history: HistoryEvent[];
}

/** RunOptions select a mutation (a known bug switched in) for the run. */
export interface RunOptions {
  mutation?: Mutation | null;
  /** trace receives a line per notable event (the CLI's --verbose). */
  trace?: (line: string) => void;
}

/** runSchedule runs one schedule to the end or to its first property violation. */
export function runSchedule(schedule: Schedule, options: RunOptions = {}): RunResult {
  const cluster = new Cluster({
    seed: schedule.seed,
    nodeCount: schedule.nodeCount,
    snapshotEvery: schedule.snapshotEvery,
    snapshotTrailing: schedule.snapshotTrailing,
    preVote: schedule.preVote,
    checkQuorum: schedule.checkQuorum,
    tickSkewMs: schedule.tickSkewMs,
    messageBytesMax: schedule.messageBytesMax,
    quiesceTicks: schedule.quiesceTicks ?? 0,
    mutation: options.mutation ?? null,
    trace: options.trace,
    clients: {
      clients: schedule.clients,
      keys: schedule.keys,
      opsMax: schedule.opsMax,
      timeoutMs: OP_TIMEOUT_MS,
      thinkMsMax: 20,
    },
  });
  const stats = emptyStats();
  let failure: RunFailure | null = null;
  try {
    playFaults(cluster, schedule);
    stats.leaderTicksMax = checkLiveness(cluster, schedule);
    finishClients(cluster, schedule);
    checkQuiescentFailover(cluster, schedule);
    stats.opsChecked = checkLinearizable(cluster);
  } catch (error) {
    failure = describeFailure(error, cluster.scheduler.nowMs);
  }
  collectStats(cluster, stats);
  return { failure, stats, history: cluster.clients.history };
}

function playFaults(cluster: Cluster, schedule: Schedule): void {
  cluster.clients.start();
  for (const event of sortedEvents(schedule)) {
    cluster.runUntil(event.atMs);
    cluster.log(() => `fault ${event.kind} ${JSON.stringify(event.args)}`);
    applyFault(cluster, event);
    cluster.settle();
  }
  cluster.runUntil(schedule.durationMs);
  // The end of the fault window: heal everything and bring every node back.
  cluster.triggers.disarmAll();
  cluster.network.heal();
  cluster.network.faults = { ...DEFAULT_FAULTS };
  for (const id of cluster.nodeIds()) cluster.restart(id);
  cluster.log('final heal: network healed, every node up');
  cluster.settle();
}

/**
 * checkLiveness: after the heal, a leader must appear within LEADER_TICKS_MAX ticks, a fresh
 * proposal must be applied within COMMIT_TICKS_MAX ticks of the heal (re-proposed whenever
 * leadership moves), and by then every member replica must have applied it too (caught up).
 * Returns the ticks from the heal to the first leader.
 */
function checkLiveness(cluster: Cluster, schedule: Schedule): number {
  const healedMs = cluster.scheduler.nowMs;
  const deadlineMs = healedMs + COMMIT_TICKS_MAX * TICK_MS;
  let probeIndex = 0;
  let firstLeaderMs = -1;
  const probe = { node: 0, term: 0 };
  while (probeIndex === 0) {
    const now = cluster.scheduler.nowMs;
    if (firstLeaderMs < 0 && now > healedMs + LEADER_TICKS_MAX * TICK_MS) {
      const detail = `no leader ${LEADER_TICKS_MAX} ticks after the final heal at t=${healedMs}ms`;
      throw new PropertyViolation('Liveness', detail, now);
    }
    if (now > deadlineMs) {
      const detail =
        `no fresh proposal was applied within ${COMMIT_TICKS_MAX} ticks of the final heal ` +
        `at t=${healedMs}ms (first leader at t=${firstLeaderMs}ms)`;
      throw new PropertyViolation('Liveness', detail, now);
    }
    const leader = cluster.leader();
    const term = leader?.status().term ?? 0;
    if (leader !== undefined && (probe.node !== leader.id || probe.term !== term)) {
      try {
        cluster.proposeProbe(leader, (index) => (probeIndex = index));
        Object.assign(probe, { node: leader.id, term });
        if (firstLeaderMs < 0) firstLeaderMs = now;
      } catch (error) {
        if (!(error instanceof NotLeaderError || error instanceof ProposalDroppedError))
          throw error;
      }
    }
    cluster.runUntil(now + TICK_MS);
  }
  checkCaughtUp(cluster, probeIndex, deadlineMs);
  cluster.runUntil(Math.max(cluster.scheduler.nowMs, schedule.durationMs + schedule.quietMs));
  return Math.ceil((firstLeaderMs - healedMs) / TICK_MS);
}

/** QUIESCE_SLACK_TICKS: ticks beyond quiesceTicks an idle healthy group may take to quiesce. */
const QUIESCE_SLACK_TICKS = 40;

/**
 * checkQuiescentFailover (when quiescence is on): with the clients stopped, the idle group
 * must quiesce within quiesceTicks + QUIESCE_SLACK_TICKS ticks; then its leader crashes, and
 * the others, woken by the silence of the leader's node, must elect a leader and apply a fresh
 * proposal (the liveness check again, from the crash). The crashed node then restarts.
 */
function checkQuiescentFailover(cluster: Cluster, schedule: Schedule): void {
  const quiesceTicks = schedule.quiesceTicks ?? 0;
  if (quiesceTicks === 0) return;
  const startMs = cluster.scheduler.nowMs;
  for (;;) {
    const leader = cluster.leader();
    if (leader !== undefined && leader.rawNode().isQuiesced()) {
      cluster.log(`quiesced: crashing leader ${leader.id}`);
      cluster.crash(leader.id);
      awaitNewLeader(cluster, leader.id);
      cluster.restart(leader.id);
      checkLiveness(cluster, schedule);
      return;
    }
    const now = cluster.scheduler.nowMs;
    if (now > startMs + (quiesceTicks + QUIESCE_SLACK_TICKS) * TICK_MS) {
      const status = cluster.leader()?.status();
      const view = status
        ? `leader ${status.id}: commit ${status.commit}, last ${status.lastIndex}, ` +
          `pending reads ${status.pendingReads}, progress ${JSON.stringify(status.progress)}`
        : 'no leader';
      const detail =
        `the idle group did not quiesce within ${quiesceTicks + QUIESCE_SLACK_TICKS} ticks ` +
        `(${view})`;
      throw new PropertyViolation('Quiescence', detail, now);
    }
    cluster.runUntil(now + TICK_MS);
  }
}

/** awaitNewLeader waits for a leader other than `crashed`, within LEADER_TICKS_MAX ticks. */
function awaitNewLeader(cluster: Cluster, crashed: number): void {
  const startMs = cluster.scheduler.nowMs;
  for (;;) {
    const leader = cluster.leader();
    if (leader !== undefined && leader.id !== crashed) return;
    const now = cluster.scheduler.nowMs;
    if (now > startMs + LEADER_TICKS_MAX * TICK_MS) {
      const detail = `no new leader ${LEADER_TICKS_MAX} ticks after the quiesced leader ${crashed} crashed`;
      throw new PropertyViolation('Liveness (quiesced failover)', detail, now);
    }
    cluster.runUntil(now + TICK_MS);
  }
}

/** checkCaughtUp waits until every member replica has applied `index`, or fails at deadline. */
function checkCaughtUp(cluster: Cluster, index: number, deadlineMs: number): void {
  for (;;) {
    const lagging = laggingMembers(cluster, index);
    if (lagging.length === 0) return;
    const now = cluster.scheduler.nowMs;
    if (now > deadlineMs) {
      const detail =
        `replicas ${lagging.join(', ')} had not applied the committed index ${index} by ` +
        `t=${now}ms (${COMMIT_TICKS_MAX} ticks after the final heal)`;
      throw new PropertyViolation('Liveness (catch-up)', detail, now);
    }
    cluster.runUntil(now + TICK_MS);
  }
}

/** laggingMembers lists the leader's members (voters and learners) that have not applied index. */
function laggingMembers(cluster: Cluster, index: number): string[] {
  const leader = cluster.leader();
  if (leader === undefined) return ['(no leader)'];
  const { voters, learners } = leader.status().confState;
  const lagging: string[] = [];
  for (const id of [...voters, ...learners]) {
    const node = cluster.node(id);
    if (node === undefined || node.removed) continue;
    if (!node.up || node.applied < index) lagging.push(`${id} (applied ${node.applied})`);
  }
  return lagging;
}

/** finishClients stops new operations and runs until every operation has completed. */
function finishClients(cluster: Cluster, schedule: Schedule): void {
  cluster.clients.stop();
  const deadline = cluster.scheduler.nowMs + OP_TIMEOUT_MS + TICK_MS;
  while (cluster.clients.inFlight > 0 && cluster.scheduler.nowMs < deadline) {
    cluster.runUntil(cluster.scheduler.nowMs + TICK_MS);
  }
  if (cluster.clients.inFlight > 0) {
    throw new Error(`${cluster.clients.inFlight} client ops never completed (${schedule.seed})`);
  }
}

/** checkLinearizable runs the checker over the history; returns the ops checked. */
function checkLinearizable(cluster: Cluster): number {
  const result = checkHistorySync(cluster.clients.history, { maxStepsPerKey: CHECK_STEPS_MAX });
  const now = cluster.scheduler.nowMs;
  if (result.valid === false) {
    throw new PropertyViolation('Linearizability', formatResult(result), now);
  }
  if (result.valid === 'unknown') {
    throw new PropertyViolation('Linearizability (inconclusive)', formatResult(result), now);
  }
  return result.opCount;
}

function describeFailure(error: unknown, nowMs: number): RunFailure {
  if (error instanceof PropertyViolation) {
    return { property: error.property, message: error.message, atMs: error.atMs };
  }
  const property = error instanceof AssertionFailure ? 'Core assertion' : 'Exception';
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { property, message: `${message} (at t=${nowMs}ms)`, atMs: nowMs };
}

function collectStats(cluster: Cluster, stats: RunStats): void {
  stats.runs = 1;
  stats.events = cluster.scheduler.actionsRun;
  stats.runEventsMax = stats.events;
  stats.simulatedMs = cluster.scheduler.nowMs;
  stats.elections = cluster.checker.leaderByTerm.size;
  stats.snapshotsCreated = cluster.stats.snapshotsCreated;
  stats.snapshotsInstalled = cluster.stats.snapshotsInstalled;
  stats.confChanges = cluster.checker.confChangesApplied;
  stats.transfers = cluster.stats.transfers;
  stats.crashes = cluster.stats.crashes;
  stats.messages = cluster.network.stats.sent;
  stats.opsInfo = cluster.clients.stats.info;
}
