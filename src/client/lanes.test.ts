// Proves the session lanes keep the store's session rule: no two writes in flight share a
// (client id, group); seqs of one (client id, group) strictly grow from 1; leases are bounded
// by laneMax and waiters are served FIFO; a lane whose session is unconfirmed is retired after a
// failure, and renew() restarts at seq 1 under a new id. Unit tests plus a fast-check model run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { GroupId } from '../raft/index.js';
import { LanePool, randomClientId, type LaneLease } from './lanes.js';

const g = (n: number): GroupId => n as GroupId;

/** counterIds returns ids 1, 2, 3, ... so tests can name them. */
function counterIds(): () => number {
  let next = 1;
  return () => next++;
}

describe('LanePool', () => {
  it('gives concurrent writes of one group different client ids, starting at seq 1', () => {
    const pool = new LanePool(8, counterIds());
    const a = pool.tryAcquire(g(1))!;
    const b = pool.tryAcquire(g(1))!;
    assert.notEqual(a.clientId, b.clientId);
    assert.deepEqual([a.seq, b.seq], [1, 1]);
    assert.equal(pool.laneCount, 2);
  });

  it('reuses a lane across groups, and its next seq after a confirmed write', () => {
    const pool = new LanePool(8, counterIds());
    const a = pool.tryAcquire(g(1))!;
    const other = pool.tryAcquire(g(2))!;
    assert.equal(other.clientId, a.clientId, 'a lane busy in group 1 is free in group 2');
    pool.release(a, true);
    const again = pool.tryAcquire(g(1))!;
    assert.deepEqual([again.clientId, again.seq], [a.clientId, 2]);
    pool.release(other, true);
    pool.release(again, true);
  });

  it('leaves a seq consumed after an indeterminate write on a confirmed lane', () => {
    const pool = new LanePool(1, counterIds());
    pool.release(pool.tryAcquire(g(1))!, true); // seq 1 confirmed the session
    const failed = pool.tryAcquire(g(1))!; // seq 2, ends indeterminate
    pool.release(failed, false);
    const next = pool.tryAcquire(g(1))!;
    assert.deepEqual([next.clientId, next.seq], [failed.clientId, 3]);
  });

  it('retires a lane whose first write in a group failed (the server may not know it)', () => {
    const pool = new LanePool(1, counterIds());
    const first = pool.tryAcquire(g(1))!;
    pool.release(first, false);
    const next = pool.tryAcquire(g(1))!;
    assert.notEqual(next.clientId, first.clientId);
    assert.equal(next.seq, 1);
  });

  it('retires a confirmed lane whose session the server lost', () => {
    const pool = new LanePool(1, counterIds());
    const first = pool.tryAcquire(g(1))!;
    pool.release(first, true);
    pool.release(pool.tryAcquire(g(1))!, false, true);
    const next = pool.tryAcquire(g(1))!;
    assert.deepEqual([next.clientId === first.clientId, next.seq], [false, 1]);
  });

  it('renew restarts the slot under a new client id at seq 1', () => {
    const pool = new LanePool(4, counterIds());
    const lease = pool.tryAcquire(g(3))!;
    const renewed = pool.renew(lease);
    assert.notEqual(renewed.clientId, lease.clientId);
    assert.equal(renewed.seq, 1);
    assert.equal(pool.leasedCount, 1);
    pool.release(renewed, true);
    assert.equal(pool.leasedCount, 0);
  });

  it('bounds lanes by laneMax and serves waiters in order', async () => {
    const pool = new LanePool(2, counterIds());
    const a = pool.tryAcquire(g(1))!;
    const b = pool.tryAcquire(g(1))!;
    assert.equal(pool.tryAcquire(g(1)), null);
    const order: number[] = [];
    const first = pool.acquire(g(1)).then((lease) => (order.push(1), lease));
    const second = pool.acquire(g(1)).then((lease) => (order.push(2), lease));
    pool.release(a, true);
    pool.release(b, true);
    const [x, y] = await Promise.all([first, second]);
    assert.deepEqual(order, [1, 2]);
    assert.deepEqual([x.clientId, x.seq], [a.clientId, 2]);
    assert.deepEqual([y.clientId, y.seq], [b.clientId, 2]);
    assert.equal(pool.laneCount, 2);
  });

  it('forgets a waiter that gave up', async () => {
    const pool = new LanePool(1, counterIds());
    const held = pool.tryAcquire(g(1))!;
    let cancel: (() => void) | undefined;
    let settled = false;
    void pool.acquire(g(1), (c) => (cancel = c)).then(() => (settled = true));
    cancel!();
    pool.release(held, true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    assert.equal(pool.tryAcquire(g(1))?.seq, 2, 'the lane went back to the free list');
  });

  it('refuses bad bounds and bad ids', () => {
    assert.throws(() => new LanePool(0), /laneMax must be an integer in \[1, 65536\], got 0/);
    assert.throws(() => new LanePool(2, () => 0).tryAcquire(g(1)), /client id must be/);
  });

  it('randomClientId stays within [1, 2^53 - 1]', () => {
    for (let i = 0; i < 1000; i++) {
      const id = randomClientId();
      assert.ok(Number.isSafeInteger(id) && id >= 1, `id ${id}`);
    }
  });

  it('never shares a (client id, group) in flight and grows seqs (model run)', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const), group: fc.integer({ min: 1, max: 3 }) }),
      fc.record({
        kind: fc.constant('release' as const),
        pick: fc.nat(),
        ok: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('renew' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(step, { maxLength: 200 }),
        (max, steps) => {
          const pool = new LanePool(max, counterIds());
          const held: LaneLease[] = [];
          const lastSeq = new Map<string, number>();
          const take = (lease: LaneLease): void => {
            const key = `${lease.clientId}/${lease.groupId}`;
            assert.ok(!held.some((h) => `${h.clientId}/${h.groupId}` === key), `${key} twice`);
            assert.ok(lease.seq > (lastSeq.get(key) ?? 0), `${key} seq ${lease.seq} not growing`);
            lastSeq.set(key, lease.seq);
            held.push(lease);
          };
          for (const s of steps) {
            if (s.kind === 'acquire') {
              const lease = pool.tryAcquire(g(s.group));
              const busy = held.filter((h) => h.groupId === s.group).length;
              assert.equal(lease === null, busy >= max, `busy ${busy} of ${max}`);
              if (lease) take(lease);
            } else if (held.length > 0) {
              const [lease] = held.splice(s.pick % held.length, 1);
              if (s.kind === 'release') pool.release(lease!, s.ok);
              else take(pool.renew(lease!));
            }
            assert.equal(pool.leasedCount, held.length);
            assert.ok(pool.laneCount <= max);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
