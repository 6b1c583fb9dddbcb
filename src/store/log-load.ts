/**
 * Loading a LogDb: one ordered scan of the log module's key range rebuilds every group's
 * GroupLogState, checking each record's checksum and layout and the shape of each log (entries
 * contiguous from the compaction point, terms non-decreasing). Any failure is a CorruptionError
 * naming the database path, the group and, for entries, the index: data is checked when it is
 * persisted (log-codec.ts) and again here, where it enters.
 */
import type { ClassicLevel } from 'classic-level';
import { CorruptionError } from '../raft/errors.js';
import { EMPTY_BYTES, type GroupId } from '../raft/types.js';
import {
  RecordDecodeError,
  TAG_CONF,
  TAG_ENTRY,
  TAG_HARD_STATE,
  TAG_LOG_START,
  TAG_RESERVED_END,
  TAG_SNAPSHOT,
  decodeConfRecord,
  decodeEntry,
  decodeHardState,
  decodeLogStart,
  decodeSnapshotMetadata,
  parseKey,
  type ParsedKey,
} from './log-codec.js';
import { emptyGroupLogState, type GroupLogState } from './log-group.js';

/** LOAD_READ_BATCH is how many records one iterator step reads (bounds memory per step). */
const LOAD_READ_BATCH = 1024;

const TAG_NAMES: Record<number, string> = {
  [TAG_HARD_STATE]: 'hard state',
  [TAG_SNAPSHOT]: 'snapshot metadata',
  [TAG_CONF]: 'conf state',
  [TAG_LOG_START]: 'log start',
  [TAG_ENTRY]: 'log entry',
};

/** loadGroupStates reads every group's persisted state; throws CorruptionError if damaged. */
export async function loadGroupStates(
  db: ClassicLevel<Uint8Array, Uint8Array>,
  path: string,
): Promise<Map<GroupId, GroupLogState>> {
  const states = new Map<GroupId, GroupLogState>();
  const iterator = db.iterator({
    gte: Uint8Array.of(0),
    lt: Uint8Array.of(TAG_RESERVED_END),
  });
  try {
    for (;;) {
      const records = await iterator.nextv(LOAD_READ_BATCH);
      if (records.length === 0) break;
      for (const [key, value] of records) {
        // LevelDB hands out Buffers; entry data must be plain Uint8Arrays like everyone else's.
        const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
        loadRecord(states, key, bytes, path);
      }
    }
  } finally {
    await iterator.close();
  }
  for (const [group, state] of states) checkGroup(group, state, path);
  return states;
}

function loadRecord(
  states: Map<GroupId, GroupLogState>,
  key: Uint8Array,
  value: Uint8Array,
  path: string,
): void {
  let parsed: ParsedKey | null = null;
  try {
    parsed = parseKey(key);
    let state = states.get(parsed.group);
    if (state === undefined) {
      state = emptyGroupLogState();
      states.set(parsed.group, state);
    }
    applyRecord(state, parsed, key, value);
  } catch (error) {
    if (!(error instanceof RecordDecodeError)) throw error;
    const where =
      parsed === null
        ? 'record'
        : `${TAG_NAMES[parsed.tag]} of group ${parsed.group}` +
          (parsed.tag === TAG_ENTRY ? ` at index ${parsed.index}` : '');
    throw new CorruptionError(`corrupt ${where} in database ${path}: ${error.message}`, {
      cause: error,
    });
  }
}

function applyRecord(
  state: GroupLogState,
  parsed: ParsedKey,
  key: Uint8Array,
  value: Uint8Array,
): void {
  switch (parsed.tag) {
    case TAG_HARD_STATE:
      state.hardState = decodeHardState(key, value);
      return;
    case TAG_SNAPSHOT:
      state.snapshot = decodeSnapshotMetadata(key, value);
      return;
    case TAG_CONF:
      state.conf = decodeConfRecord(key, value);
      return;
    case TAG_LOG_START:
      state.logStart = decodeLogStart(key, value);
      return;
    case TAG_ENTRY: {
      const entry = decodeEntry(key, parsed.index, value);
      const previous = state.entries.at(-1);
      if (previous !== undefined && previous.index + 1 !== entry.index) {
        throw new RecordDecodeError(`gap in the log: previous entry is ${previous.index}`);
      }
      if (previous !== undefined && previous.term > entry.term) {
        throw new RecordDecodeError(
          `term ${entry.term} < term ${previous.term} of the previous entry`,
        );
      }
      // An empty entry (a leader's no-op) must not keep the record's buffer alive through a
      // zero-length view: every group has one, and most idle groups have little else.
      if (entry.data.byteLength === 0) entry.data = EMPTY_BYTES;
      state.entries.push(entry);
      return;
    }
    default:
      throw new RecordDecodeError(`unexpected tag ${parsed.tag}`);
  }
}

/** checkGroup checks what only the whole group shows: the log starts at the compaction point. */
function checkGroup(group: GroupId, state: GroupLogState, path: string): void {
  const first = state.entries[0];
  if (first === undefined) return;
  const start = state.logStart;
  if (first.index !== start.index + 1 || first.term < start.term) {
    throw new CorruptionError(
      `corrupt log of group ${group} in database ${path}: entry ${first.index} (term ` +
        `${first.term}) does not follow the compaction point ${start.index} (term ${start.term})`,
    );
  }
}
