/**
 * Nemesis schedules: which faults a run injects, in which order, with which targets and
 * durations, all drawn by fast-check from one seed (so `--seed S` replays the same schedule),
 * and plain JSON (so a schedule file replays it exactly, `--replay`). Targets are drawn as raw
 * numbers (`picks`) and resolved when the step runs ("the leader of group picks[0] mod G"),
 * because leaders are only known then.
 *
 * Numbers are drawn without fast-check's bias towards small values (durations, drop rates and
 * cut points are uniform in their ranges). A coverage schedule starts with every requested
 * nemesis once, in a random order, then draws more at random until the time budget is spent
 * (the runner plays the coverage part whole, the rest only within the time budget).
 */
import fc from 'fast-check';
import { FAILPOINT_NAMES } from '../../src/store/failpoints.js';

/** NemesisStep is one fault of a schedule. */
export interface NemesisStep {
  /** name is `kind:variant`, one of NEMESIS_NAMES. */
  name: string;
  /** picks are random uint32s that choose targets when the step runs. */
  picks: number[];
  /** fraction in [0, 1) sizes a parameter (where a torn log is cut, a drop rate, ...). */
  fraction: number;
  /** durationMs is how long the fault holds (a bound, for faults that wait on the cluster). */
  durationMs: number;
  /** gapMs is the quiet time after the fault healed. */
  gapMs: number;
}

const SNAPSHOT_FAILPOINTS = FAILPOINT_NAMES.filter((name) => name.startsWith('snapshot-'));
const OTHER_FAILPOINTS = FAILPOINT_NAMES.filter((name) => !name.startsWith('snapshot-'));

/** NEMESIS_NAMES lists every nemesis, `kind:variant`. */
export const NEMESIS_NAMES: readonly string[] = [
  'kill:node',
  'kill:leader',
  'kill:minority',
  'kill:all',
  'kill:majority-while-paused',
  'pause:node',
  'pause:leader',
  'partition:isolate',
  'partition:leader',
  'partition:halves',
  'partition:ring',
  'partition:bridge',
  'partition:one-way',
  'proxy:delay',
  'proxy:drop',
  'proxy:swizzle',
  'snapshot:install',
  ...SNAPSHOT_FAILPOINTS.map((name) => `snapshot:${name}`),
  ...OTHER_FAILPOINTS.map((name) => `failpoint:${name}`),
  'torn-tail:raft-log',
  'membership:move',
  'membership:leader',
];

/**
 * SKIPPED_NEMESES names faults the suite cannot run yet, with the reason (shown in reports and
 * by `--list`). None at the moment.
 */
export const SKIPPED_NEMESES: Readonly<Record<string, string>> = {};

/** ScheduleTiming bounds the durations a schedule draws. */
export interface ScheduleTiming {
  faultMsMin: number;
  faultMsMax: number;
  gapMsMin: number;
  gapMsMax: number;
  /** pauseMsMin: a pause must outlast the election timeout (SIGSTOP longer than it). */
  pauseMsMin: number;
}

/** ScheduleRequest asks for a schedule. */
export interface ScheduleRequest {
  seed: number;
  /** names are the nemeses to draw from (a subset of NEMESIS_NAMES). */
  names: readonly string[];
  /** timeMs is the budget: steps are drawn until their durations and gaps reach it. */
  timeMs: number;
  /** coverAll: start with every name once. */
  coverAll: boolean;
  timing: ScheduleTiming;
}

/** selectNemeses expands `--nemesis` words (a kind like `kill`, or `kind:variant`, or `all`). */
export function selectNemeses(words: readonly string[]): string[] {
  const selected = new Set<string>();
  for (const word of words) {
    const matches = NEMESIS_NAMES.filter(
      (name) => word === 'all' || name === word || name.startsWith(`${word}:`),
    );
    if (matches.length === 0) {
      const skipped = SKIPPED_NEMESES[word.split(':')[0]!];
      if (skipped) throw new Error(`nemesis '${word}' is not available: ${skipped}`);
      throw new Error(`unknown nemesis '${word}' (known: ${NEMESIS_NAMES.join(', ')})`);
    }
    for (const name of matches) selected.add(name);
  }
  return [...selected];
}

function stepArbitrary(name: string, timing: ScheduleTiming): fc.Arbitrary<NemesisStep> {
  const pause = name.startsWith('pause:');
  const minMs = pause ? timing.pauseMsMin : timing.faultMsMin;
  const maxMs = minMs + Math.max(0, timing.faultMsMax - timing.faultMsMin);
  return fc
    .record({
      name: fc.constant(name),
      picks: fc.array(fc.noBias(fc.nat({ max: 0xffff_ffff })), { minLength: 4, maxLength: 4 }),
      fraction: fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000),
      durationMs: fc.noBias(fc.integer({ min: minMs, max: maxMs })),
      gapMs: fc.noBias(fc.integer({ min: timing.gapMsMin, max: timing.gapMsMax })),
    })
    .map((step) => ({ ...step })); // plain objects (fast-check builds null-prototype ones)
}

/** generateSchedule draws a schedule from the request's seed (deterministic). */
export function generateSchedule(request: ScheduleRequest): NemesisStep[] {
  const { names, timing } = request;
  if (names.length === 0) return [];
  const perStepMs = timing.faultMsMin + timing.gapMsMin || 1;
  const extraMax = Math.min(10_000, Math.ceil(request.timeMs / perStepMs) + 1);
  const arbitrary = fc.tuple(
    request.coverAll
      ? fc
          .shuffledSubarray([...names], { minLength: names.length, maxLength: names.length })
          .chain((order) => fc.tuple(...order.map((name) => stepArbitrary(name, timing))))
      : fc.constant([] as NemesisStep[]),
    fc.array(fc.oneof(...names.map((name) => stepArbitrary(name, timing))), {
      minLength: extraMax,
      maxLength: extraMax,
    }),
  );
  const [cover, extra] = fc.sample(arbitrary, { seed: request.seed, numRuns: 1 })[0]!;
  const steps: NemesisStep[] = [...cover];
  let spentMs = steps.reduce((sum, step) => sum + step.durationMs + step.gapMs, 0);
  for (const step of extra) {
    if (spentMs >= request.timeMs) break;
    steps.push(step);
    spentMs += step.durationMs + step.gapMs;
  }
  return steps;
}

/** checkSchedule validates a schedule read from a file (for --replay). */
export function checkSchedule(value: unknown): NemesisStep[] {
  if (!Array.isArray(value)) throw new Error('a schedule is a JSON array of steps');
  return value.map((raw: unknown, i) => {
    const step = raw as NemesisStep;
    const ok =
      typeof step === 'object' &&
      step !== null &&
      NEMESIS_NAMES.includes(step.name) &&
      Array.isArray(step.picks) &&
      step.picks.length >= 4 &&
      step.picks.every((p) => Number.isSafeInteger(p) && p >= 0) &&
      typeof step.fraction === 'number' &&
      step.fraction >= 0 &&
      step.fraction < 1 &&
      Number.isSafeInteger(step.durationMs) &&
      step.durationMs >= 0 &&
      Number.isSafeInteger(step.gapMs) &&
      step.gapMs >= 0;
    if (!ok) throw new Error(`schedule step ${i} is invalid: ${JSON.stringify(raw)}`);
    return step;
  });
}
