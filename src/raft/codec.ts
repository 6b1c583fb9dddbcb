/**
 * Codec of the Raft core: its plain types (types.ts) to and from protobuf (proto/raft.proto).
 * Message and MessageBatch, the peer hot path, go through the hand-rolled codec of
 * wire-codec.ts (no Long per uint64, no intermediate wire object); every other type goes
 * through the static code pbjs generates into ./gen (`npm run gen:proto`). Static code was
 * measured against runtime reflection in bench/codec.ts and kept: never slower, no load time,
 * no run-time code generation.
 *
 * Decoding is an edge, so every decoded value is validated here, once: uint64 fields must be
 * safe integers (at most 2^53 - 1), enums known values, a ConfState's voters and learners
 * non-zero, sorted and disjoint. Any failure, including bytes that are not protobuf at all,
 * throws MessageDecodeError naming the field; no other error escapes a decode function. Decoded
 * byte fields never alias the caller's buffer (the input is copied once), are plain Uint8Arrays,
 * and are the shared EMPTY_BYTES when empty. Unknown fields are skipped (forward compatibility).
 *
 * Encoding trusts its typed input but checks numbers cheaply: a value that cannot be encoded
 * (negative, fractional, unsafe, unknown enum) is a caller bug and fails an assertion.
 * The encoded bytes may be a Node Buffer (a Uint8Array) viewing a shared pool.
 */
import { AssertionFailure } from './errors.js';
import { asWire } from './wire-numbers.js';
import { strata } from './gen/raft.js';
import type { strata as pb } from './gen/raft-types.js';
import {
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type GroupId,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js';
import {
  decodeMessageBatchDirect,
  decodeMessageDirect,
  encodeMessageBatchDirect,
  encodeMessageDirect,
} from './wire-codec.js';
import {
  MessageDecodeError,
  confStateFromLists,
  firstShared,
  nested,
  toEnum,
  toSafeNumber,
} from './wire-codec-validate.js';

export { MessageDecodeError };

const wire = strata.raft;

/** encodeMessage encodes one message (local event types included; the core never sends them). */
export function encodeMessage(message: Message): Uint8Array {
  checkMessage(message, 'message');
  return encodeMessageDirect(message);
}

/** decodeMessage decodes and validates one message; throws MessageDecodeError. */
export function decodeMessage(bytes: Uint8Array): Message {
  return decodeMessageDirect(bytes);
}

/** encodeMessageBatch encodes messages (of any groups) as one MessageBatch, in order. */
export function encodeMessageBatch(messages: readonly Message[]): Uint8Array {
  for (let i = 0; i < messages.length; i++) checkMessage(messages[i], 'messages[]');
  return encodeMessageBatchDirect(messages);
}

/** decodeMessageBatch decodes and validates a MessageBatch; throws MessageDecodeError. */
export function decodeMessageBatch(bytes: Uint8Array): Message[] {
  return decodeMessageBatchDirect(bytes);
}

// The four functions below are the generated-code path that the four above used before
// wire-codec.ts: kept, with the same contracts, as the reference that wire-codec.test.ts checks
// the hand-rolled codec against and bench/codec.ts measures it against. Not for production.

/** encodeMessageGenerated is encodeMessage through the generated code (reference only). */
export function encodeMessageGenerated(message: Message): Uint8Array {
  checkMessage(message, 'message');
  return wire.Message.encode(asWire(message)).finish();
}

/** decodeMessageGenerated is decodeMessage through the generated code (reference only). */
export function decodeMessageGenerated(bytes: Uint8Array): Message {
  const decoded = decodeWire('Message', bytes, decodeWireMessage);
  return messageFromWire(decoded, 'Message');
}

/** encodeMessageBatchGenerated is encodeMessageBatch through the generated code (reference). */
export function encodeMessageBatchGenerated(messages: readonly Message[]): Uint8Array {
  for (let i = 0; i < messages.length; i++) checkMessage(messages[i], 'messages[]');
  return wire.MessageBatch.encode(asWire({ messages })).finish();
}

/** decodeMessageBatchGenerated is decodeMessageBatch through the generated code (reference). */
export function decodeMessageBatchGenerated(bytes: Uint8Array): Message[] {
  const decoded = decodeWire('MessageBatch', bytes, decodeWireBatch);
  const messages: Message[] = [];
  for (let i = 0; i < decoded.messages.length; i++) {
    try {
      messages.push(messageFromWire(decoded.messages[i], 'Message'));
    } catch (error) {
      throw nested(error, 'MessageBatch', `messages[${i}]`);
    }
  }
  return messages;
}

/** encodeEntry encodes one log entry (for example for a log store). */
export function encodeEntry(entry: Entry): Uint8Array {
  checkEntry(entry, 'entry');
  return wire.Entry.encode(asWire(entry)).finish();
}

/** decodeEntry decodes and validates one log entry; throws MessageDecodeError. */
export function decodeEntry(bytes: Uint8Array): Entry {
  return entryFromWire(decodeWire('Entry', bytes, decodeWireEntry), 'Entry');
}

/** encodeHardState encodes a hard state (term, vote, commit). */
export function encodeHardState(hardState: HardState): Uint8Array {
  checkUint64(hardState.term, 'hardState', 'term');
  checkUint64(hardState.vote, 'hardState', 'vote');
  checkUint64(hardState.commit, 'hardState', 'commit');
  return wire.HardState.encode(hardState).finish();
}

/** decodeHardState decodes and validates a hard state; throws MessageDecodeError. */
export function decodeHardState(bytes: Uint8Array): HardState {
  const decoded = decodeWire('HardState', bytes, decodeWireHardState);
  return {
    term: toSafeNumber(decoded.term, 'HardState', 'term'),
    vote: toSafeNumber(decoded.vote, 'HardState', 'vote') as NodeId,
    commit: toSafeNumber(decoded.commit, 'HardState', 'commit'),
  };
}

/** encodeConfState encodes a membership (voters and learners non-zero, sorted, disjoint). */
export function encodeConfState(confState: ConfState): Uint8Array {
  checkConfState(confState, 'confState');
  return wire.ConfState.encode(confState).finish();
}

/** decodeConfState decodes and validates a membership; throws MessageDecodeError. */
export function decodeConfState(bytes: Uint8Array): ConfState {
  return confStateFromWire(decodeWire('ConfState', bytes, decodeWireConfState), 'ConfState');
}

/** encodeConfChange encodes a membership change (the data of a ConfChange entry). */
export function encodeConfChange(confChange: ConfChange): Uint8Array {
  checkEnum(confChange.type, ConfChangeType, 'confChange', 'type');
  checkNodeId(confChange.nodeId, 'confChange', 'nodeId');
  return wire.ConfChange.encode(asWire(confChange)).finish();
}

/** decodeConfChange decodes and validates a membership change; throws MessageDecodeError. */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const decoded = decodeWire('ConfChange', bytes, decodeWireConfChange);
  const id = toSafeNumber(decoded.nodeId, 'ConfChange', 'nodeId');
  if (id === 0) throw new MessageDecodeError('ConfChange', 'nodeId', 'node id 0 means no node');
  return {
    type: toEnum(decoded.type, ConfChangeType, 'ConfChange', 'type'),
    nodeId: id as NodeId,
    context: bytesFromWire(decoded.context),
  };
}

/** encodeSnapshotMetadata encodes a snapshot's index, term and membership. */
export function encodeSnapshotMetadata(metadata: SnapshotMetadata): Uint8Array {
  checkSnapshotMetadata(metadata, 'metadata');
  return wire.SnapshotMetadata.encode(metadata).finish();
}

/** decodeSnapshotMetadata decodes and validates snapshot metadata; throws MessageDecodeError. */
export function decodeSnapshotMetadata(bytes: Uint8Array): SnapshotMetadata {
  const decoded = decodeWire('SnapshotMetadata', bytes, decodeWireMetadata);
  return metadataFromWire(decoded, 'SnapshotMetadata');
}

/** encodeSnapshot encodes a whole snapshot (metadata and the opaque data). */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  checkSnapshotMetadata(snapshot.metadata, 'snapshot.metadata');
  return wire.Snapshot.encode(snapshot).finish();
}

/** decodeSnapshot decodes and validates a whole snapshot; throws MessageDecodeError. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return snapshotFromWire(decodeWire('Snapshot', bytes, decodeWireSnapshot), 'Snapshot');
}

/**
 * SnapshotChunk is one frame of the peer Snapshot stream: the first carries `message` (the
 * SNAPSHOT message, snapshot data empty) and `imageBytes`; later ones carry `data` at `offset`.
 */
export interface SnapshotChunk {
  message: Message | null;
  offset: number;
  data: Uint8Array;
  last: boolean;
  imageBytes: number;
}

/** SnapshotAck answers the Snapshot stream (see proto/raft.proto). */
export interface SnapshotAck {
  resumeOffset: number;
  done: boolean;
  error: string;
}

/** encodeSnapshotChunk encodes one frame of a snapshot stream. */
export function encodeSnapshotChunk(chunk: SnapshotChunk): Uint8Array {
  if (chunk.message) checkMessage(chunk.message, 'chunk.message');
  checkUint64(chunk.offset, 'chunk', 'offset');
  checkUint64(chunk.imageBytes, 'chunk', 'imageBytes');
  return wire.SnapshotChunk.encode(asWire(chunk)).finish();
}

/** decodeSnapshotChunk decodes and validates one snapshot frame; throws MessageDecodeError. */
export function decodeSnapshotChunk(bytes: Uint8Array): SnapshotChunk {
  const decoded = decodeWire('SnapshotChunk', bytes, (b) => wire.SnapshotChunk.decode(b));
  let message: Message | null = null;
  if (decoded.message != null) {
    try {
      message = messageFromWire(decoded.message, 'Message');
    } catch (error) {
      throw nested(error, 'SnapshotChunk', 'message');
    }
  }
  return {
    message,
    offset: toSafeNumber(decoded.offset, 'SnapshotChunk', 'offset'),
    data: bytesFromWire(decoded.data),
    last: decoded.last === true,
    imageBytes: toSafeNumber(decoded.imageBytes, 'SnapshotChunk', 'imageBytes'),
  };
}

/** encodeSnapshotAck encodes an answer on a snapshot stream. */
export function encodeSnapshotAck(ack: SnapshotAck): Uint8Array {
  checkUint64(ack.resumeOffset, 'ack', 'resumeOffset');
  return wire.SnapshotAck.encode(ack).finish();
}

/** decodeSnapshotAck decodes an answer on a snapshot stream; throws MessageDecodeError. */
export function decodeSnapshotAck(bytes: Uint8Array): SnapshotAck {
  const decoded = decodeWire('SnapshotAck', bytes, (b) => wire.SnapshotAck.decode(b));
  return {
    resumeOffset: toSafeNumber(decoded.resumeOffset, 'SnapshotAck', 'resumeOffset'),
    done: decoded.done === true,
    error: decoded.error ?? '',
  };
}

/** encodeStreamEnd encodes the answer that closes a Raft stream ('' = no error). */
export function encodeStreamEnd(error: string): Uint8Array {
  return wire.StreamEnd.encode({ error }).finish();
}

/** decodeStreamEnd decodes the answer that closes a Raft stream; throws MessageDecodeError. */
export function decodeStreamEnd(bytes: Uint8Array): string {
  return decodeWire('StreamEnd', bytes, (b) => wire.StreamEnd.decode(b)).error ?? '';
}

// ---- Decoding: wire objects to validated plain values ----

// The generated decoders, bound once (they do not use `this`, but stay called as methods).
const decodeWireMessage = (bytes: Uint8Array) => wire.Message.decode(bytes);
const decodeWireBatch = (bytes: Uint8Array) => wire.MessageBatch.decode(bytes);
const decodeWireEntry = (bytes: Uint8Array) => wire.Entry.decode(bytes);
const decodeWireHardState = (bytes: Uint8Array) => wire.HardState.decode(bytes);
const decodeWireConfState = (bytes: Uint8Array) => wire.ConfState.decode(bytes);
const decodeWireConfChange = (bytes: Uint8Array) => wire.ConfChange.decode(bytes);
const decodeWireMetadata = (bytes: Uint8Array) => wire.SnapshotMetadata.decode(bytes);
const decodeWireSnapshot = (bytes: Uint8Array) => wire.Snapshot.decode(bytes);

/**
 * decodeWire runs a generated decoder on a private copy of `bytes` (so decoded byte fields do
 * not alias, or pin, the caller's buffer, and are plain Uint8Arrays rather than Buffers) and
 * turns whatever it throws into a MessageDecodeError.
 */
function decodeWire<T>(typeName: string, bytes: Uint8Array, decode: (bytes: Uint8Array) => T): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new MessageDecodeError(typeName, '', `expected a Uint8Array, got ${typeof bytes}`);
  }
  try {
    return decode(new Uint8Array(bytes));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new MessageDecodeError(typeName, '', `malformed protobuf (${detail})`, { cause: error });
  }
}

/** bytesFromWire returns decoded bytes, or the shared EMPTY_BYTES when there are none. */
function bytesFromWire(value: Uint8Array | null | undefined): Uint8Array {
  return value == null || value.length === 0 ? EMPTY_BYTES : value;
}

/** messageFromWire validates a decoded Message into a complete Message. */
function messageFromWire(decoded: pb.raft.Message.$Properties, typeName: string): Message {
  const wireEntries = decoded.entries ?? [];
  const entries: Entry[] = [];
  for (let i = 0; i < wireEntries.length; i++) {
    try {
      entries.push(entryFromWire(wireEntries[i], 'Entry'));
    } catch (error) {
      throw nested(error, typeName, `entries[${i}]`);
    }
  }
  let snapshot: Snapshot | null = null;
  if (decoded.snapshot != null) {
    try {
      snapshot = snapshotFromWire(decoded.snapshot, 'Snapshot');
    } catch (error) {
      throw nested(error, typeName, 'snapshot');
    }
  }
  return {
    type: toEnum(decoded.type, MessageType, typeName, 'type'),
    groupId: (decoded.groupId ?? 0) as GroupId, // uint32 on the wire: always safe
    from: toSafeNumber(decoded.from, typeName, 'from') as NodeId,
    to: toSafeNumber(decoded.to, typeName, 'to') as NodeId,
    term: toSafeNumber(decoded.term, typeName, 'term'),
    logTerm: toSafeNumber(decoded.logTerm, typeName, 'logTerm'),
    index: toSafeNumber(decoded.index, typeName, 'index'),
    entries,
    commit: toSafeNumber(decoded.commit, typeName, 'commit'),
    reject: decoded.reject === true,
    rejectHint: toSafeNumber(decoded.rejectHint, typeName, 'rejectHint'),
    snapshot,
    context: bytesFromWire(decoded.context),
  };
}

/** entryFromWire validates a decoded Entry. Term and index 0 are allowed (dummy entries). */
function entryFromWire(decoded: pb.raft.Entry.$Properties, typeName: string): Entry {
  return {
    term: toSafeNumber(decoded.term, typeName, 'term'),
    index: toSafeNumber(decoded.index, typeName, 'index'),
    type: toEnum(decoded.type, EntryType, typeName, 'type'),
    data: bytesFromWire(decoded.data),
  };
}

/** snapshotFromWire validates a decoded Snapshot; absent metadata reads as all zero. */
function snapshotFromWire(decoded: pb.raft.Snapshot.$Properties, typeName: string): Snapshot {
  let metadata: SnapshotMetadata;
  try {
    metadata = metadataFromWire(decoded.metadata ?? {}, 'SnapshotMetadata');
  } catch (error) {
    throw nested(error, typeName, 'metadata');
  }
  return { metadata, data: bytesFromWire(decoded.data) };
}

/** metadataFromWire validates decoded SnapshotMetadata; absent confState reads as empty. */
function metadataFromWire(
  decoded: pb.raft.SnapshotMetadata.$Properties,
  typeName: string,
): SnapshotMetadata {
  let confState: ConfState;
  try {
    confState = confStateFromWire(decoded.confState ?? {}, 'ConfState');
  } catch (error) {
    throw nested(error, typeName, 'confState');
  }
  return {
    index: toSafeNumber(decoded.index, typeName, 'index'),
    term: toSafeNumber(decoded.term, typeName, 'term'),
    confState,
  };
}

/** confStateFromWire validates a decoded ConfState: ids non-zero, sorted, lists disjoint. */
function confStateFromWire(decoded: pb.raft.ConfState.$Properties, typeName: string): ConfState {
  return confStateFromLists(decoded.voters ?? [], decoded.learners ?? [], typeName);
}

// ---- Encoding: cheap checks of the caller's values, before any encoder runs ----

/**
 * checkUint64 asserts a number can be encoded as uint64 and decoded back exactly. The field
 * name comes in two constant parts so that nothing is allocated unless the check fails.
 */
function checkUint64(value: number, path: string, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    const problem = 'is not an integer in [0, 2^53 - 1]';
    throw new AssertionFailure(`encode: ${path}.${field} = ${value} ${problem}`);
  }
}

/** checkNodeId asserts a member id is a non-zero uint64. */
function checkNodeId(value: number, path: string, field: string): void {
  checkUint64(value, path, field);
  if (value === 0) throw new AssertionFailure(`encode: ${path}.${field} is 0 (no node)`);
}

/** checkEnum asserts a number is a value of a TypeScript numeric enum. */
function checkEnum(
  value: number,
  names: Record<number, string | undefined>,
  path: string,
  field: string,
): void {
  if (typeof names[value] !== 'string') {
    throw new AssertionFailure(`encode: ${path}.${field} = ${value} is not a known enum value`);
  }
}

/** checkMessage asserts every number of a message (entries and snapshot included). */
function checkMessage(message: Message, path: string): void {
  checkEnum(message.type, MessageType, path, 'type');
  const groupId: number = message.groupId;
  if (!Number.isSafeInteger(groupId) || groupId < 0 || groupId > 0xffff_ffff) {
    throw new AssertionFailure(`encode: ${path}.groupId = ${groupId} is not a uint32`);
  }
  checkUint64(message.from, path, 'from');
  checkUint64(message.to, path, 'to');
  checkUint64(message.term, path, 'term');
  checkUint64(message.logTerm, path, 'logTerm');
  checkUint64(message.index, path, 'index');
  checkUint64(message.commit, path, 'commit');
  checkUint64(message.rejectHint, path, 'rejectHint');
  for (let i = 0; i < message.entries.length; i++) checkEntry(message.entries[i], 'entries[]');
  if (message.snapshot !== null)
    checkSnapshotMetadata(message.snapshot.metadata, 'snapshot.metadata');
}

/** checkEntry asserts an entry's numbers. */
function checkEntry(entry: Entry, path: string): void {
  checkUint64(entry.term, path, 'term');
  checkUint64(entry.index, path, 'index');
  checkEnum(entry.type, EntryType, path, 'type');
}

/** checkSnapshotMetadata asserts snapshot metadata's numbers and membership. */
function checkSnapshotMetadata(metadata: SnapshotMetadata, path: string): void {
  checkUint64(metadata.index, path, 'index');
  checkUint64(metadata.term, path, 'term');
  checkConfState(metadata.confState, `${path}.confState`);
}

/** checkConfState asserts the ConfState invariant: ids non-zero, sorted, lists disjoint. */
function checkConfState(confState: ConfState, path: string): void {
  checkNodeIds(confState.voters, path, 'voters');
  checkNodeIds(confState.learners, path, 'learners');
  const shared = firstShared(confState.voters, confState.learners);
  if (shared !== undefined) {
    throw new AssertionFailure(`encode: ${path}: node ${shared} is both voter and learner`);
  }
}

/** checkNodeIds asserts a member list: ids non-zero and strictly ascending. */
function checkNodeIds(ids: readonly NodeId[], path: string, field: string): void {
  for (let i = 0; i < ids.length; i++) {
    checkNodeId(ids[i], path, field);
    if (i > 0 && ids[i] <= ids[i - 1]) {
      throw new AssertionFailure(`encode: ${path}.${field} is not strictly ascending: ${ids}`);
    }
  }
}
