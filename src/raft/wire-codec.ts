/**
 * Hand-rolled protobuf codec of the peer hot path: MessageBatch and Message of proto/raft.proto,
 * with their nested Entry, Snapshot, SnapshotMetadata and ConfState. The generated protobufjs
 * code allocates a LongBits and a Long per uint64 field in both directions, and a wire object per
 * message that then had to be converted: about 4 KB per client put per node. Here varints are
 * read straight into numbers and the plain types of types.ts are built directly; encoding sizes
 * the message exactly first and writes it into one buffer.
 *
 * codec.ts calls it (after its encode checks) and keeps its contracts. It stays compatible with
 * the generated code, which wire-codec.test.ts compares it against on random input:
 * - proto3 semantics: absent fields read as 0, empty or null; of a repeated scalar the last
 *   value wins; repeated occurrences of a nested message merge; unknown fields (and known ones
 *   with another wire type) are skipped; ConfState lists are read packed or unpacked.
 * - validation as in the generated path, which parsed all the bytes before validating: a
 *   message's fields are validated once it is read whole (so a value later overwritten is never
 *   judged), and a bad value is reported only when the rest of the bytes are protobuf, else the
 *   bytes are reported malformed.
 * - encoding writes fields in number order and leaves default values out, as protobufjs does
 *   (the bytes are the same).
 * Wire-level rules and the one difference (groups are refused) are in wire-codec-reader.ts.
 */
import { AssertionFailure } from './errors.js';
import {
  EMPTY_BYTES,
  EntryType,
  MessageType,
  type ConfState,
  type Entry,
  type GroupId,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js';
import { WireReader, WireType, checkStructure, type WireLayout } from './wire-codec-reader.js';
import {
  MessageDecodeError,
  confStateFromLists,
  nested,
  toEnum,
  toSafeNumber,
  type WireUint64,
} from './wire-codec-validate.js';
import {
  bytesFieldSize,
  delimitedSize,
  packedFieldSize,
  varintFieldSize,
  writeBytesField,
  writeDelimitedHeader,
  writePackedField,
  writeVarintField,
} from './wire-codec-writer.js';

/** Tag is the key (field number << 3 | wire type) of each field this codec reads and writes. */
const enum Tag {
  BatchMessage = (1 << 3) | WireType.Delimited,

  MessageType = (1 << 3) | WireType.Varint,
  MessageGroupId = (2 << 3) | WireType.Varint,
  MessageFrom = (3 << 3) | WireType.Varint,
  MessageTo = (4 << 3) | WireType.Varint,
  MessageTerm = (5 << 3) | WireType.Varint,
  MessageLogTerm = (6 << 3) | WireType.Varint,
  MessageIndex = (7 << 3) | WireType.Varint,
  MessageEntry = (8 << 3) | WireType.Delimited,
  MessageCommit = (9 << 3) | WireType.Varint,
  MessageReject = (10 << 3) | WireType.Varint,
  MessageRejectHint = (11 << 3) | WireType.Varint,
  MessageSnapshot = (12 << 3) | WireType.Delimited,
  MessageContext = (13 << 3) | WireType.Delimited,

  EntryTerm = (1 << 3) | WireType.Varint,
  EntryIndex = (2 << 3) | WireType.Varint,
  EntryType = (3 << 3) | WireType.Varint,
  EntryData = (4 << 3) | WireType.Delimited,

  SnapshotMetadata = (1 << 3) | WireType.Delimited,
  SnapshotData = (2 << 3) | WireType.Delimited,

  MetadataConfState = (1 << 3) | WireType.Delimited,
  MetadataIndex = (2 << 3) | WireType.Varint,
  MetadataTerm = (3 << 3) | WireType.Varint,

  ConfStateVotersPacked = (1 << 3) | WireType.Delimited,
  ConfStateVoter = (1 << 3) | WireType.Varint,
  ConfStateLearnersPacked = (2 << 3) | WireType.Delimited,
  ConfStateLearner = (2 << 3) | WireType.Varint,
}

// Where nested messages and packed lists are, for checking the structure of bytes alone.
const CONF_STATE_LAYOUT: WireLayout = { 1: 'packed', 2: 'packed' };
const METADATA_LAYOUT: WireLayout = { 1: CONF_STATE_LAYOUT };
const SNAPSHOT_LAYOUT: WireLayout = { 1: METADATA_LAYOUT };
const ENTRY_LAYOUT: WireLayout = {};
const MESSAGE_LAYOUT: WireLayout = { 8: ENTRY_LAYOUT, 12: SNAPSHOT_LAYOUT };
const BATCH_LAYOUT: WireLayout = { 1: MESSAGE_LAYOUT };

// ---- Decoding ----

/** decodeMessageBatchDirect decodes and validates a MessageBatch; throws MessageDecodeError. */
export function decodeMessageBatchDirect(bytes: Uint8Array): Message[] {
  return decodeWith('MessageBatch', bytes, BATCH_LAYOUT, readBatch);
}

/** decodeMessageDirect decodes and validates one Message; throws MessageDecodeError. */
export function decodeMessageDirect(bytes: Uint8Array): Message {
  return decodeWith('Message', bytes, MESSAGE_LAYOUT, readTopMessage);
}

/**
 * decodeWith runs a reader on a private copy of `bytes` (decoded byte fields view the copy, so
 * they neither alias nor pin the caller's buffer) and turns whatever it throws into the
 * MessageDecodeError to report.
 */
function decodeWith<T>(
  typeName: string,
  bytes: Uint8Array,
  layout: WireLayout,
  read: (reader: WireReader, end: number) => T,
): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new MessageDecodeError(typeName, '', `expected a Uint8Array, got ${typeof bytes}`);
  }
  const copy = new Uint8Array(bytes);
  try {
    return read(new WireReader(copy), copy.length);
  } catch (error) {
    throw decodeFailure(typeName, copy, layout, error);
  }
}

/**
 * decodeFailure chooses the error to report. Bytes that are not protobuf win over a bad value
 * met before them (as when all the bytes were parsed before any value was validated), so a bad
 * value is reported only once the structure of the whole input has been checked.
 */
function decodeFailure(
  typeName: string,
  bytes: Uint8Array,
  layout: WireLayout,
  error: unknown,
): MessageDecodeError {
  let cause = error;
  if (error instanceof MessageDecodeError) {
    try {
      checkStructure(new WireReader(bytes), bytes.length, layout);
      return error;
    } catch (structureError) {
      cause = structureError;
    }
  }
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new MessageDecodeError(typeName, '', `malformed protobuf (${detail})`, { cause });
}

/** readBatch reads the messages of a MessageBatch, in order. */
function readBatch(reader: WireReader, end: number): Message[] {
  const messages: Message[] = [];
  while (reader.pos < end) {
    const tag = reader.tag(end);
    if (tag !== Tag.BatchMessage) {
      reader.skip(tag, end);
      continue;
    }
    const messageEnd = reader.delimited(end);
    try {
      messages.push(readMessage(reader, messageEnd, 'Message'));
    } catch (error) {
      throw nested(error, 'MessageBatch', `messages[${messages.length}]`);
    }
  }
  return messages;
}

/** readTopMessage reads a Message that is the whole input. */
function readTopMessage(reader: WireReader, end: number): Message {
  return readMessage(reader, end, 'Message');
}

/**
 * readMessage reads a Message up to `end` into locals, then validates it as the generated path
 * did, in the same order: entries, snapshot, then the scalar fields.
 */
function readMessage(reader: WireReader, end: number, typeName: string): Message {
  let type = 0;
  let groupId = 0;
  let from: WireUint64 = 0;
  let to: WireUint64 = 0;
  let term: WireUint64 = 0;
  let logTerm: WireUint64 = 0;
  let index: WireUint64 = 0;
  let commit: WireUint64 = 0;
  let reject = false;
  let rejectHint: WireUint64 = 0;
  let snapshot: SnapshotDraft | null = null;
  let context = EMPTY_BYTES;
  // Created at the first entry, sized for one: a push onto [] would reserve 17 slots.
  let entries: Entry[] | null = null;
  while (reader.pos < end) {
    const tag = reader.tag(end);
    // prettier-ignore
    switch (tag) {
      case Tag.MessageType: type = reader.int32(end); break;
      case Tag.MessageGroupId: groupId = reader.uint32(end); break;
      case Tag.MessageFrom: from = reader.uint64(end); break;
      case Tag.MessageTo: to = reader.uint64(end); break;
      case Tag.MessageTerm: term = reader.uint64(end); break;
      case Tag.MessageLogTerm: logTerm = reader.uint64(end); break;
      case Tag.MessageIndex: index = reader.uint64(end); break;
      case Tag.MessageEntry: entries = readEntryOnto(reader, end, typeName, entries); break;
      case Tag.MessageCommit: commit = reader.uint64(end); break;
      case Tag.MessageReject: reject = reader.bool(end); break;
      case Tag.MessageRejectHint: rejectHint = reader.uint64(end); break;
      case Tag.MessageSnapshot: snapshot = readSnapshot(reader, end, snapshot); break;
      case Tag.MessageContext: context = reader.bytesField(end); break;
      default: reader.skip(tag, end);
    }
  }
  const validSnapshot = snapshot === null ? null : snapshotOf(snapshot, typeName);
  return {
    type: toEnum(type, MessageType, typeName, 'type'),
    groupId: groupId as GroupId, // uint32 on the wire: always safe
    from: safeNumber(from, typeName, 'from') as NodeId,
    to: safeNumber(to, typeName, 'to') as NodeId,
    term: safeNumber(term, typeName, 'term'),
    logTerm: safeNumber(logTerm, typeName, 'logTerm'),
    index: safeNumber(index, typeName, 'index'),
    entries: entries ?? [],
    commit: safeNumber(commit, typeName, 'commit'),
    reject,
    rejectHint: safeNumber(rejectHint, typeName, 'rejectHint'),
    snapshot: validSnapshot,
    context,
  };
}

/** safeNumber validates a uint64 read by WireReader, which returns only safe values as numbers. */
function safeNumber(value: WireUint64, typeName: string, field: string): number {
  return typeof value === 'number' ? value : toSafeNumber(value, typeName, field);
}

/**
 * readEntryOnto reads an entry of a message and appends it to `entries` (creating the array,
 * sized for one, on the first entry), naming the entry in any error.
 */
function readEntryOnto(
  reader: WireReader,
  end: number,
  typeName: string,
  entries: Entry[] | null,
): Entry[] {
  const entryEnd = reader.delimited(end);
  try {
    const entry = readEntry(reader, entryEnd);
    if (entries === null) return [entry];
    entries.push(entry);
    return entries;
  } catch (error) {
    throw nested(error, typeName, `entries[${entries?.length ?? 0}]`);
  }
}

/** readEntry reads and validates an Entry. Term and index 0 are allowed (dummy entries). */
function readEntry(reader: WireReader, end: number): Entry {
  let term: WireUint64 = 0;
  let index: WireUint64 = 0;
  let type = 0;
  let data = EMPTY_BYTES;
  while (reader.pos < end) {
    const tag = reader.tag(end);
    // prettier-ignore
    switch (tag) {
      case Tag.EntryTerm: term = reader.uint64(end); break;
      case Tag.EntryIndex: index = reader.uint64(end); break;
      case Tag.EntryType: type = reader.int32(end); break;
      case Tag.EntryData: data = reader.bytesField(end); break;
      default: reader.skip(tag, end);
    }
  }
  return {
    term: safeNumber(term, 'Entry', 'term'),
    index: safeNumber(index, 'Entry', 'index'),
    type: toEnum(type, EntryType, 'Entry', 'type'),
    data,
  };
}

/**
 * SnapshotDraft is a message's snapshot as read so far, not yet validated: a later occurrence
 * of the snapshot, or of its metadata or membership, merges into it (protobuf semantics), so it
 * is final only at the end of the message. Absent metadata reads as all zero.
 */
interface SnapshotDraft {
  index: WireUint64;
  term: WireUint64;
  voters: WireUint64[];
  learners: WireUint64[];
  data: Uint8Array;
}

/** readSnapshot reads a Snapshot field into `draft` (a new one when it is the first). */
function readSnapshot(reader: WireReader, end: number, draft: SnapshotDraft | null): SnapshotDraft {
  const into = draft ?? { index: 0, term: 0, voters: [], learners: [], data: EMPTY_BYTES };
  const snapshotEnd = reader.delimited(end);
  while (reader.pos < snapshotEnd) {
    const tag = reader.tag(snapshotEnd);
    if (tag === Tag.SnapshotMetadata) readMetadata(reader, snapshotEnd, into);
    else if (tag === Tag.SnapshotData) into.data = reader.bytesField(snapshotEnd);
    else reader.skip(tag, snapshotEnd);
  }
  return into;
}

/** readMetadata reads a SnapshotMetadata field into `draft`. */
function readMetadata(reader: WireReader, end: number, draft: SnapshotDraft): void {
  const metadataEnd = reader.delimited(end);
  while (reader.pos < metadataEnd) {
    const tag = reader.tag(metadataEnd);
    if (tag === Tag.MetadataConfState) readConfState(reader, metadataEnd, draft);
    else if (tag === Tag.MetadataIndex) draft.index = reader.uint64(metadataEnd);
    else if (tag === Tag.MetadataTerm) draft.term = reader.uint64(metadataEnd);
    else reader.skip(tag, metadataEnd);
  }
}

/** readConfState reads a ConfState field into `draft`; its lists may be packed or not. */
function readConfState(reader: WireReader, end: number, draft: SnapshotDraft): void {
  const confStateEnd = reader.delimited(end);
  while (reader.pos < confStateEnd) {
    const tag = reader.tag(confStateEnd);
    // prettier-ignore
    switch (tag) {
      case Tag.ConfStateVotersPacked: readPacked(reader, confStateEnd, draft.voters); break;
      case Tag.ConfStateVoter: draft.voters.push(reader.uint64(confStateEnd)); break;
      case Tag.ConfStateLearnersPacked: readPacked(reader, confStateEnd, draft.learners); break;
      case Tag.ConfStateLearner: draft.learners.push(reader.uint64(confStateEnd)); break;
      default: reader.skip(tag, confStateEnd);
    }
  }
}

/** readPacked appends the varints of a packed repeated field to `values`. */
function readPacked(reader: WireReader, end: number, values: WireUint64[]): void {
  const listEnd = reader.delimited(end);
  while (reader.pos < listEnd) values.push(reader.uint64(listEnd));
}

/** snapshotOf validates a message's snapshot, naming the field in the message in any error. */
function snapshotOf(draft: SnapshotDraft, typeName: string): Snapshot {
  try {
    return { metadata: metadataOf(draft), data: draft.data };
  } catch (error) {
    throw nested(error, typeName, 'snapshot');
  }
}

/** metadataOf validates a snapshot's metadata: membership first, then index and term. */
function metadataOf(draft: SnapshotDraft): SnapshotMetadata {
  let confState: ConfState;
  try {
    confState = confStateFromLists(draft.voters, draft.learners, 'ConfState');
  } catch (error) {
    throw nested(error, 'Snapshot', 'metadata.confState');
  }
  return {
    index: safeNumber(draft.index, 'Snapshot', 'metadata.index'),
    term: safeNumber(draft.term, 'Snapshot', 'metadata.term'),
    confState,
  };
}

// ---- Encoding (the caller has checked every number: codec.ts checkMessage) ----

/** encodeMessageDirect encodes one Message into a buffer of exactly its size. */
export function encodeMessageDirect(message: Message): Uint8Array {
  const size = messageSize(message);
  const bytes = new Uint8Array(size);
  const end = writeMessage(bytes, 0, message);
  if (end !== size) throw new AssertionFailure(`encode: wrote ${end} of ${size} Message bytes`);
  return bytes;
}

/** encodeMessageBatchDirect encodes messages as one MessageBatch, in order. */
export function encodeMessageBatchDirect(messages: readonly Message[]): Uint8Array {
  let size = 0;
  for (let i = 0; i < messages.length; i++) size += delimitedSize(messageSize(messages[i]));
  const bytes = new Uint8Array(size);
  let pos = 0;
  for (let i = 0; i < messages.length; i++) {
    pos = writeDelimitedHeader(bytes, pos, Tag.BatchMessage, messageSize(messages[i]));
    pos = writeMessage(bytes, pos, messages[i]);
  }
  if (pos !== size) throw new AssertionFailure(`encode: wrote ${pos} of ${size} batch bytes`);
  return bytes;
}

/** messageSize is the encoded size of a Message (without its tag and length in a batch). */
function messageSize(message: Message): number {
  let size =
    varintFieldSize(message.type) +
    varintFieldSize(message.groupId) +
    varintFieldSize(message.from) +
    varintFieldSize(message.to) +
    varintFieldSize(message.term) +
    varintFieldSize(message.logTerm) +
    varintFieldSize(message.index) +
    varintFieldSize(message.commit) +
    (message.reject ? 2 : 0) +
    varintFieldSize(message.rejectHint) +
    bytesFieldSize(message.context);
  const entries = message.entries;
  for (let i = 0; i < entries.length; i++) size += delimitedSize(entrySize(entries[i]));
  if (message.snapshot !== null) size += delimitedSize(snapshotSize(message.snapshot));
  return size;
}

/** writeMessage writes a Message's fields in field-number order. */
function writeMessage(bytes: Uint8Array, pos: number, message: Message): number {
  pos = writeVarintField(bytes, pos, Tag.MessageType, message.type);
  pos = writeVarintField(bytes, pos, Tag.MessageGroupId, message.groupId);
  pos = writeVarintField(bytes, pos, Tag.MessageFrom, message.from);
  pos = writeVarintField(bytes, pos, Tag.MessageTo, message.to);
  pos = writeVarintField(bytes, pos, Tag.MessageTerm, message.term);
  pos = writeVarintField(bytes, pos, Tag.MessageLogTerm, message.logTerm);
  pos = writeVarintField(bytes, pos, Tag.MessageIndex, message.index);
  const entries = message.entries;
  for (let i = 0; i < entries.length; i++) {
    pos = writeDelimitedHeader(bytes, pos, Tag.MessageEntry, entrySize(entries[i]));
    pos = writeEntry(bytes, pos, entries[i]);
  }
  pos = writeVarintField(bytes, pos, Tag.MessageCommit, message.commit);
  pos = writeVarintField(bytes, pos, Tag.MessageReject, message.reject ? 1 : 0);
  pos = writeVarintField(bytes, pos, Tag.MessageRejectHint, message.rejectHint);
  if (message.snapshot !== null) {
    pos = writeDelimitedHeader(bytes, pos, Tag.MessageSnapshot, snapshotSize(message.snapshot));
    pos = writeSnapshot(bytes, pos, message.snapshot);
  }
  return writeBytesField(bytes, pos, Tag.MessageContext, message.context);
}

/** entrySize is the encoded size of an Entry. */
function entrySize(entry: Entry): number {
  return (
    varintFieldSize(entry.term) +
    varintFieldSize(entry.index) +
    varintFieldSize(entry.type) +
    bytesFieldSize(entry.data)
  );
}

/** writeEntry writes an Entry's fields. */
function writeEntry(bytes: Uint8Array, pos: number, entry: Entry): number {
  pos = writeVarintField(bytes, pos, Tag.EntryTerm, entry.term);
  pos = writeVarintField(bytes, pos, Tag.EntryIndex, entry.index);
  pos = writeVarintField(bytes, pos, Tag.EntryType, entry.type);
  return writeBytesField(bytes, pos, Tag.EntryData, entry.data);
}

/** snapshotSize is the encoded size of a Snapshot (its metadata is always written). */
function snapshotSize(snapshot: Snapshot): number {
  return delimitedSize(metadataSize(snapshot.metadata)) + bytesFieldSize(snapshot.data);
}

/** writeSnapshot writes a Snapshot: metadata (even when all zero), then data. */
function writeSnapshot(bytes: Uint8Array, pos: number, snapshot: Snapshot): number {
  const metadata = snapshot.metadata;
  pos = writeDelimitedHeader(bytes, pos, Tag.SnapshotMetadata, metadataSize(metadata));
  pos = writeMetadata(bytes, pos, metadata);
  return writeBytesField(bytes, pos, Tag.SnapshotData, snapshot.data);
}

/** metadataSize is the encoded size of SnapshotMetadata (its ConfState is always written). */
function metadataSize(metadata: SnapshotMetadata): number {
  return (
    delimitedSize(confStateSize(metadata.confState)) +
    varintFieldSize(metadata.index) +
    varintFieldSize(metadata.term)
  );
}

/** writeMetadata writes SnapshotMetadata: membership, index, term. */
function writeMetadata(bytes: Uint8Array, pos: number, metadata: SnapshotMetadata): number {
  const confState = metadata.confState;
  pos = writeDelimitedHeader(bytes, pos, Tag.MetadataConfState, confStateSize(confState));
  pos = writePackedField(bytes, pos, Tag.ConfStateVotersPacked, confState.voters);
  pos = writePackedField(bytes, pos, Tag.ConfStateLearnersPacked, confState.learners);
  pos = writeVarintField(bytes, pos, Tag.MetadataIndex, metadata.index);
  return writeVarintField(bytes, pos, Tag.MetadataTerm, metadata.term);
}

/** confStateSize is the encoded size of a ConfState (both lists packed). */
function confStateSize(confState: ConfState): number {
  return packedFieldSize(confState.voters) + packedFieldSize(confState.learners);
}
