/**
 * gRPC method definitions over raw bytes. Strata encodes and decodes its messages itself with
 * its validated protobuf codecs, so every service here is defined with pass-through
 * (de)serializers: the handler gets the frame's bytes and decides what a malformed one means.
 */
import type * as grpc from '@grpc/grpc-js';

/** toBuffer views bytes as a Buffer without copying. */
export const toBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** fromBuffer hands received bytes on unchanged. */
export const fromBuffer = (bytes: Buffer): Uint8Array => bytes;

/** rawMethod defines `/<service>/<name>` with raw-bytes (de)serializers. */
export function rawMethod(
  service: string,
  name: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return {
    path: `/${service}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: toBuffer,
    requestDeserialize: fromBuffer,
    responseSerialize: toBuffer,
    responseDeserialize: fromBuffer,
  };
}
