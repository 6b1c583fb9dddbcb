/**
 * Configuration of one Raft replica, validated at construction: every bad value is reported
 * with the value and the allowed range. Time is counted in ticks; randomness is injected.
 */
import { ConfigError } from './errors.js';
import type { GroupId, Index, NodeId } from './types.js';

/**
 * Mutation names a known Raft bug that tests can switch in to prove the checks catch it. They
 * are off by default and only accepted together with `unsafeAllowMutations: true`, which no
 * production configuration sets (the node's config parser rejects unknown keys).
 * - commit-old-term: commit entries of earlier terms by counting replicas.
 * - read-without-readindex: a leader answers readIndex at once, without a heartbeat round.
 * - vote-without-log-check: grant votes without the candidate-log-up-to-date check.
 * - send-before-persist: drivers send messages before persisting the Ready (driver-side).
 * - forget-vote-on-restart: drivers drop the persisted vote on restart (driver-side).
 */
export type Mutation =
  | 'commit-old-term'
  | 'read-without-readindex'
  | 'vote-without-log-check'
  | 'send-before-persist'
  | 'forget-vote-on-restart';

/** MUTATIONS lists every mutation flag. */
export const MUTATIONS: readonly Mutation[] = [
  'commit-old-term',
  'read-without-readindex',
  'vote-without-log-check',
  'send-before-persist',
  'forget-vote-on-restart',
];

/** RaftConfig configures one replica of one group. */
export interface RaftConfig {
  id: NodeId;
  groupId: GroupId;
  /** Followers start an election after a randomised [electionTicks, 2*electionTicks) ticks. */
  electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks ticks. */
  heartbeatTicks: number;
  /** The state machine's applied index at start (entries after it are re-delivered). */
  applied: Index;
  /** PreVote: campaign only after a pre-vote round shows a quorum would vote for us. */
  preVote: boolean;
  /** CheckQuorum: a leader steps down when a quorum was not heard from in an election timeout. */
  checkQuorum: boolean;
  /** Largest payload of one entry, in bytes. */
  entryBytesMax: number;
  /** Largest total entry bytes in one Append message. */
  messageBytesMax: number;
  /** Most Append messages in flight to one follower. */
  inflightMessagesMax: number;
  /** Most entry bytes in flight to one follower. */
  inflightBytesMax: number;
  /** Most bytes of entries appended but not yet committed at the leader. */
  uncommittedBytesMax: number;
  /**
   * quiesceTicks: an idle leader (all committed, replicated everywhere, nothing waiting) stops
   * heartbeats after this many idle ticks, and its followers stop their election timers; any
   * traffic wakes the group. 0 disables it. A driver that enables it must wake followers whose
   * leader's node went silent (RawNode.wake), since a quiesced leader sends nothing.
   */
  quiesceTicks: number;
  /** A snapshot not reported sent within this many ticks is presumed lost (leader probes again). */
  snapshotTimeoutTicks: number;
  /** Seeded random source returning a float in [0, 1). The core never uses Math.random. */
  random: () => number;
  /** Known bugs switched in for tests (see Mutation); empty in production. */
  mutations: ReadonlySet<Mutation>;
  /** Must be true for `mutations` to be non-empty. */
  unsafeAllowMutations: boolean;
}

/** RaftConfigInput is what callers pass: id, groupId and random are required. */
export type RaftConfigInput = Partial<RaftConfig> & Pick<RaftConfig, 'id' | 'groupId' | 'random'>;

/** DEFAULT_RAFT_CONFIG holds the defaults (for a 100 ms tick: 1 s election, 100 ms beat). */
export const DEFAULT_RAFT_CONFIG = {
  electionTicks: 10,
  heartbeatTicks: 1,
  applied: 0,
  preVote: true,
  checkQuorum: true,
  entryBytesMax: 8 * 1024 * 1024,
  messageBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  inflightBytesMax: 32 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  snapshotTimeoutTicks: 100,
  quiesceTicks: 0,
  mutations: new Set<Mutation>(),
  unsafeAllowMutations: false,
} as const;

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} = ${value} is invalid: allowed range is [${min}, ${max}]`);
  }
}

/**
 * validateRaftConfig fills defaults and checks every field, throwing ConfigError. The result is
 * a fresh object literal with the fields in one fixed order: every replica's config then shares
 * one hidden class (the object spread alone gave each of a node's thousand replicas its own,
 * about 500 bytes apiece).
 */
export function validateRaftConfig(input: RaftConfigInput): RaftConfig {
  const merged: RaftConfig = { ...DEFAULT_RAFT_CONFIG, ...input };
  const config: RaftConfig = {
    id: merged.id,
    groupId: merged.groupId,
    electionTicks: merged.electionTicks,
    heartbeatTicks: merged.heartbeatTicks,
    applied: merged.applied,
    preVote: merged.preVote,
    checkQuorum: merged.checkQuorum,
    entryBytesMax: merged.entryBytesMax,
    messageBytesMax: merged.messageBytesMax,
    inflightMessagesMax: merged.inflightMessagesMax,
    inflightBytesMax: merged.inflightBytesMax,
    uncommittedBytesMax: merged.uncommittedBytesMax,
    quiesceTicks: merged.quiesceTicks,
    snapshotTimeoutTicks: merged.snapshotTimeoutTicks,
    random: merged.random,
    mutations: merged.mutations,
    unsafeAllowMutations: merged.unsafeAllowMutations,
  };
  checkInt('id', config.id, 1, Number.MAX_SAFE_INTEGER);
  checkInt('groupId', config.groupId, 0, 2 ** 32 - 1);
  checkInt('heartbeatTicks', config.heartbeatTicks, 1, 1_000);
  checkInt('electionTicks', config.electionTicks, config.heartbeatTicks + 1, 100_000);
  checkInt('quiesceTicks', config.quiesceTicks, 0, 1_000_000);
  checkInt('snapshotTimeoutTicks', config.snapshotTimeoutTicks, 1, 10_000_000);
  checkInt('applied', config.applied, 0, Number.MAX_SAFE_INTEGER);
  checkInt('entryBytesMax', config.entryBytesMax, 1, 256 * 1024 * 1024);
  checkInt('messageBytesMax', config.messageBytesMax, 1, 256 * 1024 * 1024);
  checkInt('inflightMessagesMax', config.inflightMessagesMax, 1, 65_536);
  checkInt('inflightBytesMax', config.inflightBytesMax, 1, 2 ** 40);
  checkInt('uncommittedBytesMax', config.uncommittedBytesMax, 1, 2 ** 40);
  if (typeof config.random !== 'function') {
    throw new ConfigError('random must be a function returning a float in [0, 1)');
  }
  for (const mutation of config.mutations) {
    if (!MUTATIONS.includes(mutation)) {
      throw new ConfigError(`unknown mutation '${mutation}': allowed are ${MUTATIONS.join(', ')}`);
    }
  }
  if (config.mutations.size > 0 && !config.unsafeAllowMutations) {
    throw new ConfigError('mutations are test-only: set unsafeAllowMutations to enable them');
  }
  return config;
}

/**
 * mulberry32 returns a seeded PRNG producing floats in [0, 1): small, fast and good enough for
 * election jitter and simulation schedules (not for cryptography).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
