/**
 * What a nemesis step can touch (the cluster, the firewall, the link proxy), how it reports
 * what it did (NemesisLog: `nemesis.jsonl`, on the run's clock), and how it resolves the
 * targets its schedule step drew (a node, the leader of a group, a minority).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { StrataClient } from '../../src/client/index.js';
import type { Firewall } from '../net/firewall.js';
import type { ProxyControl } from '../net/proxy-control.js';
import type { JepsenCluster } from '../runner/cluster.js';
import type { Clock } from '../runner/time.js';
import type { MembershipState } from './membership-faults.js';
import { shuffled } from './partitions.js';
import type { NemesisStep } from './schedule.js';

/** NemesisEvent is one line of the nemesis log. */
export interface NemesisEvent {
  time: number;
  /** name is the step's `kind:variant` (or `heal-all`). */
  name: string;
  /** phase: `start` (fault on), `heal` (fault off) or `note` (what happened meanwhile). */
  phase: 'start' | 'heal' | 'note';
  detail: string;
}

/** NemesisLog records nemesis events in memory and in a JSONL file. */
export class NemesisLog {
  readonly events: NemesisEvent[] = [];
  private readonly stream: WriteStream | null;

  constructor(
    private readonly clock: Clock,
    path: string | null,
    private readonly echo: (line: string) => void = () => {},
  ) {
    this.stream = path ? createWriteStream(path) : null;
  }

  /** add records an event now. */
  add(name: string, phase: NemesisEvent['phase'], detail: string): void {
    const event = { time: this.clock.now(), name, phase, detail };
    this.events.push(event);
    this.stream?.write(JSON.stringify(event) + '\n');
    this.echo(`${(event.time / 1000).toFixed(1)}s nemesis ${name} ${phase}: ${detail}`);
  }

  /** close flushes the file. */
  async close(): Promise<void> {
    const stream = this.stream;
    if (stream) await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}

/** NemesisContext is everything a step may use. */
export interface NemesisContext {
  cluster: JepsenCluster;
  firewall: Firewall;
  /** proxy is null when the run routes peer traffic directly. */
  proxy: ProxyControl | null;
  /** client writes what a fault needs (snapshot ballast); null if none. */
  client: StrataClient | null;
  clock: Clock;
  log: NemesisLog;
  signal: AbortSignal;
  /** membership is what the membership faults remember over the run (hosts, counts). */
  membership: MembershipState;
}

/** Heal undoes a fault. */
export type Heal = () => Promise<void>;

/** NO_HEAL is the heal of a step that already undid itself. */
export const NO_HEAL: Heal = async () => {};

/** pickNode chooses a node id from a pick. */
export function pickNode(ctx: NemesisContext, pick: number): number {
  const ids = ctx.cluster.ids();
  return ids[pick % ids.length]!;
}

/**
 * pickLeader chooses the leader of group (pick mod G) + 1; without one, the node leading the
 * most groups; without any leader, a node from the pick.
 */
export async function pickLeader(ctx: NemesisContext, pick: number): Promise<number> {
  const groupId = (pick % ctx.cluster.spec.groupCount) + 1;
  const leader = await ctx.cluster.leaderOf(groupId);
  if (leader !== 0) return leader;
  const busiest = await ctx.cluster.busiestLeader();
  return busiest !== 0 ? busiest : pickNode(ctx, pick);
}

/** pickMinority chooses floor((n - 1) / 2) nodes (at least one). */
export function pickMinority(ctx: NemesisContext, pick: number): number[] {
  const ids = ctx.cluster.ids();
  return shuffled(ids, pick).slice(0, Math.max(1, Math.floor((ids.length - 1) / 2)));
}

/** kindOf returns the kind part of a step's name. */
export function kindOf(step: NemesisStep): string {
  return step.name.split(':')[0]!;
}

/** variantOf returns the variant part of a step's name. */
export function variantOf(step: NemesisStep): string {
  return step.name.slice(step.name.indexOf(':') + 1);
}
