/**
 * Worker-thread entry: checks one key per request message with checkKeySync.
 */
import { parentPort } from 'node:worker_threads';
import type { WorkerRequest, WorkerResponse } from './pool.js';
import { checkKeySync } from './wgl.js';

if (parentPort === null) throw new Error('checker worker must run in a worker thread');
const port = parentPort;

port.on('message', (req: WorkerRequest) => {
  let res: WorkerResponse;
  try {
    res = { index: req.index, result: checkKeySync(req.ops, req.opts) };
  } catch (err) {
    res = {
      index: req.index,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    };
  }
  port.postMessage(res);
});
