/**
 * fast-check arbitraries of KV requests and commands, shared by the state machine's and the
 * codec's tests (not used by production code). Keys come from a tiny alphabet (0x00, 'a', 'b',
 * 0xff; 1 to 3 bytes) so that random operations collide, and prefixes and range ends meet
 * their edge cases (0xff carries, the "\\0" range end).
 */
import fc from 'fast-check';
import { EMPTY_BYTES } from '../raft/types.js';
import {
  CompareResult,
  CompareTarget,
  type CommandOp,
  type Compare,
  type KeySelection,
  type RangeRequest,
  type RequestOp,
} from './kv-types.js';
import { putRequest, rangeRequest } from './sm-test-util.js';

/** keyArb is a user key. */
export const keyArb = fc
  .array(fc.constantFrom(0x00, 0x61, 0x62, 0xff), { minLength: 1, maxLength: 3 })
  .map((a) => Uint8Array.from(a));
/** valueArb is a short value. */
export const valueArb = fc.uint8Array({ maxLength: 6 });
/** selectionArb is a key selection: one key, a range, all keys from one, or a prefix. */
export const selectionArb: fc.Arbitrary<KeySelection> = fc.oneof(
  keyArb.map((key) => ({ key, rangeEnd: EMPTY_BYTES, prefix: false })),
  fc.tuple(keyArb, keyArb).map(([key, rangeEnd]) => ({ key, rangeEnd, prefix: false })),
  keyArb.map((key) => ({ key, rangeEnd: Uint8Array.of(0), prefix: false })),
  fc
    .oneof(keyArb, fc.constant(EMPTY_BYTES))
    .map((key) => ({ key, rangeEnd: EMPTY_BYTES, prefix: true })),
);
/** rangeArb is a range request with a small limit. */
export const rangeArb: fc.Arbitrary<RangeRequest> = fc
  .record({
    selection: selectionArb,
    limit: fc.nat(4),
    keysOnly: fc.boolean(),
    countOnly: fc.boolean(),
  })
  .map(({ selection, limit, keysOnly, countOnly }) =>
    rangeRequest(selection.key, { ...selection, limit, keysOnly, countOnly }),
  );
/** putArb is a put request. */
export const putArb = fc
  .tuple(keyArb, valueArb, fc.boolean())
  .map(([key, value, prevKv]) => putRequest(key, value, prevKv));
/** deleteArb is a delete request. */
export const deleteArb = fc
  .tuple(selectionArb, fc.boolean())
  .map(([selection, prevKv]) => ({ ...selection, prevKv, header: null }));
/** requestOpArb is a txn op. */
export const requestOpArb: fc.Arbitrary<RequestOp> = fc.oneof(
  rangeArb.map((range) => ({ type: 'range' as const, range })),
  putArb.map((put) => ({ type: 'put' as const, put })),
  deleteArb.map((del) => ({ type: 'delete' as const, delete: del })),
);
/** compareArb is a valid compare (EXISTS only with EQUAL / NOT_EQUAL). */
export const compareArb: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    key: keyArb,
    result: fc.constantFrom(...compareResults()),
    target: fc.constant(CompareTarget.Value as const),
    value: valueArb,
  }),
  fc.record({
    key: keyArb,
    result: fc.constantFrom(...compareResults()),
    target: fc.constant(CompareTarget.ModIndex as const),
    modIndex: fc.nat(30),
  }),
  fc.record({
    key: keyArb,
    result: fc.constantFrom(...compareResults()),
    target: fc.constant(CompareTarget.Version as const),
    version: fc.nat(3),
  }),
  fc.record({
    key: keyArb,
    result: fc.constantFrom(CompareResult.Equal, CompareResult.NotEqual),
    target: fc.constant(CompareTarget.Exists as const),
    exists: fc.boolean(),
  }),
);
/** commandOpArb is a valid command operation. */
export const commandOpArb: fc.Arbitrary<CommandOp> = fc.oneof(
  { weight: 4, arbitrary: putArb.map((put) => ({ type: 'put' as const, put })) },
  { weight: 2, arbitrary: deleteArb.map((del) => ({ type: 'delete' as const, delete: del })) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        compare: fc.array(compareArb, { maxLength: 3 }),
        success: fc.array(requestOpArb, { maxLength: 3 }),
        failure: fc.array(requestOpArb, { maxLength: 3 }),
      })
      .map((txn) => ({ type: 'txn' as const, txn: { ...txn, header: null } })),
  },
);

/** compareResults lists every CompareResult. */
function compareResults(): CompareResult[] {
  return [CompareResult.Equal, CompareResult.NotEqual, CompareResult.Greater, CompareResult.Less];
}
