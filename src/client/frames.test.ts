// Proves request coalescing: pieces (one-request BatchRequests) concatenated decode as one
// BatchRequest holding every request in order, and frames are cut so no frame exceeds the
// request count or byte limit while every piece is sent exactly once, in order (fast-check).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { GroupId } from '../raft/index.js';
import { decodeBatchRequest } from '../store/kv-codec.js';
import type { AnyRequest } from '../store/kv-types.js';
import { cutFrames, encodePiece, frameCounts, joinPieces } from './frames.js';

function put(key: string, valueBytes: number): AnyRequest {
  return {
    type: 'put',
    put: {
      key: Buffer.from(key),
      value: new Uint8Array(valueBytes),
      prevKv: false,
      header: { groupId: 7 as GroupId, epoch: 1, clientId: 42, seq: 3 },
    },
  };
}

describe('frames', () => {
  it('concatenated pieces are one BatchRequest with the requests in order', () => {
    const pieces = [1, 2, 3].map((id) => encodePiece(id, put(`k${id}`, id * 10)));
    const batch = decodeBatchRequest(joinPieces(pieces));
    assert.deepEqual(
      batch.requests.map((r) => r.requestId),
      [1, 2, 3],
    );
    const first = batch.requests[0]!.request;
    assert.equal(first.type, 'put');
    if (first.type === 'put') {
      assert.equal(Buffer.from(first.put.key).toString(), 'k1');
      assert.deepEqual(first.put.header, { groupId: 7, epoch: 1, clientId: 42, seq: 3 });
    }
  });

  it('cuts by count and by bytes', () => {
    assert.deepEqual(frameCounts([1, 1, 1, 1, 1], { requestsMax: 2, bytesMax: 100 }), [2, 2, 1]);
    assert.deepEqual(frameCounts([60, 30, 20, 90], { requestsMax: 10, bytesMax: 100 }), [2, 1, 1]);
    assert.deepEqual(frameCounts([], { requestsMax: 1, bytesMax: 1 }), []);
    assert.deepEqual(frameCounts([500], { requestsMax: 4, bytesMax: 100 }), [1], 'never empty');
  });

  it('sends every piece once, in order, within the limits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 400, max: 2000 }),
        (sizes, requestsMax, bytesMax) => {
          const pieces = sizes.map((size, i) => encodePiece(i + 1, put(`k${i}`, size)));
          const frames = cutFrames(pieces, { requestsMax, bytesMax });
          const ids = frames.flatMap((frame) => {
            assert.ok(frame.length <= bytesMax, `frame of ${frame.length} > ${bytesMax}`);
            const requests = decodeBatchRequest(frame).requests;
            assert.ok(requests.length >= 1 && requests.length <= requestsMax);
            return requests.map((r) => r.requestId);
          });
          assert.deepEqual(
            ids,
            sizes.map((_, i) => i + 1),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
