/**
 * Stream tasks under faults, with real processes: a Kafka 3.9 broker, three `strata node`
 * processes and word-count worker processes (wordcount-worker.ts). What it proves:
 * 1. Exactly-once under crashes: while input keeps arriving, two workers are killed with
 *    kill -9 at places chosen by fast-check (before a checkpoint, during one, after the store
 *    commit but before the Kafka offset commit, after the Kafka commit, during a rebalance,
 *    right after an acquire, or at a random moment) and restarted; at the end every word's
 *    count in Strata equals the input's exactly, no recorded offset ever went backwards
 *    (polled throughout), and the output topic read through DedupFilter holds every count of
 *    every word exactly once, in order.
 * 2. Zombies are fenced: a worker paused (SIGSTOP) past its group session timeout loses its
 *    partitions; another worker acquires and checkpoints them; resumed (SIGCONT), the old one's
 *    next checkpoint is refused with FENCED and it stops; the counts stay exact.
 * 3. Store faults: the leader of a task's group is killed with kill -9 (and restarted) while
 *    the task checkpoints; the task retries within its deadline, never stops, and the counts
 *    are exact (nothing applied twice).
 * The fault schedule's seed is printed (set STRATA_TASKS_SEED to replay it). Every process is
 * killed in after(). Bounded: about two minutes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { taskIdOf } from '../../src/client/task-runtime.js';
import type { TaskFailpoint } from '../../src/client/task-types.js';
import type { WorkerConfig } from './wordcount-worker.js';
import {
  Feeder,
  LineSource,
  OffsetMonitor,
  Worker,
  countProblems,
  createTopics,
  endOffsets,
  outputProblems,
  readOutput,
  recordedOffsets,
  sleep,
  startEnv,
  storedCounts,
  waitFor,
  type Env,
} from './harness.js';

const PARTITIONS = 4;
const GROUPS = 8;
let dir = '';
let env: Env;
const workers: Worker[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-tasks-'));
  env = await startEnv(dir, GROUPS);
});

after(async () => {
  for (const worker of workers) await worker.kill('SIGKILL');
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

/** workerConfig is the configuration of a worker of `application`. */
function workerConfig(application: string, owner: string, extra: Partial<WorkerConfig> = {}) {
  return {
    brokers: [env.broker.bootstrap],
    endpoints: env.cluster.endpoints(),
    application,
    inputTopic: `${application}-in`,
    outputTopic: `${application}-out`,
    owner,
    checkpointIntervalMs: 300,
    sessionTimeoutMs: 3_000,
    ...extra,
  } satisfies WorkerConfig;
}

function startWorker(config: WorkerConfig): Worker {
  const worker = new Worker(config);
  workers.push(worker);
  return worker;
}

/** finish waits until every task recorded the input's end, then checks counts and output. */
async function finish(application: string, source: LineSource, timeoutMs = 60_000) {
  const input = `${application}-in`;
  const ends = await endOffsets(env.kafka, input);
  await waitFor(`${application} to catch up to ${ends}`, timeoutMs, async () => {
    const offsets = await recordedOffsets(env.client, application, input, PARTITIONS);
    return offsets.every((offset, p) => offset === ends[p]);
  });
  const stored = await storedCounts(env.client, application, input, PARTITIONS);
  assert.deepEqual(countProblems(source.expected, stored), []);
  return ends;
}

async function stopAll(list: Worker[]): Promise<void> {
  await Promise.all(list.map((worker) => worker.kill('SIGTERM')));
}

type Point = TaskFailpoint | 'kill-9';
const POINTS: Point[] = [
  'before-checkpoint',
  'during-checkpoint',
  'after-store-commit',
  'after-kafka-commit',
  'during-rebalance',
  'after-acquire',
  'kill-9',
];

describe('stream tasks on real processes', () => {
  it('count every word exactly once through kill -9 at chosen points', async () => {
    const application = 'crash';
    const seed = Number(process.env.STRATA_TASKS_SEED ?? Date.now() % 1_000_000);
    console.log(`crash schedule seed ${seed} (STRATA_TASKS_SEED=${seed} replays it)`);
    const actionArb = fc.record({
      worker: fc.integer({ min: 0, max: 1 }),
      point: fc.constantFrom(...POINTS),
      hit: fc.integer({ min: 1, max: 4 }),
    });
    const [schedule] = fc.sample(fc.array(actionArb, { minLength: 7, maxLength: 7 }), {
      seed,
      numRuns: 1,
    });
    console.log(`schedule: ${schedule!.map((a) => `w${a.worker}:${a.point}#${a.hit}`).join(' ')}`);
    await createTopics(env.kafka, [`${application}-in`, `${application}-out`], PARTITIONS);
    const source = new LineSource(PARTITIONS, seed);
    const feeder = new Feeder(env.kafka, `${application}-in`, source, 40, 50);
    const monitor = new OffsetMonitor(env.client, application, `${application}-in`, PARTITIONS);
    const live = [0, 1].map((i) => startWorker(workerConfig(application, `w${i}`)));
    const kills: string[] = [];
    try {
      await Promise.all(live.map((worker) => worker.waitLine(/^READY/, 30_000)));
      for (const action of schedule!) {
        const config = workerConfig(application, `w${action.worker}`);
        await live[action.worker]!.kill('SIGKILL');
        if (action.point !== 'kill-9') {
          // A restarted worker joins and acquires only a few times: aim at the first two.
          const rare = action.point === 'during-rebalance' || action.point === 'after-acquire';
          const hit = rare ? Math.min(action.hit, 2) : action.hit;
          const armed = startWorker({ ...config, failpoint: { name: action.point, hit } });
          const exited = await Promise.race([
            armed.exited.then(() => true),
            sleep(12_000).then(() => false),
          ]);
          kills.push(`${action.point}#${hit}: ${exited ? 'killed there' : 'not reached'}`);
          await armed.kill('SIGKILL');
        } else {
          kills.push('kill-9 at a random moment');
        }
        live[action.worker] = startWorker(config);
        await sleep(300 + action.hit * 250);
      }
      console.log(`faults: ${kills.join('; ')}`);
      await feeder.stop();
      await finish(application, source, 90_000);
    } finally {
      await feeder.stop();
      await monitor.stop();
      await stopAll(live);
    }
    assert.deepEqual(monitor.problems, []);
    const output = await readOutput(env.kafka, `${application}-out`);
    console.log(`output: ${output.duplicates} duplicate records dropped by the dedup filter`);
    const problems = outputProblems(source.expected, output.byTask, (p) =>
      taskIdOf(application, `${application}-in`, p),
    );
    assert.deepEqual(problems.slice(0, 20), []);
  });

  it('fence a paused worker: its next checkpoint is refused and it stops', async () => {
    const application = 'zombie';
    await createTopics(env.kafka, [`${application}-in`, `${application}-out`], PARTITIONS);
    const source = new LineSource(PARTITIONS, 7);
    const feeder = new Feeder(env.kafka, `${application}-in`, source, 40, 50);
    const old = startWorker(workerConfig(application, 'old', { exitOnFenced: true }));
    let fresh: Worker | null = null;
    try {
      await old.waitLine(/^CHECKPOINT/, 30_000);
      old.child.kill('SIGSTOP');
      fresh = startWorker(workerConfig(application, 'fresh'));
      // The fresh worker owns every task once each has a checkpoint by it.
      await Promise.all(
        Array.from({ length: PARTITIONS }, (_, p) =>
          fresh!.waitLine(
            new RegExp(`^CHECKPOINT ${application}\\.${application}-in\\.${p} `),
            40_000,
          ),
        ),
      );
      old.child.kill('SIGCONT');
      const fenced = await old.waitLine(/^STOPPED \S+ FENCED/, 20_000);
      assert.equal(await old.exited, 3, `the old worker exits after ${fenced}`);
      await feeder.stop();
      await finish(application, source);
    } finally {
      await feeder.stop();
      await stopAll(fresh === null ? [old] : [old, fresh]);
    }
  });

  it('retry checkpoints through kill -9 of the task group leader', async () => {
    const application = 'leader';
    const input = `${application}-in`;
    await createTopics(env.kafka, [input, `${application}-out`], PARTITIONS);
    const source = new LineSource(PARTITIONS, 11);
    const feeder = new Feeder(env.kafka, input, source, 40, 50);
    const worker = startWorker(workerConfig(application, 'solo'));
    try {
      await worker.waitLine(/^CHECKPOINT/, 30_000);
      for (let round = 0; round < 3; round++) {
        const taskId = taskIdOf(application, input, round % PARTITIONS);
        const group = env.client.groupOfTask(taskId);
        const leader = (await env.cluster.leaders(GROUPS)).get(group) ?? 0;
        assert.ok(leader > 0, `group ${group} has a leader`);
        const seen = worker.lines.length;
        await env.cluster.kill(leader, 'SIGKILL');
        await sleep(1_500);
        env.cluster.launch(leader);
        await env.cluster.waitForLeaders(GROUPS, 30_000);
        await waitFor(`a checkpoint of ${taskId} after the kill`, 30_000, async () =>
          worker.lines.slice(seen).some((line) => line.startsWith(`CHECKPOINT ${taskId} `)),
        );
      }
      await feeder.stop();
      await finish(application, source);
      assert.deepEqual(
        worker.lines.filter((line) => line.startsWith('STOPPED')),
        [],
      );
    } finally {
      await feeder.stop();
      await stopAll([worker]);
    }
  });
});
