/**
 * `strata dev`: a local 3-node cluster for development. It runs three `strata node` child
 * processes (ids 1-3, cluster id `dev`, 127.0.0.1:<base-port>..+2, data under
 * <dir>/node-<id>, so a second run reuses the data), prefixes their log lines with [n1].. [n3],
 * prints the endpoints and a short tour once the cluster answers, forwards Ctrl-C (SIGINT or
 * SIGTERM) to the children as one SIGTERM and waits for them to exit. A node dying before the
 * cluster is up stops the others and fails the command; later, the others keep running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { StrataClient } from '../client/index.js';
import { CommandFailure, type CliIo } from './io.js';

/** DEV_NODE_COUNT is the size of the dev cluster. */
export const DEV_NODE_COUNT = 3;
/** DEV_CLUSTER_ID is the cluster id of the dev cluster. */
export const DEV_CLUSTER_ID = 'dev';
/** DEV_READY_MS bounds the wait for the cluster to answer. */
const DEV_READY_MS = 60_000;
/** DEV_STOP_MS bounds the wait for the children to exit before they are killed. */
const DEV_STOP_MS = 15_000;

/** LAUNCHER is bin/strata.js, which the children run (resolved from dist/src/cli). */
export const LAUNCHER = fileURLToPath(new URL('../../../bin/strata.js', import.meta.url));

/** DevOptions are `strata dev`'s flags. */
export interface DevOptions {
  dir: string;
  basePort: number;
  groups: number;
}

/** devNodeArgs returns the `strata node` arguments of dev node `id` (1-based). */
export function devNodeArgs(options: DevOptions, id: number): string[] {
  const peers = devEndpoints(options.basePort)
    .map((address, i) => `${i + 1}=${address}`)
    .join(',');
  return [
    'node',
    '--node-id', String(id),
    '--cluster-id', DEV_CLUSTER_ID,
    '--data-dir', join(resolve(options.dir), `node-${id}`),
    '--listen', `127.0.0.1:${options.basePort + id - 1}`,
    '--peers', peers,
    '--groups', String(options.groups),
  ]; // prettier-ignore
}

/** devEndpoints lists the dev cluster's node addresses. */
export function devEndpoints(basePort: number): string[] {
  return Array.from({ length: DEV_NODE_COUNT }, (_, i) => `127.0.0.1:${basePort + i}`);
}

/** Child is one running node process. */
interface Child {
  id: number;
  process: ChildProcess;
  exited: Promise<number>;
}

/** runDev runs the dev cluster until a signal or a child's death; resolves with the exit code. */
export async function runDev(options: DevOptions, io: CliIo): Promise<number> {
  await mkdir(resolve(options.dir), { recursive: true });
  const children: Child[] = [];
  for (let id = 1; id <= DEV_NODE_COUNT; id++) children.push(startChild(options, id, io));
  const stop = new AbortController();
  let signalled: NodeJS.Signals | null = null;
  const off = io.onSignal((signal) => {
    signalled = signal;
    stop.abort();
  });
  // Before the cluster is up, a dying node (a port in use, bad data) fails the whole command;
  // afterwards the others keep running (kill -9 a node to watch fail-over) until all are gone.
  let ready = false;
  void Promise.race(children.map((child) => child.exited)).then(() => ready || stop.abort());
  void Promise.all(children.map((child) => child.exited)).then(() => stop.abort());
  try {
    ready = await announceWhenReady(options, io, stop.signal);
    if (!ready) stop.abort();
    await new Promise<void>((done) => {
      if (stop.signal.aborted) done();
      else stop.signal.addEventListener('abort', () => done());
    });
  } finally {
    off();
  }
  const codes = await stopChildren(children, io);
  if (signalled === null) {
    throw new CommandFailure(
      `dev: the cluster stopped on its own (exit codes ${codes.join(', ')})`,
    );
  }
  io.out(`dev cluster stopped (${signalled}); data kept in ${resolve(options.dir)}`);
  return codes.every((code) => code === 0) ? 0 : 1;
}

function startChild(options: DevOptions, id: number, io: CliIo): Child {
  // Own process group: a terminal's Ctrl-C reaches only this process, which forwards one
  // SIGTERM (a node treats a second signal while stopping as "exit now").
  const child = spawn(process.execPath, [LAUNCHER, ...devNodeArgs(options, id)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const prefix = `[n${id}]`;
  createInterface({ input: child.stdout! }).on('line', (line) => io.out(`${prefix} ${line}`));
  createInterface({ input: child.stderr! }).on('line', (line) => io.err(`${prefix} ${line}`));
  const exited = new Promise<number>((done) => {
    child.on('exit', (code, signal) => {
      process.off('exit', killOnExit);
      io.out(`${prefix} exited (${signal ?? `code ${code}`})`);
      done(code ?? 1);
    });
    child.on('error', (error) => {
      io.err(`${prefix} cannot start: ${error.message}`);
      done(1);
    });
  });
  return { id, process: child, exited };
}

/**
 * announceWhenReady waits until the cluster answers, then prints endpoints and a tour;
 * resolves false if it never did (the failure is printed) or the wait was aborted.
 */
async function announceWhenReady(
  options: DevOptions,
  io: CliIo,
  signal: AbortSignal,
): Promise<boolean> {
  const endpoints = devEndpoints(options.basePort);
  let client: StrataClient;
  try {
    client = await StrataClient.connect({ endpoints, deadlineMs: DEV_READY_MS, signal });
  } catch (error) {
    if (!signal.aborted) io.err(`dev: the cluster did not answer: ${(error as Error).message}`);
    return false;
  }
  client.close();
  const flag = options.basePort === 7001 ? '' : ` --endpoints ${endpoints.join(',')}`;
  for (const line of [
    `dev cluster '${DEV_CLUSTER_ID}' is up: ${endpoints.join(', ')} (data in ${resolve(options.dir)})`,
    'try, in another terminal:',
    `  npx strata put greeting hello${flag}`,
    `  npx strata get greeting${flag}`,
    `  npx strata scan${flag}`,
    `  npx strata status${flag}`,
    'Ctrl-C stops the cluster (a second run keeps the data).',
  ]) {
    io.out(line);
  }
  return true;
}

/** stopChildren sends SIGTERM to the living children and waits (SIGKILL after DEV_STOP_MS). */
async function stopChildren(children: readonly Child[], io: CliIo): Promise<number[]> {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGTERM');
    }
  }
  const killer = setTimeout(() => {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        io.err(`[n${child.id}] did not stop within ${DEV_STOP_MS} ms: killing it`);
        child.process.kill('SIGKILL');
      }
    }
  }, DEV_STOP_MS);
  try {
    return await Promise.all(children.map((child) => child.exited));
  } finally {
    clearTimeout(killer);
  }
}
