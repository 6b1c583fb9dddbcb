/**
 * Process faults: kill -9 and restart (a node, a group's leader, a minority, all nodes),
 * SIGSTOP / SIGCONT (longer than the election timeout), named failpoints (the node is
 * restarted with STRATA_FAILPOINTS=<name>, dies there, and is restarted clean), and the torn
 * log tail: a minority node is killed, restarted with the `after-log-sync` failpoint so that
 * it dies right after syncing a log batch it has not acknowledged to anyone, and the newest
 * LevelDB log of its `raft/` database is cut inside that last record (a torn, un-synced
 * write) before it restarts clean. Cutting only that record keeps the fault one that Raft must
 * survive: losing a synced and acknowledged write (a lying disk) is a different fault, which
 * the `ack-before-sync` mutation plays.
 */
import { basename, join } from 'node:path';
import { sleep } from '../runner/time.js';
import { tearTail } from './leveldb-log.js';
import {
  NO_HEAL,
  pickLeader,
  pickMinority,
  pickNode,
  variantOf,
  type Heal,
  type NemesisContext,
} from './context.js';
import type { NemesisStep } from './schedule.js';

/** KILL_AFTER_PAUSE_MS_MIN: the least time between pausing the minority and the kill. */
export const KILL_AFTER_PAUSE_MS_MIN = 300;

/** FAILPOINT_EXIT_MS bounds the wait for an armed node to reach its failpoint. */
export const FAILPOINT_EXIT_MS = 15_000;

/** servingNote says when restarted nodes did not answer in time. */
function servingNote(serving: boolean): string {
  return serving ? '' : ' (NOT serving after 20 s)';
}

/** targetsOf resolves the nodes a kill or pause step hits. */
async function targetsOf(step: NemesisStep, ctx: NemesisContext): Promise<number[]> {
  switch (variantOf(step)) {
    case 'leader':
      return [await pickLeader(ctx, step.picks[0]!)];
    case 'minority':
      return pickMinority(ctx, step.picks[1]!);
    case 'all':
      return ctx.cluster.ids();
    default:
      return [pickNode(ctx, step.picks[0]!)];
  }
}

/**
 * majorityWhilePausedFault stops a minority with SIGSTOP, kills the majority a moment later
 * (KILL_AFTER_PAUSE_MS_MIN + up to 400 ms) and restarts it; the heal resumes the minority. The
 * stopped minority then holds the longest log it has acknowledged, while the killed majority
 * keeps only what it synced: a correct node acknowledges nothing before syncing it, so no
 * acknowledged write may be lost; a node that acknowledges first loses them here.
 */
async function majorityWhilePausedFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const minority = pickMinority(ctx, step.picks[1]!);
  const majority = ctx.cluster.ids().filter((id) => !minority.includes(id));
  for (const id of minority) ctx.cluster.pause(id);
  await sleep(KILL_AFTER_PAUSE_MS_MIN + Math.round(step.fraction * 400), ctx.signal);
  await Promise.all(majority.map((id) => ctx.cluster.kill(id)));
  ctx.log.add(
    step.name,
    'start',
    `SIGSTOP node(s) ${minority.join(',')}, then kill -9 node(s) ${majority.join(',')}`,
  );
  return async () => {
    for (const id of minority) ctx.cluster.resume(id);
    for (const id of majority) if (!ctx.cluster.isRunning(id)) ctx.cluster.launch(id);
    const serving = await ctx.cluster.waitServing(majority);
    ctx.log.add(
      step.name,
      'heal',
      `SIGCONT ${minority.join(',')}, restarted ${majority.join(',')}${servingNote(serving)}`,
    );
  };
}

/** killFault kills its targets with SIGKILL; the heal restarts them. */
export async function killFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  if (variantOf(step) === 'majority-while-paused') return majorityWhilePausedFault(step, ctx);
  const targets = await targetsOf(step, ctx);
  ctx.log.add(step.name, 'start', `kill -9 node(s) ${targets.join(',')}`);
  await Promise.all(targets.map((id) => ctx.cluster.kill(id)));
  return async () => {
    for (const id of targets) if (!ctx.cluster.isRunning(id)) ctx.cluster.launch(id);
    const serving = await ctx.cluster.waitServing(targets);
    ctx.log.add(step.name, 'heal', `restarted node(s) ${targets.join(',')}${servingNote(serving)}`);
  };
}

/** pauseFault stops its target with SIGSTOP; the heal continues it. */
export async function pauseFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const targets = await targetsOf(step, ctx);
  ctx.log.add(step.name, 'start', `SIGSTOP node(s) ${targets.join(',')} for ${step.durationMs} ms`);
  for (const id of targets) ctx.cluster.pause(id);
  return async () => {
    for (const id of targets) ctx.cluster.resume(id);
    ctx.log.add(step.name, 'heal', `SIGCONT node(s) ${targets.join(',')}`);
  };
}

/**
 * crashAt restarts `node` with failpoint `name` armed and waits for it to die there; returns
 * whether it did (if not, it is killed). The node is down on return.
 */
export async function crashAt(ctx: NemesisContext, node: number, name: string): Promise<boolean> {
  await ctx.cluster.kill(node);
  ctx.cluster.launch(node, { STRATA_FAILPOINTS: name });
  const fired = await ctx.cluster.waitExit(node, FAILPOINT_EXIT_MS);
  if (!fired) await ctx.cluster.kill(node);
  return fired;
}

/** failpointFault crashes a node at a named failpoint, then restarts it clean. */
export async function failpointFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const node = pickNode(ctx, step.picks[0]!);
  const name = variantOf(step);
  ctx.log.add(step.name, 'start', `restart node ${node} with STRATA_FAILPOINTS=${name}`);
  const fired = await crashAt(ctx, node, name);
  ctx.log.add(
    step.name,
    'note',
    fired ? `node ${node} died at ${name}` : `node ${node} never reached ${name}; killed it`,
  );
  ctx.cluster.launch(node);
  const serving = await ctx.cluster.waitServing([node]);
  ctx.log.add(
    step.name,
    'heal',
    `restarted node ${node} without failpoints${servingNote(serving)}`,
  );
  return NO_HEAL;
}

/** tornTailFault tears the last, unacknowledged record of a node's Raft log (see above). */
export async function tornTailFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const node = pickNode(ctx, step.picks[0]!);
  ctx.log.add(step.name, 'start', `crash node ${node} after a log sync, then tear its log tail`);
  const fired = await crashAt(ctx, node, 'after-log-sync');
  if (fired) {
    const result = await tearTail(join(ctx.cluster.dataDir(node), 'raft'), step.fraction);
    const detail = result.record
      ? `cut raft/${basename(result.file ?? '')} of node ${node} from ${result.sizeBefore} to ` +
        `${result.sizeAfter} bytes ` +
        `(last record ${result.record.start}-${result.record.end})`
      : `no complete record in ${result.file ?? 'any log file'}; left intact`;
    ctx.log.add(step.name, 'note', detail);
  } else {
    ctx.log.add(step.name, 'note', `node ${node} never synced a batch; log left intact`);
  }
  ctx.cluster.launch(node);
  const serving = await ctx.cluster.waitServing([node]);
  ctx.log.add(step.name, 'heal', `restarted node ${node}${servingNote(serving)}`);
  return NO_HEAL;
}
