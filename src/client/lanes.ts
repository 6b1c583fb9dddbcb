/**
 * LanePool hands out client sessions ("lanes") for pipelined writes. A store node keeps only
 * the LAST seq's reply per (client id, group), so a client must not send a second write under
 * one client id in one group before the first is answered; a pipelining client therefore uses
 * many ids. A lane is a random non-zero 53-bit client id with a next seq per group; a write
 * leases a lane that is free in its group, and keeps that (client id, seq) for every retry.
 *
 * Seqs are consumed when leased, so a write that ended indeterminate leaves a gap and the next
 * write on the lane uses seq + 1 (gaps are allowed for a known session). A server only knows a
 * session after a write in it applied, and refuses seq > 1 for an unknown one
 * (SESSION_EXPIRED); so a lane whose write failed before its session was confirmed in that group
 * is retired and its slot gets a new client id. Pure: no I/O, ids come from `randomId`.
 */
import type { GroupId } from '../raft/index.js';

/** LANE_MAX_DEFAULT bounds the lanes of one client (its writes in flight per group). */
export const LANE_MAX_DEFAULT = 1024;
/** LANE_MAX_LIMIT is the largest laneMax accepted. */
export const LANE_MAX_LIMIT = 65_536;
/** CLIENT_ID_MAX is the largest client id (2^53 - 1: exact in a JavaScript number). */
export const CLIENT_ID_MAX = Number.MAX_SAFE_INTEGER;

/** Lane is one client session: a client id and the next seq it will use in each group. */
interface Lane {
  readonly clientId: number;
  readonly nextSeq: Map<GroupId, number>;
  /** confirmed holds the groups in which a write of this lane succeeded (session exists). */
  readonly confirmed: Set<GroupId>;
}

/** LaneLease is one write's hold on a lane in one group: the session it sends with. */
export interface LaneLease {
  readonly groupId: GroupId;
  readonly clientId: number;
  readonly seq: number;
  /** slot is the lane's index in the pool. */
  readonly slot: number;
  /** lane is the lane object leased (a retired slot holds a new one). */
  readonly lane: object;
}

/** LaneWaiter is an acquire waiting for a lane of its group to be released. */
interface LaneWaiter {
  resolve(lease: LaneLease): void;
}

/** randomClientId returns a uniformly random id in [1, 2^53 - 1] from Math.random. */
export function randomClientId(): number {
  const high = Math.floor(Math.random() * 0x20_0000); // 21 bits
  const low = Math.floor(Math.random() * 0x1_0000_0000); // 32 bits
  const id = high * 0x1_0000_0000 + low;
  return id === 0 ? 1 : id;
}

/** LanePool leases lanes per group, creating up to laneMax of them, then queueing. */
export class LanePool {
  /** laneMax bounds the lanes (and so the writes in flight per group). */
  readonly laneMax: number;
  readonly #randomId: () => number;
  /** Invariant: lanes.length <= laneMax; slots never move. */
  readonly #lanes: Lane[] = [];
  /** free[g] holds slots < cursor[g] that are free in group g. */
  readonly #free = new Map<GroupId, number[]>();
  /** cursor[g]: slots >= cursor[g] were never leased in group g, so they are free in it. */
  readonly #cursor = new Map<GroupId, number>();
  readonly #waiters = new Map<GroupId, LaneWaiter[]>();
  /** Invariant: leased counts leases not yet released. */
  #leased = 0;

  constructor(laneMax: number = LANE_MAX_DEFAULT, randomId: () => number = randomClientId) {
    if (!Number.isSafeInteger(laneMax) || laneMax < 1 || laneMax > LANE_MAX_LIMIT) {
      throw new RangeError(`laneMax must be an integer in [1, ${LANE_MAX_LIMIT}], got ${laneMax}`);
    }
    this.laneMax = laneMax;
    this.#randomId = randomId;
  }

  /** laneCount is the number of lanes created so far. */
  get laneCount(): number {
    return this.#lanes.length;
  }

  /** leasedCount is the number of leases held. */
  get leasedCount(): number {
    return this.#leased;
  }

  /** tryAcquire leases a lane free in `groupId`, or returns null when all laneMax are busy. */
  tryAcquire(groupId: GroupId): LaneLease | null {
    const slot = this.#freeSlot(groupId);
    if (slot < 0) return null;
    this.#leased++;
    return this.#lease(slot, groupId);
  }

  /**
   * acquire leases a lane free in `groupId`, waiting (FIFO per group) for a release when all
   * are busy. `abandon` is called with a cancel function the caller runs when it gives up.
   */
  acquire(groupId: GroupId, abandon?: (cancel: () => void) => void): Promise<LaneLease> {
    const lease = this.tryAcquire(groupId);
    if (lease) return Promise.resolve(lease);
    return new Promise((resolve) => {
      const waiter: LaneWaiter = { resolve };
      let queue = this.#waiters.get(groupId);
      if (!queue) this.#waiters.set(groupId, (queue = []));
      queue.push(waiter);
      abandon?.(() => {
        const waiting = this.#waiters.get(groupId);
        const at = waiting ? waiting.indexOf(waiter) : -1;
        if (at >= 0) waiting!.splice(at, 1);
      });
    });
  }

  /**
   * release ends a lease. `succeeded` says the write got a definite answer from the state
   * machine (its session now exists); a lease that failed in a group where the lane's session
   * was never confirmed retires the lane: its slot gets a new client id (see the file comment).
   * `sessionLost` (the server said STALE_SEQ or SESSION_EXPIRED) retires it in any case.
   */
  release(lease: LaneLease, succeeded: boolean, sessionLost = false): void {
    if (this.#leased <= 0) throw new Error('LanePool.release without a lease');
    this.#leased--;
    const lane = this.#lanes[lease.slot]!;
    if (lane === lease.lane) {
      if (succeeded) lane.confirmed.add(lease.groupId);
      if (sessionLost || !lane.confirmed.has(lease.groupId)) this.#retireSlot(lease.slot);
    }
    const waiter = this.#waiters.get(lease.groupId)?.shift();
    if (waiter) {
      this.#leased++;
      waiter.resolve(this.#lease(lease.slot, lease.groupId));
      return;
    }
    let free = this.#free.get(lease.groupId);
    if (!free) this.#free.set(lease.groupId, (free = []));
    free.push(lease.slot);
  }

  /**
   * renew gives up a lease whose session the server lost (SESSION_EXPIRED or STALE_SEQ on a
   * write never sent before): the lane is retired and the same slot is leased again under its
   * new client id, at seq 1.
   */
  renew(lease: LaneLease): LaneLease {
    if (this.#lanes[lease.slot] === lease.lane) this.#retireSlot(lease.slot);
    return this.#lease(lease.slot, lease.groupId);
  }

  #freeSlot(groupId: GroupId): number {
    const free = this.#free.get(groupId);
    if (free && free.length > 0) return free.pop()!;
    const cursor = this.#cursor.get(groupId) ?? 0;
    if (cursor < this.#lanes.length) {
      this.#cursor.set(groupId, cursor + 1);
      return cursor;
    }
    if (this.#lanes.length >= this.laneMax) return -1;
    this.#lanes.push(this.#newLane());
    this.#cursor.set(groupId, cursor + 1);
    return cursor;
  }

  /** #lease takes the next seq of the slot's lane in the group (callers count leases). */
  #lease(slot: number, groupId: GroupId): LaneLease {
    const lane = this.#lanes[slot]!;
    const seq = lane.nextSeq.get(groupId) ?? 1;
    lane.nextSeq.set(groupId, seq + 1);
    return { groupId, clientId: lane.clientId, seq, slot, lane };
  }

  #retireSlot(slot: number): void {
    this.#lanes[slot] = this.#newLane();
  }

  #newLane(): Lane {
    const clientId = this.#randomId();
    if (!Number.isSafeInteger(clientId) || clientId < 1) {
      throw new RangeError(`client id must be an integer in [1, 2^53 - 1], got ${clientId}`);
    }
    return { clientId, nextSeq: new Map(), confirmed: new Set() };
  }
}
