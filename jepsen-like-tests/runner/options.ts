/**
 * Run options and the named profiles. A profile fixes the cluster, the workloads, the
 * nemeses and the time bounds; the CLI and the tests start from one and override what they
 * are given (seed, time, nemeses, workloads, a schedule to replay).
 */
import type { NemesisStep, ScheduleTiming } from '../nemesis/schedule.js';
import { NEMESIS_NAMES, selectNemeses } from '../nemesis/schedule.js';
import type { TuningOverrides } from '../workloads/index.js';
import type { ClusterSpec } from './cluster.js';

/** RunOptions is everything a run needs (plain JSON: it is handed to the runner process). */
export interface RunOptions {
  /** profile names the profile the options came from (part of the run id). */
  profile: string;
  /** runId names the run's folder (set by the launcher; derived from time if absent). */
  runId?: string;
  seed: number;
  /** timeMs is the nemesis phase's budget (a coverage schedule may take longer). */
  timeMs: number;
  nemeses: string[];
  /** coverAll starts the schedule with every nemesis once. */
  coverAll: boolean;
  workloads: string[];
  /** tuning overrides some workloads' tuning, by workload name. */
  tuning?: Record<string, TuningOverrides>;
  cluster: ClusterSpec;
  /** proxy routes peer traffic through the link proxy (needed by proxy:* nemeses). */
  proxy: boolean;
  timing: ScheduleTiming;
  /** quietMs: the workload runs alone this long before the first fault. */
  quietMs: number;
  /** recoveryMs: the workload keeps running this long after the final heal. */
  recoveryMs: number;
  sampleIntervalMs: number;
  /** resultsDir is the parent of the run's folder. */
  resultsDir: string;
  /** schedule replays exactly these steps instead of drawing them from the seed. */
  schedule?: NemesisStep[];
  /** hardTimeoutMs bounds the whole run; the parent kills the runner past it. */
  hardTimeoutMs: number;
}

const BASE_CLUSTER: ClusterSpec = {
  nodes: 5,
  groupCount: 12,
  replicationFactor: 3,
  tickMs: 50,
  electionTicks: 10,
  compactEntries: 100,
  compactTrailingEntries: 20,
  env: {},
};

const BASE_TIMING: ScheduleTiming = {
  faultMsMin: 1_200,
  faultMsMax: 2_500,
  gapMsMin: 300,
  gapMsMax: 1_000,
  // SIGSTOP must outlast the election timeout: electionTicks * tickMs, randomised up to 2x.
  pauseMsMin: 2 * 2 * BASE_CLUSTER.electionTicks * BASE_CLUSTER.tickMs + 500,
};

/** PROFILES are the named starting points. */
export const PROFILES: Readonly<Record<string, Omit<RunOptions, 'resultsDir'>>> = {
  bounded: {
    profile: 'bounded',
    seed: 1,
    timeMs: 60_000,
    nemeses: [...NEMESIS_NAMES],
    coverAll: true,
    workloads: ['register', 'set', 'retries'],
    cluster: BASE_CLUSTER,
    proxy: true,
    timing: BASE_TIMING,
    quietMs: 2_000,
    recoveryMs: 3_000,
    sampleIntervalMs: 500,
    hardTimeoutMs: 420_000,
  },
  soak: {
    profile: 'soak',
    seed: 1,
    timeMs: 600_000,
    nemeses: [...NEMESIS_NAMES],
    coverAll: true,
    workloads: ['register', 'set', 'retries'],
    cluster: BASE_CLUSTER,
    proxy: true,
    timing: BASE_TIMING,
    quietMs: 2_000,
    recoveryMs: 5_000,
    sampleIntervalMs: 1_000,
    hardTimeoutMs: 0, // derived from timeMs
  },
  'stale-read': {
    profile: 'stale-read',
    seed: 1,
    timeMs: 25_000,
    nemeses: selectNemeses(['partition:leader', 'partition:isolate', 'partition:halves']),
    coverAll: true,
    workloads: ['register'],
    cluster: {
      ...BASE_CLUSTER,
      nodes: 3,
      groupCount: 6,
      env: { STRATA_TEST_MUTATION: 'stale-read' },
    },
    proxy: false,
    timing: { ...BASE_TIMING, faultMsMin: 3_000, faultMsMax: 5_000 },
    quietMs: 1_000,
    recoveryMs: 2_000,
    sampleIntervalMs: 500,
    hardTimeoutMs: 240_000,
  },
  'ack-before-sync': {
    profile: 'ack-before-sync',
    seed: 1,
    timeMs: 20_000,
    nemeses: selectNemeses(['kill:majority-while-paused']),
    coverAll: true,
    workloads: ['set', 'register'],
    tuning: { set: { workers: 24, thinkMs: 0 }, register: { workers: 4 } },
    cluster: {
      ...BASE_CLUSTER,
      nodes: 3,
      groupCount: 6,
      env: { STRATA_TEST_MUTATION: 'ack-before-sync' },
    },
    proxy: false,
    timing: {
      ...BASE_TIMING,
      faultMsMin: 500,
      faultMsMax: 1_000,
      gapMsMin: 2_500,
      gapMsMax: 3_500,
    },
    quietMs: 2_000,
    recoveryMs: 2_000,
    sampleIntervalMs: 500,
    hardTimeoutMs: 240_000,
  },
};

/** hardTimeoutOf returns a run's overall bound: its own, or derived from its time budget. */
export function hardTimeoutOf(options: RunOptions): number {
  if (options.hardTimeoutMs > 0) return options.hardTimeoutMs;
  return options.timeMs * 2 + 300_000;
}
