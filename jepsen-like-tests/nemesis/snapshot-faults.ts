/**
 * Forced snapshots: a follower is cut off (both ways) while the workload writes, and some
 * incompressible ballast (BALLAST_BYTES in a few keys) goes into one of its groups so that the
 * image spans several chunks, until the leader of one of its groups has compacted its log past
 * the follower's last entry (the run uses a low `compactEntries`). The follower is then killed
 * and restarted, still cut off: a partition delays TCP traffic rather than losing it, and the
 * restart drops the appends buffered for the old process, so after the heal the leader has to
 * send a snapshot. With a snapshot failpoint (`snapshot:<failpoint>`) the follower restarts
 * with it armed, dies in the middle of receiving or restoring the image, and is restarted
 * clean: it must finish or redo the install. Every wait is bounded.
 */
import { randomBytes } from 'node:crypto';
import type { NodeStatus } from '../harness/process-cluster.js';
import { waitFor } from '../runner/time.js';
import { NO_HEAL, pickNode, variantOf, type Heal, type NemesisContext } from './context.js';
import { isolate } from './partitions.js';
import type { NemesisStep } from './schedule.js';

/** COMPACTION_WAIT_MS_MIN is the least time given to the peers to compact past the follower. */
export const COMPACTION_WAIT_MS_MIN = 15_000;
/** CATCH_UP_WAIT_MS bounds the wait for the follower to catch up after the heal. */
export const CATCH_UP_WAIT_MS = 20_000;
/** BALLAST_VALUES x BALLAST_BYTES of random bytes make an image of several 256 KiB chunks. */
export const BALLAST_VALUES = 3;
export const BALLAST_BYTES = 200 * 1024;
/** FILLER_WRITES small writes into the target group make its leader compact. */
export const FILLER_WRITES = 160;

type GroupView = { last: number; first: number; commit: number; applied: number; role: string };

async function groupViews(ctx: NemesisContext): Promise<Map<number, Map<number, GroupView>>> {
  const views = new Map<number, Map<number, GroupView>>();
  const ids = ctx.cluster.ids();
  const statuses = await Promise.all(ids.map((id) => ctx.cluster.status(id, 800)));
  statuses.forEach((status: NodeStatus | null, i) => {
    const groups = new Map<number, GroupView>();
    for (const g of status?.groups ?? []) {
      groups.set(Number(g.groupId), {
        last: Number(g.lastIndex),
        first: Number(g.firstIndex),
        commit: Number(g.commit),
        applied: Number(g.applied),
        role: String(g.role),
      });
    }
    if (status) views.set(ids[i]!, groups);
  });
  return views;
}

/** compactedPast lists the groups whose leader's log starts after `node`'s last entry. */
async function compactedPast(ctx: NemesisContext, node: number): Promise<number[]> {
  const views = await groupViews(ctx);
  const mine = views.get(node);
  if (!mine) return [];
  const groups: number[] = [];
  for (const [groupId, view] of mine) {
    for (const [other, theirs] of views) {
      const leader = theirs.get(groupId);
      if (other !== node && leader?.role === 'leader' && leader.first > view.last + 1) {
        groups.push(groupId);
      }
    }
  }
  return groups;
}

/** leaderCommits maps each group of `node` to its leader's commit index now. */
async function leaderCommits(ctx: NemesisContext, node: number): Promise<Map<number, number>> {
  const views = await groupViews(ctx);
  const targets = new Map<number, number>();
  for (const [other, groups] of views) {
    if (other === node) continue;
    for (const [groupId, view] of groups) {
      if (view.role === 'leader' && views.get(node)?.has(groupId))
        targets.set(groupId, view.commit);
    }
  }
  return targets;
}

/** caughtUp tells whether `node` applied, in every group, what its leader had committed. */
async function caughtUp(ctx: NemesisContext, node: number, targets: Map<number, number>) {
  const mine = (await groupViews(ctx)).get(node);
  if (!mine) return false;
  for (const [groupId, commit] of targets) {
    if ((mine.get(groupId)?.applied ?? 0) < commit) return false;
  }
  return true;
}

/** keysOfGroup returns `count` keys `<prefix><n>` that map to `groupId` (bounded search). */
function keysOfGroup(
  ctx: NemesisContext,
  groupId: number,
  prefix: string,
  count: number,
): string[] {
  const keys: string[] = [];
  for (let n = 0; n < 100_000 && keys.length < count; n++) {
    if (ctx.client!.groupOf(`${prefix}${n}`) === groupId) keys.push(`${prefix}${n}`);
  }
  return keys;
}

/**
 * writeBallast puts BALLAST_VALUES random values into `groupId` (so its image spans several
 * chunks), then enough small writes for its leader to compact (FILLER_WRITES, 8 at a time).
 */
async function writeBallast(ctx: NemesisContext, groupId: number): Promise<number> {
  if (!ctx.client) return 0;
  const client = ctx.client;
  let written = 0;
  const put = async (key: string, value: Uint8Array | string): Promise<void> => {
    try {
      await client.put(key, value, { deadlineMs: 5_000 });
      written++;
    } catch {
      // a fault elsewhere may refuse it; the snapshot is then just smaller
    }
  };
  for (const key of keysOfGroup(ctx, groupId, 'ballast/', BALLAST_VALUES)) {
    await put(key, randomBytes(BALLAST_BYTES));
  }
  const fillers = keysOfGroup(ctx, groupId, 'filler/', 8);
  await Promise.all(
    fillers.map(async (key) => {
      for (let i = 0; i < FILLER_WRITES / fillers.length && !ctx.signal.aborted; i++) {
        await put(key, String(i));
      }
    }),
  );
  return written;
}

/** followerGroup returns a group `node` hosts and does not lead (0 if none). */
async function followerGroup(ctx: NemesisContext, node: number, pick: number): Promise<number> {
  const status = await ctx.cluster.status(node);
  const groups = (status?.groups ?? []).filter((g) => g.role !== 'leader');
  return groups.length > 0 ? Number(groups[pick % groups.length]!.groupId) : 0;
}

/** snapshotFault forces a snapshot install on a follower (see above). */
export async function snapshotFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const node = pickNode(ctx, step.picks[0]!);
  const failpoint = variantOf(step) === 'install' ? null : variantOf(step);
  const target = await followerGroup(ctx, node, step.picks[1]!);
  await ctx.firewall.cutLinks(isolate(node, ctx.cluster.ids()));
  ctx.log.add(step.name, 'start', `cut node ${node} off until its peers compact past it`);
  const ballast = target === 0 ? 0 : await writeBallast(ctx, target);
  let groups: number[] = [];
  await waitFor(
    async () => {
      groups = await compactedPast(ctx, node);
      return target === 0 ? groups.length > 0 : groups.includes(target);
    },
    Math.max(step.durationMs, COMPACTION_WAIT_MS_MIN),
    300,
    ctx.signal,
  );
  ctx.log.add(
    step.name,
    'note',
    `${ballast} ballast and filler writes in group ${target}; compacted past node ${node}: ` +
      `${groups.join(',') || 'none'}; restarting it${failpoint ? ` with ${failpoint}` : ''}`,
  );
  await ctx.cluster.kill(node);
  ctx.cluster.launch(node, failpoint ? { STRATA_FAILPOINTS: failpoint } : {});
  await ctx.firewall.heal();
  ctx.log.add(step.name, 'heal', `node ${node} reconnected`);
  if (failpoint) {
    const fired = await ctx.cluster.waitExit(node, CATCH_UP_WAIT_MS);
    if (!fired) await ctx.cluster.kill(node);
    ctx.log.add(
      step.name,
      'note',
      fired ? `node ${node} died at ${failpoint}` : `${failpoint} not reached`,
    );
    ctx.cluster.launch(node);
  }
  await waitFor(async () => (await ctx.cluster.status(node)) !== null, CATCH_UP_WAIT_MS, 200);
  const targets = await leaderCommits(ctx, node);
  const done =
    targets.size > 0 &&
    (await waitFor(() => caughtUp(ctx, node, targets), CATCH_UP_WAIT_MS, 300, ctx.signal));
  await waitFor(
    async () => Number((await ctx.cluster.status(node))?.snapshotsInstalled ?? 0) > 0,
    5_000,
    250,
    ctx.signal,
  );
  const installed = Number((await ctx.cluster.status(node))?.snapshotsInstalled ?? 0);
  ctx.log.add(
    step.name,
    'note',
    `node ${node} ${done ? 'caught up' : 'did NOT catch up'}; snapshots installed since its ` +
      `restart: ${installed}`,
  );
  return NO_HEAL;
}
