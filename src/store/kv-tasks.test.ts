/**
 * Tests of the task key layout's checks (kv-tasks.ts). What they prove: for any one key,
 * taskKeyWriteProblem (the allocation-free check that runs per checkpoint op) answers exactly
 * as taskWriteProblem does for the range [key, key + \0), the reference it replaces. Keys are
 * built from the pieces that matter (the task's prefix, its meta key, its stage prefix, another
 * task's prefix, and their own prefixes cut short) followed by random bytes, so every branch
 * and every boundary (a key equal to a prefix, one byte longer, one byte shorter) is met.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  singleKeyEnd,
  taskAreas,
  taskKeyWriteProblem,
  taskMetaKey,
  taskPrefix,
  taskStagePrefix,
  taskWriteProblem,
} from './kv-tasks.js';

const TASK_ID = 'wc.words.0';

const piecesArb = fc.constantFrom(
  taskPrefix(TASK_ID),
  taskMetaKey(TASK_ID),
  taskStagePrefix(TASK_ID),
  taskPrefix('wc.words.1'),
  taskPrefix('wc.words.'),
  new Uint8Array(0),
);

const keyArb = fc
  .tuple(piecesArb, fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 4 }))
  .map(([piece, cut, tail]) => {
    const head = piece.subarray(0, Math.max(0, piece.length - cut));
    const key = new Uint8Array(head.length + tail.length);
    key.set(head);
    key.set(tail, head.length);
    return key;
  })
  .filter((key) => key.length > 0);

describe('task key checks', () => {
  it('taskKeyWriteProblem answers as taskWriteProblem on the single-key range', () => {
    const areas = taskAreas(TASK_ID);
    fc.assert(
      fc.property(keyArb, (key) => {
        const expected = taskWriteProblem(TASK_ID, { start: key, end: singleKeyEnd(key) }, areas);
        assert.equal(taskKeyWriteProblem(TASK_ID, key, areas), expected);
        assert.equal(taskKeyWriteProblem(TASK_ID, key), expected);
      }),
      { numRuns: 2_000 },
    );
  });
});
