/**
 * The workloads the runner knows, by name. Extension point: the stream-task word count on a
 * real Kafka broker (exactly-once counts, from the stream-task issue) plugs in here as one more
 * factory implementing Workload (types.ts): start its tasks, stop them, read the final counts,
 * and check them against the input it produced.
 */
import { REGISTER_DEFAULTS, RegisterWorkload } from './register.js';
import { RETRIES_DEFAULTS, RetriesWorkload } from './retries.js';
import { SET_DEFAULTS, SetWorkload } from './set.js';
import type { Workload, WorkloadTuning } from './types.js';

/** TuningOverrides changes some of a workload's tuning (a profile's choice). */
export type TuningOverrides = Partial<WorkloadTuning>;

/** WORKLOADS maps a workload name to a factory taking tuning overrides. */
export const WORKLOADS: Readonly<Record<string, (overrides?: TuningOverrides) => Workload>> = {
  register: (o = {}) => new RegisterWorkload({ ...REGISTER_DEFAULTS, ...o }),
  set: (o = {}) => new SetWorkload({ ...SET_DEFAULTS, ...o }),
  retries: (o = {}) => new RetriesWorkload({ ...RETRIES_DEFAULTS, ...o }),
};

/** WORKLOAD_NAMES lists the known workload names. */
export const WORKLOAD_NAMES = Object.keys(WORKLOADS);

export type { Workload, WorkloadContext, WorkloadResult, WorkloadTuning } from './types.js';
export { RegisterWorkload } from './register.js';
export { SetWorkload } from './set.js';
export { RetriesWorkload } from './retries.js';
