/**
 * The client session table of one group, in memory: client id -> (last seq, index of the entry
 * that wrote it). The replies live in LevelDB only (see sm-records.ts); this table decides, for a
 * command with a session, whether it is new, a retry, stale, or from an expired session, and
 * which sessions to evict.
 *
 * Eviction is deterministic, because every replica must evict identically: its only inputs are
 * the log indexes of the entries applied and the two configured bounds. When a command with a
 * session is applied at index i:
 *   1. expiry: every session whose last write is more than `ttlIndexes` entries old
 *      (i - lastIndex > ttlIndexes) is removed;
 *   2. capacity: a new session is added only after the least recently written session (lowest
 *      lastIndex) is removed while the table holds `sessionsMax`.
 * No wall-clock time is involved, so a replica applying the same entries in other batches, or
 * after a restart or a snapshot restore, ends up with the same table.
 *
 * Invariant: the Map's iteration order is ascending lastIndex (an updated session is deleted and
 * re-inserted, and indexes only grow), so the least recently written session is the first.
 */
import { CorruptionError, assert } from '../raft/errors.js';
import type { Index } from '../raft/types.js';

/** SessionState is what the table keeps of a session. */
export interface SessionState {
  lastSeq: number;
  lastIndex: Index;
}

/** SessionTable is one group's bounded client session table. */
export class SessionTable {
  private readonly sessions = new Map<number, SessionState>();
  /** newestIndex is the highest lastIndex ever recorded (0 at first); writes must exceed it. */
  private newestIndex: Index = 0;
  /** sessionsMax bounds the table (>= 1). */
  readonly sessionsMax: number;
  /** ttlIndexes is how many log indexes a session may go unwritten before it expires. */
  readonly ttlIndexes: number;

  constructor(sessionsMax: number, ttlIndexes: number) {
    assert(sessionsMax >= 1 && ttlIndexes >= 1, () => `bounds ${sessionsMax}, ${ttlIndexes}`);
    this.sessionsMax = sessionsMax;
    this.ttlIndexes = ttlIndexes;
  }

  /**
   * SessionTable.load builds a table from stored sessions (any order); if there are more than
   * `sessionsMax` (the bound was lowered), the least recently written are returned as evicted.
   * Throws CorruptionError if two sessions claim the same index (one entry writes one session).
   */
  static load(
    stored: readonly (SessionState & { clientId: number })[],
    sessionsMax: number,
    ttlIndexes: number,
  ): { table: SessionTable; evicted: number[] } {
    const table = new SessionTable(sessionsMax, ttlIndexes);
    const sorted = [...stored].sort((a, b) => a.lastIndex - b.lastIndex);
    const evicted: number[] = [];
    for (let i = 0; i < sorted.length; i++) {
      const { clientId, lastSeq, lastIndex } = sorted[i];
      if (sorted.length - i > sessionsMax) {
        evicted.push(clientId);
        continue;
      }
      if (i > 0 && lastIndex === sorted[i - 1].lastIndex) {
        throw new CorruptionError(
          `sessions of clients ${clientId} and ${sorted[i - 1].clientId} both at ${lastIndex}`,
        );
      }
      table.sessions.set(clientId, { lastSeq, lastIndex });
      table.newestIndex = lastIndex;
    }
    return { table, evicted };
  }

  /** size is the number of sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** get returns a client's session, or undefined. */
  get(clientId: number): SessionState | undefined {
    return this.sessions.get(clientId);
  }

  /** expire removes the sessions too old at index `index` and returns their client ids. */
  expire(index: Index): number[] {
    const expired: number[] = [];
    for (const [clientId, session] of this.sessions) {
      if (index - session.lastIndex <= this.ttlIndexes) break; // ascending lastIndex
      expired.push(clientId);
    }
    for (const clientId of expired) this.sessions.delete(clientId);
    return expired;
  }

  /**
   * record stores `clientId`'s write of `seq` at `index`; for a new session it first evicts the
   * least recently written while the table is full, returning the evicted client ids.
   */
  record(clientId: number, seq: number, index: Index): number[] {
    const evicted: number[] = [];
    const existing = this.sessions.get(clientId);
    if (existing !== undefined) {
      assert(
        seq > existing.lastSeq,
        () => `client ${clientId}: seq ${seq} after ${existing.lastSeq}`,
      );
      this.sessions.delete(clientId);
    } else {
      for (const [oldest] of this.sessions) {
        if (this.sessions.size < this.sessionsMax) break;
        this.sessions.delete(oldest);
        evicted.push(oldest);
      }
    }
    const newest = this.newestIndex;
    assert(index > newest, () => `session write at ${index} is not after ${newest}`);
    this.sessions.set(clientId, { lastSeq: seq, lastIndex: index });
    this.newestIndex = index;
    return evicted;
  }
}
