/**
 * Raft invariants checked from the status samples of every node over a whole run (pure):
 * - Election Safety: at most one leader per group and term, counting both the nodes that
 *   called themselves leader and the leader every other replica named for that term;
 * - term, commit and applied never go back within one process's life (an incarnation);
 * - across restarts, a term or commit index sampled at least `marginMs` before the last sample
 *   of an incarnation (so surely synced by then) never goes back in a later incarnation;
 * each per replica: a group moved off a node and back is a new replica there.
 * Convergence and agreement of the committed state are checked at the end (replicas.ts).
 */
import type { StatusSample } from '../runner/sampler.js';

/** InvariantReport is the verdict of checkRaftInvariants. */
export interface InvariantReport {
  valid: boolean;
  samples: number;
  termsSeen: number;
  problems: string[];
}

/** PROBLEMS_MAX bounds the problems listed (the count is still exact in the first line). */
const PROBLEMS_MAX = 50;

function checkElectionSafety(samples: readonly StatusSample[], problems: string[]): number {
  const leaders = new Map<string, Set<number>>();
  for (const sample of samples) {
    for (const g of sample.groups) {
      const named = g.role === 'leader' ? sample.node : g.leader;
      if (named === 0) continue;
      const key = `${g.group}/${g.term}`;
      let set = leaders.get(key);
      if (!set) leaders.set(key, (set = new Set()));
      set.add(named);
    }
  }
  for (const [key, set] of leaders) {
    if (set.size > 1) {
      const [group, term] = key.split('/');
      problems.push(
        `election safety: group ${group} term ${term} had leaders ${[...set].join(',')}`,
      );
    }
  }
  return leaders.size;
}

type Series = { time: number; incarnation: number; term: number; commit: number; applied: number };

/**
 * seriesByReplica groups the samples by replica: by node and group, and by the replica's life on
 * that node. A replica moved away and back later (the elastic cluster) starts empty: when a
 * node's sample stops listing a group, the group's next appearance there is a new replica,
 * whose term, commit and applied start over.
 */
function seriesByReplica(samples: readonly StatusSample[]): Map<string, Series[]> {
  const series = new Map<string, Series[]>();
  const lives = new Map<string, number>(); // node/group -> its current life (0 first)
  const listed = new Map<number, Set<number>>(); // node -> groups of its last sample
  const ended = new Set<string>(); // node/group whose replica was gone in a later sample
  for (const sample of samples) {
    const now = new Set(sample.groups.map((g) => g.group));
    for (const group of listed.get(sample.node) ?? []) {
      if (!now.has(group)) ended.add(`${sample.node}/${group}`);
    }
    listed.set(sample.node, now);
    for (const g of sample.groups) {
      const replica = `${sample.node}/${g.group}`;
      if (ended.delete(replica)) lives.set(replica, (lives.get(replica) ?? 0) + 1);
      const life = lives.get(replica) ?? 0;
      const key = `node ${sample.node} group ${g.group}${life > 0 ? ` (replica ${life + 1})` : ''}`;
      let list = series.get(key);
      if (!list) series.set(key, (list = []));
      list.push({
        time: sample.time,
        incarnation: sample.incarnation,
        term: g.term,
        commit: g.commit,
        applied: g.applied,
      });
    }
  }
  return series;
}

function checkMonotonic(key: string, list: readonly Series[], marginMs: number, out: string[]) {
  const lastOf = new Map<number, number>(); // incarnation -> time of its last sample
  for (const s of list) lastOf.set(s.incarnation, Math.max(lastOf.get(s.incarnation) ?? 0, s.time));
  let durableTerm = 0;
  let durableCommit = 0;
  let previous: Series | null = null;
  for (const s of list) {
    if (previous && previous.incarnation === s.incarnation) {
      for (const field of ['term', 'commit', 'applied'] as const) {
        if (s[field] < previous[field]) {
          out.push(
            `${key}: ${field} went back from ${previous[field]} to ${s[field]} at ${s.time} ms`,
          );
        }
      }
    }
    if (s.term < durableTerm || s.commit < durableCommit) {
      out.push(
        `${key}: after a restart, term ${s.term} / commit ${s.commit} at ${s.time} ms is below ` +
          `the synced term ${durableTerm} / commit ${durableCommit} of an earlier life`,
      );
    }
    if (s.time <= lastOf.get(s.incarnation)! - marginMs) {
      durableTerm = Math.max(durableTerm, s.term);
      durableCommit = Math.max(durableCommit, s.commit);
    }
    previous = s;
  }
}

/** checkRaftInvariants checks the samples (in time order) of a whole run. */
export function checkRaftInvariants(
  samples: readonly StatusSample[],
  marginMs = 2_000,
): InvariantReport {
  const problems: string[] = [];
  const termsSeen = checkElectionSafety(samples, problems);
  for (const [key, list] of seriesByReplica(samples)) checkMonotonic(key, list, marginMs, problems);
  const total = problems.length;
  const listed = problems.slice(0, PROBLEMS_MAX);
  if (total > PROBLEMS_MAX) listed.push(`... and ${total - PROBLEMS_MAX} more`);
  return { valid: total === 0, samples: samples.length, termsSeen, problems: listed };
}
