/**
 * Types of the Raft core: identifiers, log entries, persistent state and the one tagged union of
 * messages. Everything here is plain data (no classes), so the simulator can copy it, the codec
 * in `codec.ts` can encode it with protobufjs, and tests can print it.
 */

/** NodeId names a replica's node. 0 is "none" (no vote, no leader). */
export type NodeId = number & { readonly __brand: 'NodeId' };
/** GroupId names a Raft group; a node hosts many groups. */
export type GroupId = number & { readonly __brand: 'GroupId' };
/** Term is a Raft term. Plain number alias: it is compared and incremented everywhere. */
export type Term = number;
/** Index is a log index (1-based; 0 means "before the first entry"). */
export type Index = number;

/** NONE is the node id that means "no node" (no vote, unknown leader). */
export const NONE = 0 as NodeId;

/** nodeId brands a number as a NodeId after checking it is a positive safe integer. */
export function nodeId(value: number): NodeId {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`node id must be a non-negative safe integer, got ${value}`);
  }
  return value as NodeId;
}

/** groupId brands a number as a GroupId after checking it is a non-negative safe integer. */
export function groupId(value: number): GroupId {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`group id must be a non-negative safe integer, got ${value}`);
  }
  return value as GroupId;
}

/** EntryType says how an entry's data is read: opaque command bytes or a ConfChange. */
export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

/**
 * Entry is one log entry. Invariant: index >= 1, term >= 1; entries in a log have contiguous
 * indexes and non-decreasing terms. An Entry with empty data and type Normal is the no-op a new
 * leader appends at the start of its term.
 */
export interface Entry {
  term: Term;
  index: Index;
  type: EntryType;
  data: Uint8Array;
}

/** HardState is what must be on disk before any message that depends on it leaves the node. */
export interface HardState {
  term: Term;
  vote: NodeId;
  commit: Index;
}

/**
 * ConfState is a group's membership. Invariant: voters and learners are disjoint and sorted.
 * Membership changes are single-server (one voter or learner at a time), so there is no joint
 * (outgoing) configuration.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** ConfChangeType names a single-server membership change. */
export enum ConfChangeType {
  /** Add a voter, or promote an existing learner to voter. */
  AddNode = 0,
  /** Add a learner (receives the log, does not vote or count for quorum). */
  AddLearner = 1,
  /** Remove a voter or learner. */
  RemoveNode = 2,
}

/** ConfChange is the payload of an EntryType.ConfChange entry. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque context for the application (for example the new node's address). */
  context: Uint8Array;
}

/** SnapshotMetadata identifies the state a snapshot captures: the log up to index, at term. */
export interface SnapshotMetadata {
  index: Index;
  term: Term;
  confState: ConfState;
}

/**
 * Snapshot is a state-machine image at metadata.index. `data` is opaque to the core: the
 * simulator puts its whole state there; a store node may leave it empty and stream the image
 * out of band, keyed by group and metadata.
 */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/** MessageType tags every message, local events included (STYLE: every event is a message). */
export enum MessageType {
  // Local events: never sent over the network; step() of a remote one is dropped.
  Hup = 0,
  Beat = 1,
  Propose = 2,
  // Peer messages.
  Append = 3,
  AppendResponse = 4,
  Vote = 5,
  VoteResponse = 6,
  PreVote = 7,
  PreVoteResponse = 8,
  Heartbeat = 9,
  HeartbeatResponse = 10,
  Snapshot = 11,
  TimeoutNow = 12,
  ReadIndex = 13,
  ReadIndexResponse = 14,
  TransferLeader = 15,
  /** Local report that sending a snapshot to `from` finished (reject = it failed). */
  SnapshotStatus = 16,
  /** Local report that `from` could not be reached; the leader drops back to probing. */
  Unreachable = 17,
}

/**
 * Message is the one message shape. Fields not used by a type are zero/empty. Which fields each
 * type uses:
 * - Append: logTerm/index (of the entry before `entries`), entries, commit.
 * - AppendResponse: index (last index matched, or on reject the index probed), reject,
 *   rejectHint (the follower's hint: last index that may match), logTerm (term at rejectHint).
 * - Vote/PreVote: term (the candidate's, or the term it would campaign at), logTerm/index (the
 *   candidate's last entry). Responses: reject.
 * - Heartbeat: commit (min of the leader's commit and the follower's match), context (the
 *   read-index round it confirms, empty if none). HeartbeatResponse: context echoed.
 * - Snapshot: snapshot. TimeoutNow: nothing. ReadIndex: context (request id).
 *   ReadIndexResponse: index (the read index), context.
 */
export interface Message {
  type: MessageType;
  groupId: GroupId;
  from: NodeId;
  to: NodeId;
  term: Term;
  logTerm: Term;
  index: Index;
  entries: Entry[];
  commit: Index;
  reject: boolean;
  rejectHint: Index;
  snapshot: Snapshot | null;
  context: Uint8Array;
}

/** Role of a replica. PreCandidate is a follower probing whether it could win (PreVote). */
export enum Role {
  Follower = 0,
  PreCandidate = 1,
  Candidate = 2,
  Leader = 3,
}

/** SoftState is volatile state worth telling the application about when it changes. */
export interface SoftState {
  leader: NodeId;
  role: Role;
}

/** ReadState answers a readIndex(context): reads may be served once applied >= index. */
export interface ReadState {
  index: Index;
  context: Uint8Array;
}

/**
 * Ready is one batch of work for the driver. Contract, in this order:
 * 1. `earlyMessages` may be sent at once, before anything is persisted: they are the leader's
 *    Appends, heartbeats and snapshots, which depend on nothing this Ready persists (a leader
 *    replicates in parallel with its own disk write, and counts itself only once the write is
 *    done: Raft thesis §10.2.1). Sending them later is allowed too.
 * 2. persist `snapshot` (if any), `entries` and `hardState` (if any) durably (synced when
 *    `mustSync`);
 * 3. only then send `messages` (they depend on what was just persisted: votes, append acks);
 * 4. apply `snapshot` to the state machine, then `committedEntries` in order;
 * 5. call `advance(ready)` once. No other Ready is produced before advance.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: Entry[];
  committedEntries: Entry[];
  earlyMessages: Message[];
  messages: Message[];
  readStates: ReadState[];
  mustSync: boolean;
}

/** isEarlyMessage tells whether a message may leave before its Ready is persisted. */
export function isEarlyMessage(type: MessageType): boolean {
  return (
    type === MessageType.Append || type === MessageType.Heartbeat || type === MessageType.Snapshot
  );
}

/** emptyMessage returns a Message of `type` with every other field zero. */
export function emptyMessage(
  type: MessageType,
  groupId: GroupId,
  from: NodeId,
  to: NodeId,
): Message {
  return {
    type,
    groupId,
    from,
    to,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: null,
    context: EMPTY_BYTES,
  };
}

/** EMPTY_BYTES is a shared zero-length buffer (never written to). */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** isLocalMessage tells whether a message type is a local event that must not cross the wire. */
export function isLocalMessage(type: MessageType): boolean {
  return (
    type === MessageType.Hup ||
    type === MessageType.Beat ||
    type === MessageType.Propose ||
    type === MessageType.SnapshotStatus ||
    type === MessageType.Unreachable
  );
}

/** isResponseMessage tells whether a message type answers another (never triggers a vote). */
export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppendResponse ||
    type === MessageType.VoteResponse ||
    type === MessageType.PreVoteResponse ||
    type === MessageType.HeartbeatResponse ||
    type === MessageType.ReadIndexResponse ||
    type === MessageType.Unreachable
  );
}

/** entryBytes is the size an entry counts for in byte limits (payload plus a fixed header). */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** ENTRY_OVERHEAD_BYTES approximates an entry's encoded header (term, index, type, tags). */
export const ENTRY_OVERHEAD_BYTES = 24;
