/**
 * ReadIndex bookkeeping at the leader. Reads that arrive together are batched into one round:
 * the round records the commit index at its start and is confirmed by one heartbeat broadcast;
 * when a quorum acknowledges it, that round and every earlier round are released (a quorum that
 * confirms leadership now also confirms it for every read that was waiting before).
 */
import type { Index, NodeId } from './types.js';

/** ReadRequest is one readIndex call: who asked (self or a follower) and its context. */
export interface ReadRequest {
  from: NodeId;
  context: Uint8Array;
}

/** ReadRound is one heartbeat round confirming leadership for a batch of reads. */
export interface ReadRound {
  id: number;
  index: Index;
  requests: ReadRequest[];
  acks: Set<NodeId>;
}

/** ReadOnly tracks the rounds in flight in FIFO order, plus the batch being gathered. */
export class ReadOnly {
  private rounds: ReadRound[] = [];
  private gathering: ReadRequest[] = [];
  private nextRoundId = 1;

  /** add queues a read for the next round. */
  add(request: ReadRequest): void {
    this.gathering.push(request);
  }

  /** hasGathering tells whether reads wait for a round to be started. */
  hasGathering(): boolean {
    return this.gathering.length > 0;
  }

  /** startRound turns the gathered reads into a round at commit index `index`. */
  startRound(index: Index): ReadRound {
    const round: ReadRound = {
      id: this.nextRoundId++,
      index,
      requests: this.gathering,
      acks: new Set(),
    };
    this.gathering = [];
    this.rounds.push(round);
    return round;
  }

  /**
   * ack records that `from` confirmed round `id`; returns the rounds released (this one and
   * all earlier ones) once `isQuorum(acks)` holds, else an empty list.
   */
  ack(id: number, from: NodeId, isQuorum: (acks: Set<NodeId>) => boolean): ReadRound[] {
    const position = this.rounds.findIndex((round) => round.id === id);
    if (position < 0) return [];
    const round = this.rounds[position];
    round.acks.add(from);
    if (!isQuorum(round.acks)) return [];
    return this.rounds.splice(0, position + 1);
  }

  /**
   * newestRoundId is the id of the newest round in flight, or null. Regular heartbeats carry
   * it, so a round whose own heartbeats were lost is still confirmed (an ack of a newer round
   * releases every older one).
   */
  newestRoundId(): number | null {
    return this.rounds.length > 0 ? this.rounds[this.rounds.length - 1].id : null;
  }

  /** pendingCount is the number of reads waiting (gathering or in a round). */
  pendingCount(): number {
    let count = this.gathering.length;
    for (const round of this.rounds) count += round.requests.length;
    return count;
  }

  /** reset drops every pending read (leadership changed; callers time out and retry). */
  reset(): void {
    this.rounds = [];
    this.gathering = [];
  }
}

/** encodeRoundId writes a round id as 8 bytes (the heartbeat context). */
export function encodeRoundId(id: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, id);
  return bytes;
}

/** decodeRoundId reads a round id from a heartbeat context, or null when it is not one. */
export function decodeRoundId(context: Uint8Array): number | null {
  if (context.byteLength !== 8) return null;
  const id = new DataView(context.buffer, context.byteOffset, 8).getFloat64(0);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}
