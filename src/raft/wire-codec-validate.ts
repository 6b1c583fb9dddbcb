/**
 * Validation of decoded Raft values, shared by the two decoders of the Raft wire format: the
 * generated protobufjs code (codec.ts) and the hand-rolled one (wire-codec.ts). Keeping one copy
 * of each check keeps the two decoders' verdicts, field paths and reasons identical.
 */
import { RaftError } from './errors.js';
import type { ConfState, NodeId } from './types.js';
import { uint64ToSafeNumber, type WireLong } from './wire-numbers.js';

/**
 * MessageDecodeError says bytes could not be decoded into a valid value: they are not protobuf
 * of the expected type, or a field holds a value the core does not accept. `field` is the path
 * of the offending field (for example `messages[2].entries[0].term`), empty when the bytes are
 * malformed as a whole. Peers can send anything, so callers drop the input and go on.
 */
export class MessageDecodeError extends RaftError {
  /** typeName is the protobuf message that was being decoded, for example 'MessageBatch'. */
  readonly typeName: string;
  /** field is the path of the offending field within typeName, '' for malformed bytes. */
  readonly field: string;
  /** reason says what is wrong with the field (or the bytes). */
  readonly reason: string;

  constructor(typeName: string, field: string, reason: string, options?: { cause?: unknown }) {
    super('MALFORMED', `cannot decode ${typeName}: ${field ? `${field}: ` : ''}${reason}`, options);
    this.typeName = typeName;
    this.field = field;
    this.reason = reason;
  }
}

/**
 * WireUint64 is a decoded uint64 before validation: a number when it is at most 2^53 - 1, else
 * its two 32-bit words (so that the error can print the exact value).
 */
export type WireUint64 = number | WireLong;

/** nested re-addresses a MessageDecodeError raised inside field `path` of typeName. */
export function nested(error: unknown, typeName: string, path: string): unknown {
  if (!(error instanceof MessageDecodeError)) return error;
  const field = error.field === '' ? path : `${path}.${error.field}`;
  return new MessageDecodeError(typeName, field, error.reason, { cause: error.cause });
}

/** toSafeNumber converts a decoded uint64 to a number, rejecting values above 2^53 - 1. */
export function toSafeNumber(
  value: WireUint64 | null | undefined,
  typeName: string,
  field: string,
): number {
  const result = uint64ToSafeNumber(value);
  if (typeof result === 'string') throw new MessageDecodeError(typeName, field, result);
  return result;
}

/** toEnum checks a decoded enum number against a TypeScript numeric enum's values. */
export function toEnum<E extends number>(
  value: number | null | undefined,
  names: Record<number, string | undefined>,
  typeName: string,
  field: string,
): E {
  const number = value ?? 0;
  if (typeof names[number] !== 'string') {
    throw new MessageDecodeError(typeName, field, `unknown enum value ${number}`);
  }
  return number as E;
}

/** confStateFromLists validates decoded member lists: ids non-zero, sorted, lists disjoint. */
export function confStateFromLists(
  wireVoters: readonly WireUint64[],
  wireLearners: readonly WireUint64[],
  typeName: string,
): ConfState {
  const voters = nodeIdsFromWire(wireVoters, typeName, 'voters');
  const learners = nodeIdsFromWire(wireLearners, typeName, 'learners');
  const shared = firstShared(voters, learners);
  if (shared !== undefined) {
    throw new MessageDecodeError(typeName, 'learners', `node ${shared} is also a voter`);
  }
  return { voters, learners };
}

/** nodeIdsFromWire validates a decoded list of member ids: non-zero, strictly ascending. */
function nodeIdsFromWire(values: readonly WireUint64[], typeName: string, field: string): NodeId[] {
  const ids: NodeId[] = [];
  for (let i = 0; i < values.length; i++) {
    const id = toSafeNumber(values[i], typeName, `${field}[${i}]`);
    if (id === 0) {
      throw new MessageDecodeError(typeName, `${field}[${i}]`, 'node id 0 means no node');
    }
    if (i > 0 && id <= ids[i - 1]) {
      throw new MessageDecodeError(typeName, `${field}[${i}]`, `${id} is not above ${ids[i - 1]}`);
    }
    ids.push(id as NodeId);
  }
  return ids;
}

/** firstShared returns the first id in both strictly ascending lists, or undefined. */
export function firstShared(left: readonly number[], right: readonly number[]): number | undefined {
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    if (left[i] === right[j]) return left[i];
    if (left[i] < right[j]) i++;
    else j++;
  }
  return undefined;
}
