/**
 * A word-count worker process for the stream-task tests: `node wordcount-worker.js '<json>'`
 * runs StreamTaskRuntime with the examples' word-count task until SIGTERM (then it checkpoints
 * and leaves the group) or until a failpoint kills it. The JSON is a WorkerConfig. It prints
 * one line per event on stdout, which the tests read:
 *   READY | CHECKPOINT <taskId> <seq> <nextOffset> <snapshotIndex> | STOPPED <taskId> <code> |
 *   FAILPOINT <name> (just before it kills itself with SIGKILL, as kill -9 would)
 * With `failpoint: {name, hit}` armed, the worker kills itself the hit-th time it reaches that
 * place (task-types.ts TaskFailpoint). With `exitOnFenced`, a fenced task ends the process
 * (exit code 3) after printing its STOPPED line.
 */
import { StreamTaskRuntime } from '../../src/client/task-runtime.js';
import type { TaskFailpoint } from '../../src/client/task-types.js';
import { wordCountTask } from '../../examples/wordcount.js';

/** WorkerConfig configures one worker. */
export interface WorkerConfig {
  brokers: string[];
  endpoints: string[];
  application: string;
  inputTopic: string;
  outputTopic: string;
  owner: string;
  checkpointIntervalMs?: number;
  sessionTimeoutMs?: number;
  failpoint?: { name: TaskFailpoint; hit: number };
  exitOnFenced?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
let hits = 0;

const runtime = new StreamTaskRuntime({
  application: config.application,
  topics: [config.inputTopic],
  task: wordCountTask(config.outputTopic),
  kafka: { brokers: config.brokers, clientId: config.owner },
  strata: { endpoints: config.endpoints, deadlineMs: 10_000 },
  owner: config.owner,
  checkpoint: { intervalMs: config.checkpointIntervalMs ?? 300, deadlineMs: 30_000 },
  consumer: {
    sessionTimeout: config.sessionTimeoutMs ?? 6_000,
    heartbeatInterval: 500,
    rebalanceTimeout: 10_000,
  },
  revokeTimeoutMs: 5_000,
  hooks: {
    failpoint: (name) => {
      if (config.failpoint?.name !== name) return;
      hits++;
      if (hits < config.failpoint.hit) return;
      print(`FAILPOINT ${name}`);
      process.kill(process.pid, 'SIGKILL');
    },
    onCheckpoint: (info) =>
      print(
        `CHECKPOINT ${info.taskId} ${info.seq} ${info.offsets[0]?.nextOffset ?? -1} ` +
          `${info.snapshotIndex}`,
      ),
    onStopped: (taskId, error) => {
      const code = 'code' in error ? String(error.code) : error.name;
      print(`STOPPED ${taskId} ${code}`);
      if (config.exitOnFenced && code === 'FENCED') process.exit(3);
    },
    log: (line) => process.stderr.write(`${line}\n`),
  },
});

process.once('SIGTERM', () => {
  void runtime.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

await runtime.start();
print('READY');
