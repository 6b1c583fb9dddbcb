/**
 * Tests of the KV codec (kv-codec.ts). What they prove:
 * 1. Round trips: random commands, and batches of every request and response kind, decode to
 *    what was encoded; decoded bytes never alias the input.
 * 2. Validation at the edge: bytes that are not protobuf, uint64 values above 2^53 - 1, unknown
 *    enum values, a Compare operand that does not match its target, and a missing oneof each
 *    throw MalformedError (code MALFORMED) naming the field; oversized
 *    input throws LimitError RESOURCE_EXHAUSTED naming the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EMPTY_BYTES, type GroupId, type NodeId } from '../raft/types.js';
import {
  decodeBatchRequest,
  decodeBatchResponse,
  decodeCommand,
  decodeCommandResult,
  decodePutRequest,
  decodeRangeRequest,
  decodeTxnResponse,
  encodeBatchRequest,
  encodeBatchResponse,
  encodeCommand,
  encodeCommandResult,
  encodePutRequest,
} from './kv-codec.js';
import { LimitError, MalformedError } from './kv-errors.js';
import { strata } from './kv-gen/kv.js';
import { LIMITS } from './kv-limits.js';
import type { BatchRequest, BatchResponse, KeyValue, ResponseHeader } from './kv-types.js';
import { commandOpArb, putArb, rangeArb } from './sm-test-arbitraries.js';
import { bytes, deleteRequest, normalize, putRequest, rangeRequest } from './sm-test-util.js';

const wire = strata.kv;
const header: ResponseHeader = {
  groupId: 3 as GroupId,
  appliedIndex: 2 ** 53 - 1,
  leaderId: 2 as NodeId,
  epoch: 9,
};
const kv: KeyValue = {
  key: bytes('k'),
  value: bytes('v'),
  modIndex: 5,
  createIndex: 4,
  version: 2,
};

describe('kv codec round trips', () => {
  it('decodes random commands to what was encoded', () => {
    const commandArb = fc.record({
      clientId: fc.maxSafeNat(),
      seq: fc.maxSafeNat(),
      op: commandOpArb,
    });
    fc.assert(
      fc.property(commandArb, (command) => {
        assert.deepEqual(normalize(decodeCommand(encodeCommand(command))), normalize(command));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes batches of every request and response kind', () => {
    fc.assert(
      fc.property(rangeArb, putArb, (range, put) => {
        const batch: BatchRequest = {
          requests: [
            { requestId: 1, request: { type: 'range', range } },
            { requestId: 2, request: { type: 'put', put } },
            { requestId: 3, request: { type: 'delete', delete: deleteRequest(bytes('d')) } },
            {
              requestId: 2 ** 53 - 1,
              request: {
                type: 'txn',
                txn: { compare: [], success: [], failure: [], header: null },
              },
            },
          ],
        };
        assert.deepEqual(
          normalize(decodeBatchRequest(encodeBatchRequest(batch))),
          normalize(batch),
        );
      }),
      { numRuns: 100 },
    );
    const responses: BatchResponse = {
      responses: [
        {
          requestId: 1,
          response: {
            type: 'range',
            range: { header, kvs: [kv], more: true, count: 1, nextPageToken: bytes('t') },
          },
        },
        { requestId: 2, response: { type: 'put', put: { header, prevKv: kv } } },
        { requestId: 3, response: { type: 'delete', delete: { header, deleted: 1, prevKvs: [] } } },
        {
          requestId: 4,
          response: {
            type: 'txn',
            txn: {
              header,
              succeeded: false,
              responses: [{ type: 'put', put: { header, prevKv: null } }],
            },
          },
        },
        {
          requestId: 5,
          response: {
            type: 'error',
            error: { code: 'NOT_LEADER', message: 'm', limit: '', leaderId: 7 as NodeId, epoch: 1 },
          },
        },
      ],
    };
    const decoded = decodeBatchResponse(encodeBatchResponse(responses));
    assert.deepEqual(normalize(decoded), normalize(responses));
    const result = { type: 'put' as const, put: { header, prevKv: null } };
    assert.deepEqual(decodeCommandResult(encodeCommandResult(result)), result);
  });

  it('never aliases the input buffer', () => {
    const input = encodePutRequest(putRequest(bytes('key'), bytes('value')));
    const decoded = decodePutRequest(input);
    input.fill(0);
    assert.equal(Buffer.from(decoded.value).toString(), 'value');
    assert.equal(decoded.header, null);
    assert.equal(decodePutRequest(new Uint8Array(0)).key, EMPTY_BYTES);
  });
});

describe('kv codec validation', () => {
  function malformed(field: string): (error: unknown) => boolean {
    return (error) => {
      assert.ok(error instanceof MalformedError, String(error));
      assert.equal(error.code, 'MALFORMED');
      assert.equal(error.field, field);
      return true;
    };
  }
  const put = { key: bytes('k'), value: bytes('v') };

  it('rejects bytes that are not protobuf, and non-bytes', () => {
    assert.throws(() => decodeCommand(Uint8Array.of(0xff, 0xff, 0xff)), malformed(''));
    assert.throws(() => decodeCommand(Uint8Array.of(0x1a, 0x05, 0x0a)), malformed(''));
    assert.throws(() => decodeCommand('text' as unknown as Uint8Array), malformed(''));
  });

  it('rejects unsafe integers, unknown enums and missing oneofs, naming the field', () => {
    const unsafe = wire.Command.encode({ clientId: 2 ** 53, put }).finish();
    assert.throws(() => decodeCommand(unsafe), malformed('clientId'));
    const unsafeLimit = wire.RangeRequest.encode({ key: bytes('k'), limit: 2 ** 60 }).finish();
    assert.throws(() => decodeRangeRequest(unsafeLimit), malformed('limit'));
    const enumValue = wire.RangeRequest.encode({
      key: bytes('k'),
      consistency: 7 as never,
    }).finish();
    assert.throws(() => decodeRangeRequest(enumValue), malformed('consistency'));
    assert.throws(() => decodeCommand(wire.Command.encode({ seq: 1 }).finish()), malformed('op'));
    const opWithoutRequest = wire.Command.encode({ txn: { success: [{}] } }).finish();
    assert.throws(() => decodeCommand(opWithoutRequest), malformed('txn.success[0].request'));
    const txnResult = wire.TxnResponse.encode({ responses: [{ range: { count: 2 ** 54 } }] });
    assert.throws(
      () => decodeTxnResponse(txnResult.finish()),
      malformed('responses[0].range.count'),
    );
  });

  it('rejects a compare operand that does not match its target', () => {
    const compare = { key: bytes('k'), target: 2 /* VERSION */, value: bytes('1') };
    const bad = wire.Command.encode({ txn: { compare: [compare] } }).finish();
    assert.throws(() => decodeCommand(bad), malformed('txn.compare[0].targetUnion'));
    const unset = wire.Command.encode({ txn: { compare: [{ key: bytes('k'), target: 1 }] } });
    const decoded = decodeCommand(unset.finish());
    assert.equal(decoded.op.type === 'txn' && decoded.op.txn.compare[0].target, 1);
  });

  it('rejects oversized input with the limit named', () => {
    const big = encodePutRequest(putRequest(bytes('k'), new Uint8Array(LIMITS.requestBytesMax)));
    assert.throws(
      () => decodePutRequest(big),
      (error: unknown) =>
        error instanceof LimitError &&
        error.code === 'RESOURCE_EXHAUSTED' &&
        error.limit === 'requestBytesMax',
    );
    const many: BatchRequest = {
      requests: Array.from({ length: LIMITS.batchRequestsMax + 1 }, (_, i) => ({
        requestId: i,
        request: { type: 'range' as const, range: rangeRequest(bytes('k')) },
      })),
    };
    assert.throws(
      () => decodeBatchRequest(encodeBatchRequest(many)),
      (error: unknown) => error instanceof LimitError && error.limit === 'batchRequestsMax',
    );
  });
});
