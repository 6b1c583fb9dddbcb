/**
 * Helpers shared by the workloads: connecting StrataClients (bounded retries), running worker
 * loops (bounded in operations, stopped by a signal), and classifying a failed call as a
 * definite failure (`fail`) or an indeterminate one (`info`).
 */
import { setMaxListeners } from 'node:events';
import { StrataClient, StrataError } from '../../src/client/index.js';
import { sleep } from '../runner/time.js';
import type { WorkloadTuning } from './types.js';

/** FINAL_READS_BUDGET_MS bounds the final reads of one workload (every attempt together). */
export const FINAL_READS_BUDGET_MS = 20_000;

/** budget returns a function telling whether `ms` have passed since it was created. */
export function budget(ms: number): () => boolean {
  const end = performance.now() + ms;
  return () => performance.now() >= end;
}

/** CONNECT_TIMEOUT_MS bounds connecting one client (retrying while the cluster elects). */
export const CONNECT_TIMEOUT_MS = 30_000;

/** connectClients connects `tuning.clients` clients to the cluster. */
export async function connectClients(
  endpoints: string[],
  tuning: WorkloadTuning,
): Promise<StrataClient[]> {
  const clients: StrataClient[] = [];
  for (let i = 0; i < tuning.clients; i++) {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        clients.push(
          await StrataClient.connect({
            endpoints,
            deadlineMs: tuning.deadlineMs,
            attemptTimeoutMs: tuning.attemptTimeoutMs,
          }),
        );
        break;
      } catch (error) {
        if (performance.now() - started > CONNECT_TIMEOUT_MS || attempt >= 100) {
          for (const client of clients) client.close();
          throw error;
        }
        await sleep(200);
      }
    }
  }
  return clients;
}

/**
 * runWorkers runs `body(worker, iteration)` in `count` concurrent loops until `signal` aborts
 * or a loop did `opsMax` iterations, pausing `thinkMs` between iterations.
 */
export async function runWorkers(
  count: number,
  tuning: WorkloadTuning,
  signal: AbortSignal,
  body: (worker: number, iteration: number) => Promise<void>,
): Promise<void> {
  setMaxListeners(count + 16, signal); // each sleeping worker listens for the stop
  const loops: Promise<void>[] = [];
  for (let worker = 0; worker < count; worker++) {
    loops.push(
      (async () => {
        for (let i = 0; i < tuning.opsMax && !signal.aborted; i++) {
          await body(worker, i);
          if (tuning.thinkMs > 0) await sleep(tuning.thinkMs, signal);
        }
      })(),
    );
  }
  await Promise.all(loops);
}

/**
 * outcomeOf classifies a failed write: `info` when it may have been applied (the client says
 * indeterminate, or the error is not one of the client's typed errors), else `fail`.
 */
export function outcomeOf(error: unknown): 'fail' | 'info' {
  if (error instanceof StrataError) return error.indeterminate ? 'info' : 'fail';
  return 'info';
}

/** errorText names an error compactly (code and first line). */
export function errorText(error: unknown): string {
  if (error instanceof StrataError) return `${error.code}: ${error.message.split('\n')[0]}`;
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** decodeText turns stored bytes back into a string. */
export function decodeText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}
