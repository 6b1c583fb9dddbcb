/**
 * GroupRing maps keys to Raft groups: key -> routing key (hash tag) -> one of SLOT_COUNT slots
 * (Redis's CRC16) -> group, through a slot table built once with the `hashring` package.
 *
 * Why slots and not `hashring.get(key)`: measured by measure.ts (20,000 keys; min..max keys
 * per group as a fraction of even; in brackets each group's exact share of the ring):
 *
 *   hashring.get        64 groups                                 128 groups
 *   points/group        [share]      sequential  random           sequential  random
 *   160 (ketama)        [0.88..1.20] 0.79..1.24  0.81..1.22       0.70..1.30  0.74..1.38
 *   2,560               [0.96..1.05] 0.85..1.18  0.85..1.12       0.81..1.25  0.79..1.18
 *   10,240              [0.98..1.02] 0.86..1.14  0.89..1.12       0.80..1.25  0.80..1.25
 *   slot table (below)  [exact]      0.89..1.10  0.87..1.12       0.81..1.20  0.83..1.20
 *
 * The ring's own share converges slowly (about 1/sqrt(points)); past that the spread is the
 * sample's: with 312 keys expected per group a count's standard deviation is 5.6% of even, so
 * even an exact mapping keeps 20,000 random keys within +/-15% over 64 groups only 139 times
 * in 200 samples, and over 128 groups 0 times in 200. So the table fixes what a mapping can:
 * each group owns exactly floor(SLOT_COUNT / groupCount) slots or one more, at 160 points per
 * group. Two more reasons to keep user keys away from `hashring.get`: it runs md5 per call
 * (the table lookup does 16 M lookups/s), and its LRU cache is a plain object keyed by the
 * key, so a key named `__proto__` writes to Object.prototype. The table is built from our own
 * slot names only.
 *
 * The group count is fixed at cluster creation, so consistent hashing's one virtue (few keys
 * move when groups are added) is not needed here; `hashring` gives a deterministic, well-known
 * spread of slots, and a quota per group (bounded loads) removes its imbalance.
 */
import HashRing from 'hashring';
import assert from 'node:assert/strict';
import type { GroupId } from '../raft/index.js';
import { crc16Bytes, crc16String } from './crc16.js';
import { routingKeyRange } from './hash-tag.js';
import { GROUP_COUNT_DEFAULT, checkGroupCount } from './limits.js';

/** SLOT_COUNT is the number of hash slots: the whole CRC16 range (Redis uses its low 14 bits). */
export const SLOT_COUNT = 65536;

/**
 * ROUTING_VERSION names the key -> group function: CRC16 slots, hashring 3.2.0 (pinned) with
 * md5 ketama points, the slot and group names below and the bounded-load fill. Any change to
 * these remaps keys, so it must bump this version; layouts carry it and refuse other versions.
 */
export const ROUTING_VERSION = 1;

/** GROUP_VNODES_MAX is ketama's 40 vnodes (160 points) per group, for small group counts. */
const GROUP_VNODES_MAX = 40;
/** GROUP_RING_VNODES_TOTAL caps the ring at about 4 x 16,384 points for large group counts. */
const GROUP_RING_VNODES_TOTAL = 16384;

/** hashSlot returns the slot, in [0, SLOT_COUNT), of a key's routing key. */
export function hashSlot(key: Uint8Array | string): number {
  const [start, end] = routingKeyRange(key);
  return typeof key === 'string' ? crc16String(key, start, end) : crc16Bytes(key, start, end);
}

/** GroupRing maps keys to data groups 1..groupCount (group 0 is kept for cluster metadata). */
export class GroupRing {
  /** groupCount is the number of data groups, fixed for the cluster's life. */
  readonly groupCount: number;
  /**
   * Invariant: every entry is a group id in [1, groupCount], and every group owns
   * floor(SLOT_COUNT / groupCount) or floor(SLOT_COUNT / groupCount) + 1 entries.
   */
  readonly #slotGroups: Uint16Array;

  /** The constructor builds the slot table (0.1-0.2 s; 0.5 s at 65,535 groups): build it once. */
  constructor(groupCount: number = GROUP_COUNT_DEFAULT) {
    checkGroupCount(groupCount);
    this.groupCount = groupCount;
    this.#slotGroups = buildSlotTable(groupCount);
  }

  /** groupOf returns the group that holds `key`: the group of its routing key's slot. */
  groupOf(key: Uint8Array | string): GroupId {
    return this.#slotGroups[hashSlot(key)]! as GroupId;
  }

  /** groupOfSlot returns the group that owns `slot`. */
  groupOfSlot(slot: number): GroupId {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) {
      throw new RangeError(`slot must be an integer in [0, ${SLOT_COUNT - 1}], got ${slot}`);
    }
    return this.#slotGroups[slot]! as GroupId;
  }

  /** slotTable returns a copy of the slot -> group table (for checksums and status pages). */
  slotTable(): Uint16Array {
    return this.#slotGroups.slice();
  }
}

/**
 * buildSlotTable assigns every slot to a group. First pass: the slot goes to the group that
 * `hashring` picks for the name `slot-<n>`, unless that group is full. Second pass: the
 * overflow slots (about 3.5% with 64 groups) fill the groups still below quota, in id order.
 * Quota: `floor(SLOT_COUNT / groupCount)`, and one more for the first `SLOT_COUNT % groupCount`
 * groups to reach it, so shares differ by at most one slot.
 */
function buildSlotTable(groupCount: number): Uint16Array {
  const ring = buildGroupHashRing(groupCount);
  const quota = new SlotQuota(groupCount);
  const table = new Uint16Array(SLOT_COUNT);
  const overflow: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const group = Number(ring.get(`slot-${slot}`).slice('group-'.length));
    if (quota.take(group)) table[slot] = group;
    else overflow.push(slot);
  }
  let group = 1;
  for (const slot of overflow) {
    while (!quota.take(group)) group++;
    table[slot] = group;
  }
  quota.assertFull();
  return table;
}

/**
 * buildGroupHashRing builds the ketama ring of `group-1` .. `group-<count>`. Each group gets
 * an explicit vnode count and the global one is 0: hashring otherwise computes
 * `floor(weight share * vnodes * servers)`, which float rounding makes one short for some
 * counts (7, 14, 28, ...). Vnodes shrink for large group counts to bound the build.
 */
function buildGroupHashRing(groupCount: number): HashRing {
  const vnodes = Math.max(
    1,
    Math.min(GROUP_VNODES_MAX, Math.floor(GROUP_RING_VNODES_TOTAL / groupCount)),
  );
  const servers: Record<string, { vnodes: number }> = {};
  for (let group = 1; group <= groupCount; group++) servers[`group-${group}`] = { vnodes };
  // A small cache: every slot name is looked up once, so caching only costs time.
  return new HashRing(servers, 'md5', { 'vnode count': 0, 'max cache size': 1 });
}

/** SlotQuota counts slots per group and says whether a group may take one more. */
class SlotQuota {
  readonly #loads: Uint32Array;
  readonly #base: number;
  /** Invariant: #extraTaken <= #extraAllowed; it counts groups holding #base + 1 slots. */
  #extraTaken = 0;
  readonly #extraAllowed: number;

  constructor(groupCount: number) {
    this.#loads = new Uint32Array(groupCount + 1);
    this.#base = Math.floor(SLOT_COUNT / groupCount);
    this.#extraAllowed = SLOT_COUNT % groupCount;
  }

  /** take records one more slot for `group` and returns true, or returns false if it is full. */
  take(group: number): boolean {
    assert.ok(group >= 1 && group < this.#loads.length, `group ${group} out of range`);
    const load = this.#loads[group]!;
    if (load < this.#base) {
      this.#loads[group] = load + 1;
      return true;
    }
    if (load === this.#base && this.#extraTaken < this.#extraAllowed) {
      this.#extraTaken++;
      this.#loads[group] = load + 1;
      return true;
    }
    return false;
  }

  /** assertFull checks the table's invariant once every slot is placed. */
  assertFull(): void {
    assert.equal(this.#extraTaken, this.#extraAllowed, 'extra slots handed out');
    for (let group = 1; group < this.#loads.length; group++) {
      const load = this.#loads[group]!;
      assert.ok(load === this.#base || load === this.#base + 1, `group ${group} owns ${load}`);
    }
  }
}
