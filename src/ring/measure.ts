/**
 * measure prints the numbers quoted in group-ring.ts and placement.ts: key spread per group
 * count, how often a sample of 20,000 random keys stays within +/-15% over 64 groups, lookup
 * throughput, replica and leader spread, and the fraction of replicas moved by adding a node.
 * Run: `node dist/src/ring/measure.js`. It is a measurement, not a test: nothing is asserted.
 */
import HashRing from 'hashring';
import { GroupRing } from './group-ring.js';
import { diffPlacement, placement, preferredLeaderCounts, replicaCounts } from './placement.js';
import { randomKeys, sequentialKeys, spreadOf, type Spread } from './testing.js';

function show(spread: Spread): string {
  return `${spread.min.toFixed(3)}..${spread.max.toFixed(3)}`;
}

function measureSpread(): void {
  for (const groupCount of [16, 64, 128]) {
    const ring = new GroupRing(groupCount);
    const sequential = spreadOf(ring, sequentialKeys(20000));
    const random = spreadOf(ring, randomKeys(20000, 1));
    const large = spreadOf(ring, randomKeys(1250 * groupCount, 2));
    console.log(
      `${groupCount} groups, 20,000 keys: sequential ${show(sequential)}, ` +
        `random ${show(random)}; ${1250 * groupCount} random keys: ${show(large)}`,
    );
  }
}

/**
 * measureDirectHashring measures the rejected design, `hashring.get(key)` per key: each
 * group's exact share of the ring (from its points) and the spread of 20,000 keys.
 */
function measureDirectHashring(): void {
  const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');
  const random = randomKeys(20000, 1).map(hex);
  const sequential = sequentialKeys(20000);
  for (const groupCount of [64, 128]) {
    const names = Array.from({ length: groupCount }, (_, i) => `group-${i + 1}`);
    for (const vnodes of [40, 640, 2560]) {
      const ring = new HashRing(names, 'md5', { 'vnode count': vnodes });
      const spread = (keys: readonly string[]): string => {
        const counts = new Map(names.map((name) => [name, 0]));
        for (const key of keys) counts.set(ring.get(key), counts.get(ring.get(key))! + 1);
        const even = keys.length / groupCount;
        return show({
          min: Math.min(...counts.values()) / even,
          max: Math.max(...counts.values()) / even,
        });
      };
      console.log(
        `hashring.get, ${groupCount} groups, ${vnodes * 4} points/group: share ` +
          `${show(ringShares(ring, names))}; 20,000 keys: sequential ${spread(sequential)}, ` +
          `random ${spread(random)}`,
      );
    }
  }
}

/** ringShares returns the least and greatest share of the hash space a group's points own. */
function ringShares(ring: HashRing, names: readonly string[]): Spread {
  const owners: [point: number, name: string][] = [];
  const points = ring.points([...names]) as unknown as Record<string, number[]>;
  for (const name of names) for (const point of points[name]!) owners.push([point, name]);
  owners.sort((a, b) => a[0] - b[0]);
  const shares = new Map(names.map((name) => [name, 0]));
  owners.forEach(([point, name], index) => {
    const previous = index === 0 ? owners[owners.length - 1]![0] - 2 ** 32 : owners[index - 1]![0];
    shares.set(name, shares.get(name)! + (point - previous));
  });
  const even = 2 ** 32 / names.length;
  return { min: Math.min(...shares.values()) / even, max: Math.max(...shares.values()) / even };
}

function measureSampleLuck(groupCount: number, samples: number): void {
  const ring = new GroupRing(groupCount);
  let within = 0;
  for (let seed = 1; seed <= samples; seed++) {
    const spread = spreadOf(ring, randomKeys(20000, 1000 + seed));
    if (spread.min >= 0.85 && spread.max <= 1.15) within++;
  }
  console.log(
    `${groupCount} groups: ${within} of ${samples} samples of 20,000 random keys within +/-15%`,
  );
}

function measureLookups(): void {
  const ring = new GroupRing(64);
  const stringKeys = Array.from({ length: 100000 }, (_, i) => `{task:t${i % 500}}/state/${i}`);
  const byteKeys = randomKeys(100000, 3);
  for (const [name, keys] of [
    ['string keys with a hash tag', stringKeys],
    ['16-byte keys', byteKeys],
  ] as const) {
    let sink = 0;
    const rounds = 20;
    const start = process.hrtime.bigint();
    for (let round = 0; round < rounds; round++) for (const key of keys) sink += ring.groupOf(key);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const rate = (rounds * keys.length) / seconds;
    console.log(`lookups, ${name}: ${(rate / 1e6).toFixed(1)} M/s (checksum ${sink})`);
  }
  const start = process.hrtime.bigint();
  new GroupRing(64);
  console.log(`GroupRing(64) build: ${Number(process.hrtime.bigint() - start) / 1e6} ms`);
}

function measurePlacement(): void {
  for (const nodeCount of [3, 4, 5, 8, 16]) {
    const nodes = Array.from({ length: nodeCount }, (_, i) => i + 1);
    const before = placement(64, nodes, 3);
    const after = placement(64, [...nodes, nodeCount + 1], 3);
    const moved = diffPlacement(before, after).reduce((sum, move) => sum + move.added.length, 0);
    const replicas = [...replicaCounts(before).values()];
    const leaders = [...preferredLeaderCounts(before).values()];
    console.log(
      `64 groups, rf 3, ${nodeCount} nodes: replicas/node ${Math.min(...replicas)}..` +
        `${Math.max(...replicas)} (even ${((64 * 3) / nodeCount).toFixed(1)}), ` +
        `leaders/node ${Math.min(...leaders)}..${Math.max(...leaders)}; adding node ` +
        `${nodeCount + 1} moves ${moved}/192 = ${(moved / 192).toFixed(3)} ` +
        `(1/(N+1) = ${(1 / (nodeCount + 1)).toFixed(3)})`,
    );
  }
}

measureDirectHashring();
measureSpread();
measureSampleLuck(64, 200);
measureSampleLuck(128, 200);
measureLookups();
measurePlacement();
