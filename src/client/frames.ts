/**
 * Request coalescing for the Batch stream. A BatchRequest is `repeated TaggedRequest requests =
 * 1`, and protobuf encodes a repeated field as its elements one after another, so the encoding
 * of a one-request BatchRequest (field tag, length, TaggedRequest) is a "piece", and any run of
 * pieces concatenated IS the encoding of the BatchRequest holding those requests. Each request
 * is therefore encoded once, when it is issued (which also gives its exact size for the limit
 * checks), and a frame is cut from the queue of pieces by count and bytes (LIMITS.
 * batchRequestsMax, batchBytesMax) without re-encoding anything.
 */
import { encodeBatchRequest } from '../store/kv-codec.js';
import { LIMITS } from '../store/kv-limits.js';
import type { AnyRequest } from '../store/kv-types.js';

/** FrameLimits bound one BatchRequest frame. */
export interface FrameLimits {
  requestsMax: number;
  bytesMax: number;
}

/** FRAME_LIMITS are the server's bounds of one BatchRequest (kv-limits.ts). */
export const FRAME_LIMITS: FrameLimits = Object.freeze({
  requestsMax: LIMITS.batchRequestsMax,
  bytesMax: LIMITS.batchBytesMax,
});

/** encodePiece encodes one tagged request as a piece of a BatchRequest frame. */
export function encodePiece(requestId: number, request: AnyRequest): Uint8Array {
  return encodeBatchRequest({ requests: [{ requestId, request }] });
}

/**
 * frameCounts splits a queue of piece sizes into frames, in order: each frame takes as many
 * pieces as fit both limits, and at least one (a single piece is checked against
 * requestBytesMax when it is encoded, far below bytesMax). Returns the piece count per frame.
 */
export function frameCounts(
  sizes: readonly number[],
  limits: FrameLimits = FRAME_LIMITS,
): number[] {
  if (limits.requestsMax < 1 || limits.bytesMax < 1) {
    throw new RangeError(`frame limits must be positive, got ${JSON.stringify(limits)}`);
  }
  const counts: number[] = [];
  let count = 0;
  let bytes = 0;
  for (const size of sizes) {
    if (count > 0 && (count + 1 > limits.requestsMax || bytes + size > limits.bytesMax)) {
      counts.push(count);
      count = 0;
      bytes = 0;
    }
    count++;
    bytes += size;
  }
  if (count > 0) counts.push(count);
  return counts;
}

/** joinPieces concatenates pieces into one frame (one copy; a single piece is returned as is). */
export function joinPieces(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const frame = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const piece of pieces) {
    frame.set(piece, offset);
    offset += piece.length;
  }
  return frame;
}

/** cutFrames turns a queue of pieces into frames within `limits` (see frameCounts). */
export function cutFrames(
  pieces: readonly Uint8Array[],
  limits: FrameLimits = FRAME_LIMITS,
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  for (const count of frameCounts(
    pieces.map((piece) => piece.length),
    limits,
  )) {
    frames.push(joinPieces(pieces.slice(at, at + count)));
    at += count;
  }
  return frames;
}
