/**
 * fast-check arbitraries for whole-run schedules. A Profile weights the fault kinds and fixes
 * the cluster's shape; DEFAULT_PROFILE mixes everything (partitions of every shape, crashes,
 * membership changes, transfers, lossy and duplicating networks) and the MUTATION_PROFILES
 * lean toward the fault patterns that expose each known Raft bug.
 */
import fc from 'fast-check';
import type { Mutation } from '../../src/raft/index.js';
import {
  CONF_CHANGE_OPS,
  PARTITION_MODES,
  TRIGGER_ONS,
  type TriggerOn,
  type FaultEvent,
  type FaultKind,
  type PartitionMode,
  type Schedule,
  type TriggerArgs,
} from './schedule.js';

/** Profile shapes the schedules of a suite. Ranges are inclusive [min, max]. */
export interface Profile {
  /** name is what --profile accepts ('default' or the mutation it targets). */
  name: string;
  nodeCounts: readonly (3 | 5)[];
  durationMs: number;
  quietMs: number;
  eventsMax: number;
  /** Relative weight of each fault kind (absent = never). */
  weights: Partial<Record<FaultKind, number>>;
  partitionModes: readonly PartitionMode[];
  triggerOns: readonly TriggerOn[];
  triggerActions: readonly ('crash' | 'isolate')[];
  triggerDelayMsMax: number;
  /** Chance that a crash targets the leader, and range of its automatic restart delay. */
  crashLeaderBias: boolean;
  restartAfterMs: [number, number];
  preVote: readonly boolean[];
  checkQuorum: readonly boolean[];
  tickSkewMs: [number, number];
  messageBytesMax: readonly number[];
  snapshotEvery: [number, number];
  snapshotTrailing: [number, number];
  clients: [number, number];
  keys: [number, number];
  opsMax: number;
  dropRateMax: number;
  dupRateMax: number;
  /** quiesceTicks choices (0: quiescence off). */
  quiesceTicks: readonly number[];
}

/** DEFAULT_PROFILE mixes every fault; used by the main property suite. */
export const DEFAULT_PROFILE: Profile = {
  name: 'default',
  nodeCounts: [3, 5],
  durationMs: 1500,
  quietMs: 500,
  eventsMax: 14,
  weights: {
    partition: 4,
    heal: 3,
    crash: 3,
    restart: 1,
    confChange: 4,
    transferLeader: 1,
    campaign: 1,
    trigger: 2,
    dropRate: 1,
    dupRate: 1,
    delay: 1,
  },
  partitionModes: PARTITION_MODES,
  triggerOns: TRIGGER_ONS,
  triggerActions: ['crash', 'isolate'],
  triggerDelayMsMax: 5,
  crashLeaderBias: false,
  restartAfterMs: [0, 300],
  preVote: [true, false],
  checkQuorum: [true, false],
  tickSkewMs: [0, 1],
  messageBytesMax: [1, 300, 4096, 1 << 20],
  snapshotEvery: [5, 50],
  snapshotTrailing: [0, 5],
  clients: [1, 4],
  keys: [1, 3],
  opsMax: 120,
  dropRateMax: 0.3,
  dupRateMax: 0.3,
  quiesceTicks: [0, 0, 3, 8],
};

/**
 * MEMBERSHIP_PROFILE leans on membership changes and snapshots: learners join with empty
 * storage and catch up by InstallSnapshot, get promoted, voters are removed, while crashes,
 * partitions and transfers go on and the log is compacted every few entries.
 */
export const MEMBERSHIP_PROFILE: Profile = {
  ...DEFAULT_PROFILE,
  name: 'membership',
  durationMs: 2500,
  eventsMax: 24,
  weights: {
    confChange: 8,
    crash: 2,
    partition: 2,
    heal: 2,
    transferLeader: 1,
    trigger: 1,
    dropRate: 1,
  },
  snapshotEvery: [5, 12],
  snapshotTrailing: [0, 2],
};

/** SOAK_PROFILE: long runs with many overlapping faults (for `--profile soak` hunts). */
export const SOAK_PROFILE: Profile = {
  ...DEFAULT_PROFILE,
  name: 'soak',
  durationMs: 6000,
  quietMs: 1000,
  eventsMax: 60,
  opsMax: 300,
  keys: [2, 4],
};

function eventArbitrary(profile: Profile, kind: FaultKind): fc.Arbitrary<FaultEvent> {
  const atMs = fc.integer({ min: 0, max: profile.durationMs });
  const args = argsArbitrary(profile, kind);
  return fc.record({ atMs, kind: fc.constant(kind), args }) as fc.Arbitrary<FaultEvent>;
}

function argsArbitrary(profile: Profile, kind: FaultKind): fc.Arbitrary<FaultEvent['args']> {
  const pick = fc.nat({ max: 63 });
  const rate = (max: number): fc.Arbitrary<number> =>
    fc.integer({ min: 0, max: Math.round(max * 100) }).map((percent) => percent / 100);
  const [restartMin, restartMax] = profile.restartAfterMs;
  switch (kind) {
    case 'partition':
      return fc.record({ mode: fc.constantFrom(...profile.partitionModes), pick });
    case 'heal':
      return fc.constant({});
    case 'crash':
      return fc.record({
        pick,
        leader: profile.crashLeaderBias ? fc.boolean() : fc.constant(false),
        restartAfterMs: fc.integer({ min: restartMin, max: restartMax }),
      });
    case 'restart':
    case 'transferLeader':
      return fc.record({ pick });
    case 'campaign':
      return fc.record({ pick, count: fc.integer({ min: 1, max: 2 }) });
    case 'trigger':
      return triggerArgs(profile);
    case 'confChange':
      return fc.record({ op: fc.constantFrom(...CONF_CHANGE_OPS), pick });
    case 'dropRate':
      return fc.record({ rate: rate(profile.dropRateMax) });
    case 'dupRate':
      return fc.record({ rate: rate(profile.dupRateMax) });
    case 'delay':
      return fc.record({
        minMs: fc.integer({ min: 1, max: 5 }),
        maxMs: fc.integer({ min: 5, max: 40 }),
        reorderRate: rate(0.2),
        reorderDelayMsMax: fc.integer({ min: 10, max: 600 }),
      });
    default: {
      const never: never = kind;
      throw new Error(`unknown fault kind ${String(never)}`);
    }
  }
}

function triggerArgs(profile: Profile): fc.Arbitrary<TriggerArgs> {
  const [restartMin, restartMax] = profile.restartAfterMs;
  return fc.record({
    on: fc.constantFrom(...profile.triggerOns),
    action: fc.constantFrom(...profile.triggerActions),
    delayMs: fc.integer({ min: 0, max: profile.triggerDelayMsMax }),
    restartAfterMs: fc.integer({ min: restartMin, max: restartMax }),
    count: fc.integer({ min: 1, max: 3 }),
  });
}

/** scheduleArbitrary generates whole runs shaped by `profile`; they shrink toward calm runs. */
export function scheduleArbitrary(profile: Profile = DEFAULT_PROFILE): fc.Arbitrary<Schedule> {
  const kinds = (Object.entries(profile.weights) as [FaultKind, number][])
    .filter(([, weight]) => weight > 0)
    .map(([kind, weight]) => ({ arbitrary: eventArbitrary(profile, kind), weight }));
  const range = ([min, max]: [number, number]): fc.Arbitrary<number> => fc.integer({ min, max });
  return fc.record({
    seed: fc.nat({ max: 0xffffffff }),
    nodeCount: fc.constantFrom(...profile.nodeCounts),
    durationMs: fc.constant(profile.durationMs),
    quietMs: fc.constant(profile.quietMs),
    snapshotEvery: range(profile.snapshotEvery),
    snapshotTrailing: range(profile.snapshotTrailing),
    preVote: fc.constantFrom(...profile.preVote),
    checkQuorum: fc.constantFrom(...profile.checkQuorum),
    tickSkewMs: range(profile.tickSkewMs),
    messageBytesMax: fc.constantFrom(...profile.messageBytesMax),
    clients: range(profile.clients),
    keys: range(profile.keys),
    opsMax: fc.constant(profile.opsMax),
    events: fc.array(fc.oneof(...kinds), { maxLength: profile.eventsMax, size: 'max' }),
    // Last, so that adding it left the draws of every other field unchanged.
    quiesceTicks: fc.constantFrom(...profile.quiesceTicks),
  });
}

/** withNodeCounts restricts a profile to some cluster sizes (the CLI's --nodes). */
export function withNodeCounts(profile: Profile, nodeCounts: readonly (3 | 5)[]): Profile {
  return { ...profile, nodeCounts };
}

/** MUTATION_PROFILES: for each known bug, schedules biased toward what exposes it. */
export const MUTATION_PROFILES: Record<Mutation, Profile> = {
  // Figure 8 of the Raft paper: new leaders are cut off before their first entry spreads, or
  // right after their first commit; one entry per Append so old entries are acked first.
  'commit-old-term': {
    ...DEFAULT_PROFILE,
    quiesceTicks: [0],
    name: 'commit-old-term', // Figure 8 leader churn
    nodeCounts: [3],
    durationMs: 3000,
    eventsMax: 24,
    weights: { trigger: 5, heal: 3 },
    triggerOns: ['elected', 'first-commit'],
    triggerActions: ['isolate'],
    triggerDelayMsMax: 0,
    messageBytesMax: [1],
  },
  // A deposed leader, cut off in a minority, keeps answering reads.
  'read-without-readindex': {
    ...DEFAULT_PROFILE,
    quiesceTicks: [0],
    name: 'read-without-readindex',
    nodeCounts: [3],
    eventsMax: 6,
    weights: { partition: 4, heal: 1 },
    partitionModes: ['isolate-leader', 'one-way-leader'],
    checkQuorum: [false],
    tickSkewMs: [0, 0],
  },
  // A node cut off for a while comes back with a higher term and a stale log.
  'vote-without-log-check': {
    ...DEFAULT_PROFILE,
    quiesceTicks: [0],
    name: 'vote-without-log-check',
    nodeCounts: [3, 5],
    eventsMax: 10,
    weights: { partition: 4, heal: 3, crash: 1 },
    partitionModes: ['isolate', 'split'],
    crashLeaderBias: true,
    preVote: [false],
    checkQuorum: [false],
  },
  // Messages leave before the write: a crash right after a vote or an ack loses what it
  // promised; simultaneous campaigns make a second candidate ask in the same term.
  'send-before-persist': {
    ...DEFAULT_PROFILE,
    quiesceTicks: [0],
    name: 'send-before-persist',
    nodeCounts: [3],
    eventsMax: 24,
    weights: { trigger: 5, campaign: 3, delay: 1 },
    triggerOns: ['vote', 'append-ack'],
    triggerActions: ['crash'],
    triggerDelayMsMax: 0,
    restartAfterMs: [1, 20],
    preVote: [false],
  },
  // A replica that restarts right after voting votes again in the same term.
  'forget-vote-on-restart': {
    ...DEFAULT_PROFILE,
    quiesceTicks: [0],
    name: 'forget-vote-on-restart',
    nodeCounts: [3],
    eventsMax: 24,
    weights: { trigger: 5, campaign: 3, delay: 1 },
    triggerOns: ['vote'],
    triggerActions: ['crash'],
    triggerDelayMsMax: 3,
    restartAfterMs: [1, 20],
    preVote: [false],
  },
};

/** PROFILE_NAMES lists the names --profile accepts: 'default' and one per mutation. */
export const PROFILE_NAMES: readonly string[] = [
  'default',
  'membership',
  'soak',
  ...Object.keys(MUTATION_PROFILES),
];

/** profileByName returns a profile by name ('default' or a mutation's name). */
export function profileByName(name: string): Profile {
  if (name === 'default') return DEFAULT_PROFILE;
  if (name === 'membership') return MEMBERSHIP_PROFILE;
  if (name === 'soak') return SOAK_PROFILE;
  const profile = (MUTATION_PROFILES as Record<string, Profile | undefined>)[name];
  if (profile === undefined) {
    throw new RangeError(`unknown profile '${name}': allowed are ${PROFILE_NAMES.join(', ')}`);
  }
  return profile;
}
