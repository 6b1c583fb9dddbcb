/**
 * Expected failures of the KV API and its state machine: typed classes with a stable `code`
 * (callers switch on it, never on the message), mapped to gRPC status codes by the server:
 *   MALFORMED            bytes that are not a valid message (INVALID_ARGUMENT on the wire)
 *   INVALID_ARGUMENT     a well-formed request breaking a rule or a size limit (`limit` names it)
 *   RESOURCE_EXHAUSTED   a request or its answer too big for a limit (`limit` names it)
 *   STALE_SEQ            a session write older than the session's last one (FAILED_PRECONDITION)
 *   SESSION_EXPIRED      a session write whose session was evicted (FAILED_PRECONDITION)
 *   FAILED_PRECONDITION  a call out of order (snapshot chunks, restore of an older index)
 *   RESTORING            a group is being restored from a snapshot (UNAVAILABLE)
 * Stream tasks (docs/stream-tasks.md), all FAILED_PRECONDITION on the wire:
 *   FENCED               a commit or stage from an epoch older than the task's (a newer owner)
 *   TASK_NOT_ACQUIRED    an epoch the task never handed out (newer than its epoch)
 *   SEQ_OUT_OF_ORDER     a commit or stage whose seq is neither the last one nor the next
 *   OFFSETS_BACKWARDS    a commit moving a partition's next offset back (refused, no change)
 *   STAGE_MISSING        a commit promoting a staged chunk that is not there
 * Broken invariants are not KvErrors: they are `assert` failures (../raft/errors.js).
 */
import type { NodeId } from '../raft/types.js';
import type { ErrorStatus } from './kv-types.js';

/** KvErrorCode is the stable code of a KvError. */
export type KvErrorCode =
  | 'MALFORMED'
  | 'INVALID_ARGUMENT'
  | 'RESOURCE_EXHAUSTED'
  | 'STALE_SEQ'
  | 'SESSION_EXPIRED'
  | 'FAILED_PRECONDITION'
  | 'RESTORING'
  | 'FENCED'
  | 'TASK_NOT_ACQUIRED'
  | 'SEQ_OUT_OF_ORDER'
  | 'OFFSETS_BACKWARDS'
  | 'STAGE_MISSING';

/** KvError is the base of every expected failure of the KV layer. */
export class KvError extends Error {
  /** code is stable across versions. Errors read back from the wire may carry other codes. */
  readonly code: KvErrorCode | (string & {});
  /** limit names the LIMITS entry that was exceeded ('' if none). */
  readonly limit: string;
  constructor(
    code: KvErrorCode | (string & {}),
    message: string,
    options?: { cause?: unknown; limit?: string },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.limit = options?.limit ?? '';
  }
}

/**
 * MalformedError says bytes could not be decoded into a valid message: not protobuf of the
 * expected type, or a field holds a value the store does not accept. `field` is the path of the
 * offending field (for example `success[2].put.key`), '' when the bytes are malformed as a whole.
 */
export class MalformedError extends KvError {
  /** typeName is the protobuf message being decoded, for example 'Command'. */
  readonly typeName: string;
  /** field is the path of the offending field within typeName. */
  readonly field: string;
  /** reason says what is wrong. */
  readonly reason: string;
  constructor(typeName: string, field: string, reason: string, options?: { cause?: unknown }) {
    super('MALFORMED', `cannot decode ${typeName}: ${field ? `${field}: ` : ''}${reason}`, options);
    this.typeName = typeName;
    this.field = field;
    this.reason = reason;
  }
}

/** LimitError says a value exceeds the limit `limit` (a LIMITS key): value and maximum given. */
export class LimitError extends KvError {
  /** value is the offending size or count. */
  readonly value: number;
  /** max is the limit's value. */
  readonly max: number;
  constructor(
    code: 'INVALID_ARGUMENT' | 'RESOURCE_EXHAUSTED',
    limit: string,
    what: string,
    value: number,
    max: number,
  ) {
    super(code, `${what} is ${value}, above the limit ${limit} = ${max}`, { limit });
    this.value = value;
    this.max = max;
  }
}

/** errorStatus converts a KvError into its wire form (for sessions and the server). */
export function errorStatus(error: KvError): ErrorStatus {
  return {
    code: error.code,
    message: error.message,
    limit: error.limit,
    leaderId: 0 as NodeId,
    epoch: 0,
  };
}

/** kvErrorFromStatus rebuilds a KvError (same code, message and limit) from its wire form. */
export function kvErrorFromStatus(status: ErrorStatus): KvError {
  return new KvError(status.code, status.message, { limit: status.limit });
}
