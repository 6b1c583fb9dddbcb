/**
 * A Schedule is a whole simulated run as plain JSON: the seed that drives every random choice,
 * the cluster's shape, the workload, and the faults to inject at given simulated times. It is
 * what fast-check generates and shrinks, what a failure prints, and what --replay reads back.
 */

/** PartitionMode names a network split the nemesis can make. */
export type PartitionMode =
  | 'split' // a random minority against the rest
  | 'isolate' // one node alone
  | 'isolate-leader' // the current leader alone
  | 'one-way' // one node can receive but not send
  | 'one-way-leader' // the leader can send but not receive
  | 'bridge'; // two sides that both see one bridge node

/** PARTITION_MODES lists every partition mode. */
export const PARTITION_MODES: readonly PartitionMode[] = [
  'split',
  'isolate',
  'isolate-leader',
  'one-way',
  'one-way-leader',
  'bridge',
];

/** ConfChangeOp names a membership change the nemesis client can request. */
export type ConfChangeOp =
  | 'add-learner'
  | 'add-voter' // a brand-new node straight in as voter (catches up while counted in quorum)
  | 'promote'
  | 'remove-voter' // any voter, the leader included
  | 'remove-learner';

/** CONF_CHANGE_OPS lists every membership change. */
export const CONF_CHANGE_OPS: readonly ConfChangeOp[] = [
  'add-learner',
  'add-voter',
  'promote',
  'remove-voter',
  'remove-learner',
];

/** TriggerOn names a moment a trigger waits for (see the 'trigger' fault). */
export type TriggerOn = 'elected' | 'first-commit' | 'vote' | 'append-ack';

/** TRIGGER_ONS lists every trigger moment. */
export const TRIGGER_ONS: readonly TriggerOn[] = ['elected', 'first-commit', 'vote', 'append-ack'];

/**
 * TriggerArgs arm a trigger: the next `count` times a node reaches moment `on` (becomes leader,
 * first advances its commit as leader, grants a vote, acknowledges entries), it is crashed
 * (restarted `restartAfterMs` later unless 0) or isolated, `delayMs` after that moment.
 */
export interface TriggerArgs {
  on: TriggerOn;
  action: 'crash' | 'isolate';
  delayMs: number;
  restartAfterMs: number;
  count: number;
}

/**
 * FaultEvent is one nemesis action at `atMs`. `pick` selects a node among the candidates at
 * that moment (modulo their number), so events stay meaningful as membership changes.
 */
export type FaultEvent =
  | { atMs: number; kind: 'partition'; args: { mode: PartitionMode; pick: number } }
  | { atMs: number; kind: 'heal'; args: Record<string, never> }
  | {
      atMs: number;
      kind: 'crash';
      /** restartAfterMs 0: stays down until a restart event or the end of the run. */
      args: { pick: number; leader: boolean; restartAfterMs: number };
    }
  | { atMs: number; kind: 'restart'; args: { pick: number } }
  | { atMs: number; kind: 'confChange'; args: { op: ConfChangeOp; pick: number } }
  | { atMs: number; kind: 'transferLeader'; args: { pick: number } }
  | { atMs: number; kind: 'campaign'; args: { pick: number; count: number } }
  | { atMs: number; kind: 'trigger'; args: TriggerArgs }
  | { atMs: number; kind: 'dropRate'; args: { rate: number } }
  | { atMs: number; kind: 'dupRate'; args: { rate: number } }
  | {
      atMs: number;
      kind: 'delay';
      /** A reordered message gets up to reorderDelayMsMax extra (it arrives long stale). */
      args: { minMs: number; maxMs: number; reorderRate: number; reorderDelayMsMax: number };
    };

/** FaultKind is the `kind` of a FaultEvent. */
export type FaultKind = FaultEvent['kind'];

/** FAULT_KINDS lists every fault kind. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'partition',
  'heal',
  'crash',
  'restart',
  'confChange',
  'transferLeader',
  'campaign',
  'trigger',
  'dropRate',
  'dupRate',
  'delay',
];

/** Schedule is one whole run. Faults happen in [0, durationMs]; then heal and a quiet period. */
export interface Schedule {
  seed: number;
  nodeCount: 3 | 5;
  durationMs: number;
  quietMs: number;
  snapshotEvery: number;
  snapshotTrailing: number;
  preVote: boolean;
  checkQuorum: boolean;
  tickSkewMs: number;
  messageBytesMax: number;
  clients: number;
  keys: number;
  opsMax: number;
  events: FaultEvent[];
  /** quiesceTicks: idle groups quiesce after this many ticks (0 or absent: never). */
  quiesceTicks?: number;
}

/** ScheduleError says a replayed schedule is malformed. */
export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

function checkNumber(value: unknown, name: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ScheduleError(`${name} must be a number in [${min}, ${max}], got ${String(value)}`);
  }
}

/** parseSchedule validates a schedule read from JSON (the --replay path). */
export function parseSchedule(json: string): Schedule {
  const value = JSON.parse(json) as Schedule;
  if (typeof value !== 'object' || value === null) throw new ScheduleError('not an object');
  checkNumber(value.seed, 'seed', 0, 2 ** 32 - 1);
  if (value.nodeCount !== 3 && value.nodeCount !== 5) {
    throw new ScheduleError(`nodeCount must be 3 or 5, got ${String(value.nodeCount)}`);
  }
  checkNumber(value.durationMs, 'durationMs', 0, 600_000);
  checkNumber(value.quietMs, 'quietMs', 0, 600_000);
  checkNumber(value.snapshotEvery, 'snapshotEvery', 1, 1_000_000);
  checkNumber(value.snapshotTrailing, 'snapshotTrailing', 0, 1_000_000);
  checkNumber(value.tickSkewMs, 'tickSkewMs', 0, 5);
  checkNumber(value.messageBytesMax, 'messageBytesMax', 1, 2 ** 28);
  checkNumber(value.clients, 'clients', 0, 64);
  checkNumber(value.keys, 'keys', 1, 64);
  checkNumber(value.opsMax, 'opsMax', 0, 1_000_000);
  if (value.quiesceTicks !== undefined) checkNumber(value.quiesceTicks, 'quiesceTicks', 0, 1_000);
  if (typeof value.preVote !== 'boolean' || typeof value.checkQuorum !== 'boolean') {
    throw new ScheduleError('preVote and checkQuorum must be booleans');
  }
  if (!Array.isArray(value.events)) throw new ScheduleError('events must be an array');
  for (const [i, event] of value.events.entries()) {
    if (!FAULT_KINDS.includes(event?.kind)) {
      throw new ScheduleError(`events[${i}].kind must be one of ${FAULT_KINDS.join('|')}`);
    }
    checkNumber(event.atMs, `events[${i}].atMs`, 0, value.durationMs);
    if (typeof event.args !== 'object' || event.args === null) {
      throw new ScheduleError(`events[${i}].args must be an object`);
    }
  }
  return value;
}

/** sortedEvents returns the events by time (stable: equal times keep their order). */
export function sortedEvents(schedule: Schedule): FaultEvent[] {
  return schedule.events
    .map((event, order) => ({ event, order }))
    .sort((a, b) => a.event.atMs - b.event.atMs || a.order - b.order)
    .map(({ event }) => event);
}
