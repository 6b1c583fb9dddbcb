/**
 * validateMessage checks a peer message once, where it enters the core. Anything malformed,
 * misaddressed or out of range is dropped deterministically (the caller counts it) and never
 * reaches the state machine, so bad input cannot crash a replica or affect other groups.
 */
import type { ProgressTracker } from './tracker.js';
import {
  EntryType,
  MessageType,
  NONE,
  isLocalMessage,
  type GroupId,
  type Message,
  type NodeId,
} from './types.js';

function isIndex(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Messages a non-member may legitimately send us: a leader of a configuration we lag behind. */
const FROM_ANY_SENDER = new Set<MessageType>([
  MessageType.Append,
  MessageType.Heartbeat,
  MessageType.Snapshot,
  MessageType.Vote,
  MessageType.PreVote,
  MessageType.TimeoutNow,
]);

/** validateMessage returns why `m` must be dropped, or null when it may be stepped. */
export function validateMessage(
  m: Message,
  self: NodeId,
  groupId: GroupId,
  tracker: ProgressTracker,
): string | null {
  if (m === null || typeof m !== 'object') return 'not a message';
  if (!(m.type in MessageType) || isLocalMessage(m.type))
    return `type ${m.type} is not a peer message`;
  if (m.groupId !== groupId) return `group ${m.groupId} is not ${groupId}`;
  if (m.to !== self) return `addressed to ${m.to}, not ${self}`;
  if (!isIndex(m.from) || m.from === NONE || m.from === self) return `bad sender ${m.from}`;
  for (const field of ['term', 'logTerm', 'index', 'commit', 'rejectHint'] as const) {
    if (!isIndex(m[field])) return `${field} ${m[field]} out of range`;
  }
  if (m.term === 0) return 'term 0 on a peer message';
  if (!(m.context instanceof Uint8Array) || !Array.isArray(m.entries)) return 'malformed fields';
  if (!tracker.isMember(m.from) && !FROM_ANY_SENDER.has(m.type) && tracker.voters.size > 0) {
    return `sender ${m.from} is not a member`;
  }
  if (m.type === MessageType.Append) return validateEntries(m);
  if (m.type === MessageType.Snapshot) return validateSnapshot(m);
  return m.entries.length === 0 ? null : `entries on a ${MessageType[m.type]} message`;
}

function validateEntries(m: Message): string | null {
  let previousTerm = m.logTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const entry = m.entries[i];
    if (entry.index !== m.index + 1 + i)
      return `entry ${i} has index ${entry.index}, expected ${m.index + 1 + i}`;
    if (!isIndex(entry.term) || entry.term < previousTerm || entry.term > m.term) {
      return `entry ${entry.index} has term ${entry.term} outside [${previousTerm}, ${m.term}]`;
    }
    if (entry.type !== EntryType.Normal && entry.type !== EntryType.ConfChange) {
      return `entry ${entry.index} has unknown type ${entry.type}`;
    }
    if (!(entry.data instanceof Uint8Array)) return `entry ${entry.index} has no data bytes`;
    previousTerm = entry.term;
  }
  if (m.index === 0 && m.logTerm !== 0) return 'log term on index 0';
  return null;
}

function validateSnapshot(m: Message): string | null {
  const snapshot = m.snapshot;
  if (!snapshot || !snapshot.metadata) return 'Snapshot message without a snapshot';
  const { index, term, confState } = snapshot.metadata;
  if (!isIndex(index) || index === 0 || !isIndex(term) || term === 0 || term > m.term) {
    return `snapshot (index ${index}, term ${term}) out of range`;
  }
  if (!confState || !Array.isArray(confState.voters) || !Array.isArray(confState.learners)) {
    return 'snapshot without a membership';
  }
  const voters = new Set(confState.voters);
  if (voters.size === 0) return 'snapshot membership has no voters';
  if (confState.learners.some((id) => voters.has(id))) return 'snapshot voter is also a learner';
  return null;
}
