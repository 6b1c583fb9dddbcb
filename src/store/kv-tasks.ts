/**
 * The key layout of a stream task (BRIEF section 6, docs/stream-tasks.md), shared by the state
 * machine (which enforces it) and the client (which writes under it). Every key of task `id`
 * starts with `{task:<id>}/`, so its hash tag `task:<id>` puts the whole task in one group:
 *   {task:<id>}/meta                          the TaskMeta record (only task operations write it)
 *   {task:<id>}/stage/<epoch>/<seq>/<chunk>   staged chunks of a large checkpoint
 *   {task:<id>}/<anything else>               the task's own keys (state, outbox: the client's)
 * Numbers in stage keys are fixed-width hex, so keys sort numerically.
 *
 * A task id is 1 to TASK_ID_BYTES_MAX printable ASCII characters without `{` or `}`: a brace
 * would change the hash tag, and the task's keys would not route to one group.
 */

/** TASK_ID_BYTES_MAX is the longest task id. */
export const TASK_ID_BYTES_MAX = 200;

const encoder = new TextEncoder();
const META_SUFFIX = 'meta';
const STAGE_SUFFIX = 'stage/';

/** taskIdProblem says why `taskId` is not a usable task id, or returns null if it is. */
export function taskIdProblem(taskId: string): string | null {
  if (typeof taskId !== 'string' || taskId.length === 0) return 'the task id is empty';
  if (taskId.length > TASK_ID_BYTES_MAX) {
    return `the task id is ${taskId.length} characters, above ${TASK_ID_BYTES_MAX}`;
  }
  for (let i = 0; i < taskId.length; i++) {
    const code = taskId.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) {
      return `the task id has a character outside printable ASCII at ${i} (code ${code})`;
    }
    if (code === 0x7b || code === 0x7d) {
      return `the task id has a brace at ${i}: its keys would not share the hash tag task:<id>`;
    }
  }
  return null;
}

/** taskPrefixText is the text every key of the task starts with: `{task:<id>}/`. */
export function taskPrefixText(taskId: string): string {
  return `{task:${taskId}}/`;
}

/** taskPrefix is the bytes every key of the task starts with. */
export function taskPrefix(taskId: string): Uint8Array {
  return encoder.encode(taskPrefixText(taskId));
}

/** taskMetaKey is the key of the task's TaskMeta record. */
export function taskMetaKey(taskId: string): Uint8Array {
  return encoder.encode(`${taskPrefixText(taskId)}${META_SUFFIX}`);
}

/** taskStagePrefix is the prefix of every staged chunk of the task. */
export function taskStagePrefix(taskId: string): Uint8Array {
  return encoder.encode(`${taskPrefixText(taskId)}${STAGE_SUFFIX}`);
}

/** taskStageKey is the key of chunk `chunk` staged for (epoch, seq). */
export function taskStageKey(
  taskId: string,
  epoch: number,
  seq: number,
  chunk: number,
): Uint8Array {
  const text = `${taskPrefixText(taskId)}${STAGE_SUFFIX}${hex(epoch, 16)}/${hex(seq, 16)}/`;
  return encoder.encode(`${text}${hex(chunk, 8)}`);
}

/** compareBytes orders byte strings as LevelDB does (bytewise, shorter first on a tie). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** hex writes a safe non-negative integer as fixed-width lowercase hex. */
export function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

/** KeyRange is [start, end) of bytes; end null means no bound. */
export interface KeyRange {
  start: Uint8Array;
  end: Uint8Array | null;
}

/** prefixRange returns the range of every key starting with `prefix`. */
export function prefixRange(prefix: Uint8Array): KeyRange {
  return { start: prefix, end: successorOfPrefix(prefix) };
}

/** successorOfPrefix is the first key after every key starting with `prefix` (null: none). */
export function successorOfPrefix(prefix: Uint8Array): Uint8Array | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]!++;
      return end;
    }
  }
  return null;
}

/** rangesOverlap says whether two non-empty ranges share a key. */
export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  const aBeforeB = a.end !== null && compareBytes(a.end, b.start) <= 0;
  const bBeforeA = b.end !== null && compareBytes(b.end, a.start) <= 0;
  return !aBeforeB && !bBeforeA;
}

/** rangeWithin says whether `inner` lies inside `outer` (an empty inner is inside anything). */
export function rangeWithin(inner: KeyRange, outer: KeyRange): boolean {
  if (inner.end !== null && compareBytes(inner.start, inner.end) >= 0) return true;
  if (compareBytes(inner.start, outer.start) < 0) return false;
  if (outer.end === null) return true;
  return inner.end !== null && compareBytes(inner.end, outer.end) <= 0;
}

/**
 * taskWriteProblem says why a write of `range` (one key: [key, key + \0)) is not allowed to a
 * checkpoint of `taskId`, or returns null: it must lie under the task's prefix and touch
 * neither its meta key nor its stage area.
 */
export function taskWriteProblem(
  taskId: string,
  range: KeyRange,
  areas: TaskAreas = taskAreas(taskId),
): string | null {
  if (range.end !== null && compareBytes(range.start, range.end) >= 0) return null;
  if (!rangeWithin(range, areas.all)) {
    return `it is outside the task's keys ${taskPrefixText(taskId)}...`;
  }
  if (rangesOverlap(range, areas.meta)) {
    return 'it writes the task record (meta), which only task operations write';
  }
  if (rangesOverlap(range, areas.stage)) {
    return 'it writes the stage area, which only staging writes';
  }
  return null;
}

/**
 * taskKeyWriteProblem is taskWriteProblem for one key, with the same answer and messages:
 * the range [key, key + \0) lies under a prefix exactly when the key starts with it, and
 * overlaps the meta key's range exactly when it is the meta key. It allocates nothing and
 * compares in JavaScript: it runs once per op of every checkpoint, on the client, on the
 * leader's edge and on every replica's apply.
 */
export function taskKeyWriteProblem(
  taskId: string,
  key: Uint8Array,
  areas: TaskAreas = taskAreas(taskId),
): string | null {
  if (!startsWith(key, areas.all.start)) {
    return `it is outside the task's keys ${taskPrefixText(taskId)}...`;
  }
  if (startsWith(key, areas.meta.start) && key.length === areas.meta.start.length) {
    return 'it writes the task record (meta), which only task operations write';
  }
  if (startsWith(key, areas.stage.start)) {
    return 'it writes the stage area, which only staging writes';
  }
  return null;
}

/** startsWith says whether `bytes` begins with `prefix`. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** TaskAreas are a task's key ranges: all its keys, its record, its stage area. */
export interface TaskAreas {
  all: KeyRange;
  meta: KeyRange;
  stage: KeyRange;
}

/** taskAreas computes a task's key ranges (once per checked command). */
export function taskAreas(taskId: string): TaskAreas {
  const meta = taskMetaKey(taskId);
  return {
    all: prefixRange(taskPrefix(taskId)),
    meta: { start: meta, end: singleKeyEnd(meta) },
    stage: prefixRange(taskStagePrefix(taskId)),
  };
}

/** singleKeyEnd is the end of the range holding only `key`: key followed by a zero byte. */
export function singleKeyEnd(key: Uint8Array): Uint8Array {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return end;
}
