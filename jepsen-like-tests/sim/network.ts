/**
 * The simulated network between replicas: per-message delay with jitter, random drop,
 * duplication and reordering, and partitions expressed as blocked directed links. It decides
 * the fate of a message; the cluster schedules the deliveries. A link blocked when a message is
 * delivered drops it too, so a partition also cuts messages already in flight.
 */
import type { Random } from './random.js';

/** NetworkFaults are the knobs the nemesis turns. Rates are probabilities per message. */
export interface NetworkFaults {
  dropRate: number;
  dupRate: number;
  /** Probability that a message gets a large extra delay (overtaken by later ones). */
  reorderRate: number;
  /** The largest such extra delay. */
  reorderDelayMsMax: number;
  delayMsMin: number;
  delayMsMax: number;
}

/** DEFAULT_FAULTS is a healthy LAN: 1-4 ms, nothing lost. */
export const DEFAULT_FAULTS: NetworkFaults = {
  dropRate: 0,
  dupRate: 0,
  reorderRate: 0,
  reorderDelayMsMax: 25,
  delayMsMin: 1,
  delayMsMax: 4,
};

/** NetworkStats counts what happened to messages. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  blocked: number;
}

const LINK_KEY_BASE = 1 << 16;

/**
 * Network holds the link state. Invariant: `blocked` holds directed links `from -> to` as
 * `from * 2^16 + to`; node ids are < 2^16 in the simulator.
 */
export class Network {
  faults: NetworkFaults = { ...DEFAULT_FAULTS };
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0 };
  private readonly blocked = new Set<number>();

  constructor(private readonly random: Random) {}

  /** isBlocked tells whether messages from `from` to `to` are cut. */
  isBlocked(from: number, to: number): boolean {
    return this.blocked.has(from * LINK_KEY_BASE + to);
  }

  /** blockedLinks is the number of cut directed links (0 when healed). */
  blockedLinks(): number {
    return this.blocked.size;
  }

  /** block cuts the directed link from -> to. */
  block(from: number, to: number): void {
    if (from !== to) this.blocked.add(from * LINK_KEY_BASE + to);
  }

  /** partition cuts every link (both ways) between nodes of different groups. */
  partition(groups: readonly (readonly number[])[]): void {
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const from of groups[a]) for (const to of groups[b]) this.block(from, to);
      }
    }
  }

  /** blockOneWay cuts the links from every node of `senders` to every node of `receivers`. */
  blockOneWay(senders: readonly number[], receivers: readonly number[]): void {
    for (const from of senders) for (const to of receivers) this.block(from, to);
  }

  /**
   * bridge splits `left` and `right` both ways while `bridgeNode` still talks to both sides
   * (Jepsen's bridge: two majorities that overlap in one node).
   */
  bridge(left: readonly number[], bridgeNode: number, right: readonly number[]): void {
    const strip = (side: readonly number[]): number[] => side.filter((id) => id !== bridgeNode);
    this.partition([strip(left), strip(right)]);
  }

  /** heal restores every link. */
  heal(): void {
    this.blocked.clear();
  }

  /**
   * route decides the fate of one message from -> to: the delays (ms) of the copies to deliver,
   * none when it is dropped or the link is cut, two when it is duplicated.
   */
  route(from: number, to: number): number[] {
    this.stats.sent++;
    if (this.isBlocked(from, to)) {
      this.stats.blocked++;
      return [];
    }
    if (this.random.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      return [];
    }
    const delays = [this.delayMs()];
    if (this.random.chance(this.faults.dupRate)) {
      this.stats.duplicated++;
      delays.push(this.delayMs());
    }
    return delays;
  }

  /** arrives tells whether a copy reaching `to` now gets through (the link may be cut since). */
  arrives(from: number, to: number): boolean {
    if (this.isBlocked(from, to)) {
      this.stats.blocked++;
      return false;
    }
    this.stats.delivered++;
    return true;
  }

  private delayMs(): number {
    const { delayMsMin, delayMsMax, reorderRate, reorderDelayMsMax } = this.faults;
    let delay = this.random.int(delayMsMin, Math.max(delayMsMin, delayMsMax));
    if (this.random.chance(reorderRate)) delay += this.random.int(1, reorderDelayMsMax);
    return delay;
  }
}
