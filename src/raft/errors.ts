/**
 * Expected failures of the Raft core, as typed classes with a stable `code` (mapped to gRPC
 * status codes at the edge). Broken invariants are not errors: they are `assert` failures.
 */
import type { NodeId } from './types.js';

/** RaftError is the base of every expected failure raised by the core. */
export class RaftError extends Error {
  /** code is stable across versions; callers switch on it, never on the message. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** NotLeaderError says a proposal or read reached a replica that is not the leader. */
export class NotLeaderError extends RaftError {
  /** leaderHint is the leader this replica believes in, or 0 when it knows none. */
  readonly leaderHint: NodeId;
  constructor(leaderHint: NodeId) {
    super('NOT_LEADER', `not the leader (leader hint: ${leaderHint || 'unknown'})`);
    this.leaderHint = leaderHint;
  }
}

/** ProposalDroppedError says the core refused a proposal (transfer in progress, limits, ...). */
export class ProposalDroppedError extends RaftError {
  constructor(reason: string) {
    super('PROPOSAL_DROPPED', `proposal dropped: ${reason}`);
  }
}

/** CompactedError says the requested index is below the first index kept in storage. */
export class CompactedError extends RaftError {
  constructor(index: number, firstIndex: number) {
    super('COMPACTED', `index ${index} is compacted (first index ${firstIndex})`);
  }
}

/** UnavailableError says the requested index is past the last index in storage. */
export class UnavailableError extends RaftError {
  constructor(index: number, lastIndex: number) {
    super('UNAVAILABLE', `index ${index} is not yet available (last index ${lastIndex})`);
  }
}

/** SnapshotOutOfDateError says a snapshot older than the one in storage was offered. */
export class SnapshotOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super(
      'SNAPSHOT_OUT_OF_DATE',
      `snapshot at ${index} is older than the stored one at ${current}`,
    );
  }
}

/** ConfigError says a configuration value is invalid; the message names value and range. */
export class ConfigError extends RaftError {
  constructor(message: string) {
    super('INVALID_CONFIG', message);
  }
}

/** CorruptionError says persisted data failed its checksum or decoding; names where it lies. */
export class CorruptionError extends RaftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CORRUPTION', message, options);
  }
}

/** AssertionFailure marks a broken invariant. It is thrown by `assert` and never caught. */
export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'AssertionFailure';
  }
}

/** assert stops the process (by throwing AssertionFailure) when an invariant does not hold. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionFailure(typeof message === 'function' ? message() : message);
  }
}
