/**
 * A small worker_threads pool that checks keys in parallel, one key per message.
 */
import { Worker } from 'node:worker_threads';
import type { CheckOptions, KeyResult, Operation } from './types.js';

/** WorkerRequest asks a worker to check the ops of one key. */
export interface WorkerRequest {
  index: number;
  ops: Operation[];
  opts: CheckOptions;
}

/** WorkerResponse carries a key's result, or the error raised while checking it. */
export type WorkerResponse =
  | { index: number; result: KeyResult; error?: undefined }
  | { index: number; error: string; result?: undefined };

const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * checkKeysInWorkers checks each group (the ops of one key) on a pool of `size` worker threads
 * and returns the results in the order of `groups`. Larger groups are dispatched first.
 */
export function checkKeysInWorkers(
  groups: readonly Operation[][],
  opts: CheckOptions,
  size: number,
): Promise<KeyResult[]> {
  const results: KeyResult[] = new Array<KeyResult>(groups.length);
  const queue = groups.map((_, i) => i).sort((x, y) => groups[y].length - groups[x].length);
  const poolSize = Math.max(1, Math.min(size, groups.length));
  const workers: Worker[] = [];
  const searchOpts: CheckOptions = {
    timeLimitMsPerKey: opts.timeLimitMsPerKey,
    maxStepsPerKey: opts.maxStepsPerKey,
  };
  return new Promise<KeyResult[]>((resolve, reject) => {
    if (groups.length === 0) return resolve(results);
    let remaining = groups.length;
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (err === null) resolve(results);
      else reject(err);
    };
    const feed = (w: Worker): void => {
      const index = queue.shift();
      if (index !== undefined) w.postMessage({ index, ops: groups[index], opts: searchOpts });
    };
    for (let i = 0; i < poolSize; i++) {
      const w = new Worker(WORKER_URL);
      workers.push(w);
      w.on('message', (res: WorkerResponse) => {
        if (res.error !== undefined) return finish(new Error(`checker worker: ${res.error}`));
        results[res.index] = res.result;
        if (--remaining === 0) finish(null);
        else feed(w);
      });
      w.on('error', (err) => finish(err));
      w.on('exit', (code) => {
        if (!settled) finish(new Error(`checker worker exited early with code ${code}`));
      });
      feed(w);
    }
  });
}
