/**
 * Network faults: partitions (iptables cuts of directed links, see partitions.ts and
 * net/firewall.ts) and link-proxy faults (delay, drop, swizzle-clogging; see net/proxy.ts).
 */
import type { Link } from '../net/firewall.js';
import { PASS_MODE, type LinkMode } from '../net/proxy.js';
import { sleep } from '../runner/time.js';
import {
  NO_HEAL,
  pickLeader,
  pickNode,
  variantOf,
  type Heal,
  type NemesisContext,
} from './context.js';
import { describeLinks, partitionLinks, shuffled, type PartitionShape } from './partitions.js';
import type { NemesisStep } from './schedule.js';

/** SWIZZLE_STEP_MS is the pause between clogging (or unclogging) two links. */
export const SWIZZLE_STEP_MS = 150;

/** partitionFault cuts the links of the step's shape; the heal restores them all. */
export async function partitionFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const variant = variantOf(step);
  const ids = ctx.cluster.ids();
  let shape: PartitionShape;
  let node = pickNode(ctx, step.picks[0]!);
  if (variant === 'leader') {
    shape = 'isolate';
    node = await pickLeader(ctx, step.picks[0]!);
  } else if (variant === 'one-way') {
    shape = step.picks[2]! % 2 === 0 ? 'one-way-out' : 'one-way-in';
  } else {
    shape = variant as PartitionShape;
  }
  const links = partitionLinks(shape, ids, step.picks[1]!, node);
  await ctx.firewall.cutLinks(links);
  ctx.log.add(step.name, 'start', `${shape} (node ${node}): cut ${describeLinks(links)}`);
  return async () => {
    await ctx.firewall.heal();
    ctx.log.add(step.name, 'heal', 'all links restored');
  };
}

/** linkKey names the proxy link carrying `from`'s connections to `to`. */
export function linkKey(from: number, to: number): string {
  return `${from}->${to}`;
}

/** allLinks lists every directed link between the nodes. */
export function allLinks(ids: readonly number[]): Link[] {
  return ids.flatMap((a) => ids.filter((b) => b !== a).map((b): Link => [a, b]));
}

function chooseLinks(step: NemesisStep, ctx: NemesisContext, shareMin: number): string[] {
  const links = shuffled(
    allLinks(ctx.cluster.ids()).map(([a, b]) => linkKey(a, b)),
    step.picks[1]!,
  );
  const share = shareMin + ((step.picks[2]! % 1000) / 1000) * (1 - shareMin);
  return links.slice(0, Math.max(1, Math.round(links.length * share)));
}

/** proxyFault delays, drops or swizzle-clogs some links; the heal passes everything again. */
export async function proxyFault(step: NemesisStep, ctx: NemesisContext): Promise<Heal> {
  const proxy = ctx.proxy;
  if (!proxy) {
    ctx.log.add(step.name, 'note', 'the link proxy is off in this run: skipped');
    return NO_HEAL;
  }
  const variant = variantOf(step);
  const keys = chooseLinks(step, ctx, variant === 'swizzle' ? 0.5 : 0.3);
  const heal: Heal = async () => {
    await proxy.setMode(keys, PASS_MODE);
    ctx.log.add(step.name, 'heal', `links ${keys.join(' ')} pass again`);
  };
  if (variant === 'swizzle') {
    ctx.log.add(step.name, 'start', `clog ${keys.join(' ')} one by one`);
    for (const key of keys) {
      await proxy.setMode([key], { ...PASS_MODE, clogged: true });
      await sleep(SWIZZLE_STEP_MS, ctx.signal);
    }
    return async () => {
      const order = shuffled(keys, step.picks[3]!);
      for (const key of order) {
        await proxy.setMode([key], PASS_MODE);
        await sleep(SWIZZLE_STEP_MS, ctx.signal);
      }
      ctx.log.add(step.name, 'heal', `unclogged in the order ${order.join(' ')}`);
    };
  }
  const mode: LinkMode =
    variant === 'delay'
      ? { ...PASS_MODE, delayMs: Math.round(20 + step.fraction * 280), jitterMs: 50 }
      : { ...PASS_MODE, dropRate: 0.002 + step.fraction * 0.02 };
  await proxy.setMode(keys, mode);
  ctx.log.add(step.name, 'start', `${JSON.stringify(mode)} on ${keys.join(' ')}`);
  return heal;
}
