/**
 * RunSummary: the verdict of one run and what it did, saved as `summary.json` in the run's
 * folder; `summaryLine` is the one line printed per run, `verdictOf` the rule that turns the
 * checks into pass / fail / inconclusive (an inconclusive run is never a pass).
 */
import type { InvariantReport } from '../checks/raft-invariants.js';
import type { ReplicaReport } from '../checks/replicas.js';
import type { WorkloadResult } from '../workloads/types.js';

/** Verdict is a run's outcome. */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** RunSummary describes one run. */
export interface RunSummary {
  runId: string;
  profile: string;
  seed: number;
  startedAt: string;
  durationMs: number;
  verdict: Verdict;
  /** mutation is the store mutation armed in the nodes, if any. */
  mutation: string | null;
  nodes: number;
  groups: number;
  /** nemeses counts the steps that ran, by name. */
  nemeses: Record<string, number>;
  /** skippedNemeses names faults not available yet, with the reason. */
  skippedNemeses: Record<string, string>;
  /** snapshots counts the snapshot images installed and sent over the run. */
  snapshots: { installed: number; sent: number };
  workloads: Omit<WorkloadResult, 'details'>[];
  invariants: InvariantReport;
  replicas: ReplicaReport;
  /** leadersAfterHealMs: time to a leader in every group after the final heal (null: never). */
  leadersAfterHealMs: number | null;
  anomalies: string[];
  replay: string;
}

/** verdictOf applies the rule: any anomaly fails; else any unknown is inconclusive. */
export function verdictOf(
  workloads: readonly Pick<WorkloadResult, 'valid'>[],
  invariants: InvariantReport,
  replicas: ReplicaReport,
  leadersAfterHealMs: number | null,
): Verdict {
  if (workloads.some((w) => w.valid === false)) return 'fail';
  if (!invariants.valid || !replicas.valid || leadersAfterHealMs === null) return 'fail';
  if (workloads.some((w) => w.valid !== true)) return 'inconclusive';
  return 'pass';
}

/** summaryLine renders a run in one line. */
export function summaryLine(summary: RunSummary): string {
  const ops = summary.workloads.map((w) => `${w.name} ${w.opsChecked}`).join(', ');
  const steps = Object.values(summary.nemeses).reduce((a, b) => a + b, 0);
  const kinds = Object.keys(summary.nemeses).length;
  return (
    `${summary.verdict.toUpperCase()} ${summary.runId}: seed ${summary.seed}, ` +
    `${(summary.durationMs / 1000).toFixed(0)} s, ${steps} faults of ${kinds} kinds, ` +
    `ops checked: ${ops}; ${summary.anomalies.length} anomalies` +
    (summary.mutation ? ` (mutation ${summary.mutation})` : '')
  );
}
