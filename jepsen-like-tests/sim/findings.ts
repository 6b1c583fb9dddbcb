/**
 * The core bugs the simulator found, as replayable schedules (described in FINDINGS.md).
 * sim.test.ts replays each: an `open` one runs as a todo test (reported, not failing the
 * build by itself) until the core is fixed; then flip it to `fixed` and it guards against
 * regressions.
 */
import type { Schedule } from './schedule.js';

/** Finding is one core bug with the schedules that show it. */
export interface Finding {
  id: number;
  title: string;
  status: 'open' | 'fixed';
  schedules: Schedule[];
}

const BASE: Omit<Schedule, 'seed' | 'events'> = {
  nodeCount: 3,
  durationMs: 1500,
  quietMs: 500,
  snapshotEvery: 5,
  snapshotTrailing: 0,
  preVote: true,
  checkQuorum: true,
  tickSkewMs: 0,
  messageBytesMax: 1,
  clients: 1,
  keys: 1,
  opsMax: 120,
};

/** FINDINGS lists every finding, oldest first. */
export const FINDINGS: readonly Finding[] = [
  {
    id: 1,
    title: 'a follower whose full in-flight window was lost is never sent entries again',
    status: 'fixed',
    schedules: [
      // A follower crashes (its 16 in-flight Appends are lost) and restarts: it stays behind.
      {
        ...BASE,
        seed: 3915361439,
        events: [{ atMs: 114, kind: 'crash', args: { pick: 0, leader: false, restartAfterMs: 0 } }],
      },
      // The followers' acks to the leader are cut for a while: no proposal commits after heal.
      {
        ...BASE,
        seed: 0,
        durationMs: 6000,
        quietMs: 1000,
        checkQuorum: false,
        clients: 3,
        keys: 2,
        opsMax: 300,
        events: [{ atMs: 1138, kind: 'partition', args: { mode: 'one-way-leader', pick: 0 } }],
      },
    ],
  },
  {
    id: 2,
    title: 'a read round whose heartbeats were lost is never answered (and blocks quiescence)',
    status: 'fixed',
    schedules: [
      // Messages are dropped at 20% for a while: a read round loses its heartbeats; with no
      // later read it stays pending forever, and the idle group never quiesces.
      {
        ...BASE,
        seed: 950321845,
        nodeCount: 5,
        snapshotTrailing: 1,
        tickSkewMs: 1,
        clients: 2,
        keys: 3,
        quiesceTicks: 3,
        events: [{ atMs: 815, kind: 'dropRate', args: { rate: 0.2 } }],
      },
    ],
  },
];
