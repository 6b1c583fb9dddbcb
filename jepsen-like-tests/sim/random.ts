/**
 * Seeded randomness for the simulator. Every random choice of a run (network delays, drops,
 * client operations, election jitter of each replica) comes from one `Random` built from the
 * run's seed, so a seed replays a run exactly. Never Math.random, never Date.
 */
import { mulberry32 } from '../../src/raft/config.js';

/** Random wraps mulberry32 with the few helpers the simulator needs. */
export class Random {
  private readonly nextFloat: () => number;

  constructor(seed: number) {
    this.nextFloat = mulberry32(seed);
  }

  /** next returns a float in [0, 1). */
  next(): number {
    return this.nextFloat();
  }

  /** int returns an integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.nextFloat() * (max - min + 1));
  }

  /** chance returns true with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }

  /** pick returns one element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[Math.floor(this.nextFloat() * items.length)];
  }

  /** fork derives an independent generator (a new seed drawn from this one). */
  fork(): Random {
    return new Random(this.seed32());
  }

  /** seed32 draws a 32-bit unsigned seed, e.g. for a replica's own PRNG. */
  seed32(): number {
    return Math.floor(this.nextFloat() * 4294967296) >>> 0;
  }
}
