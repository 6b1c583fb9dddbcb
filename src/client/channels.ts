/**
 * gRPC plumbing of the client: the method paths it calls (the services are defined by hand on
 * raw bytes, like PEER_SERVICE in src/store/transport.ts, and encoded with the codecs), one
 * grpc.Client per node address, and unary calls bounded by a deadline and an AbortSignal.
 */
import * as grpc from '@grpc/grpc-js';
import { UnavailableError } from './errors.js';

/** KV_BATCH_PATH is the pipelined stream of strata.kv.Kv. */
export const KV_BATCH_PATH = '/strata.kv.Kv/Batch';
/** ADMIN_CLUSTER_PATH is the unary call that returns the cluster's layout. */
export const ADMIN_CLUSTER_PATH = '/strata.admin.Admin/Cluster';
/** ADMIN_STATUS_PATH is the unary call that returns a node's status. */
export const ADMIN_STATUS_PATH = '/strata.admin.Admin/Status';

/** CHANNEL_LIMITS are the client's gRPC channel bounds. */
export const CHANNEL_LIMITS = Object.freeze({
  /** Largest message received (a BatchResponse of many range pages, a big layout). */
  receiveBytesMax: 64 * 1024 * 1024,
  /** Largest message sent: one BatchRequest frame (LIMITS.batchBytesMax) with room to spare. */
  sendBytesMax: 16 * 1024 * 1024,
  keepaliveMs: 10_000,
});

/** serializeBytes hands bytes to gRPC without copying. */
export const serializeBytes = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
/** deserializeBytes hands received bytes over as they are. */
export const deserializeBytes = (bytes: Buffer): Uint8Array => bytes;

/** ChannelPool holds one grpc.Client (one HTTP/2 connection) per node address. */
export class ChannelPool {
  readonly #clients = new Map<string, grpc.Client>();
  #closed = false;

  /** get returns the client of `address`, creating it on first use. */
  get(address: string): grpc.Client {
    if (this.#closed) throw new UnavailableError('the Strata client is closed');
    let client = this.#clients.get(address);
    if (!client) {
      client = new grpc.Client(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': CHANNEL_LIMITS.receiveBytesMax,
        'grpc.max_send_message_length': CHANNEL_LIMITS.sendBytesMax,
        'grpc.keepalive_time_ms': CHANNEL_LIMITS.keepaliveMs,
        // Fail fast and retry elsewhere rather than reconnecting slowly to a dead node.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
      });
      this.#clients.set(address, client);
    }
    return client;
  }

  /** close closes every channel. */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

/** UnaryOptions bound one unary call. */
export interface UnaryOptions {
  deadlineMs: number;
  signal?: AbortSignal;
}

/**
 * unaryCall sends one request and resolves with the answer's bytes; it rejects with the
 * grpc.ServiceError (or an UnavailableError on abort) and never outlives `deadlineMs`.
 */
export function unaryCall(
  client: grpc.Client,
  path: string,
  request: Uint8Array,
  options: UnaryOptions,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new UnavailableError(`${path}: aborted`, { cause: options.signal.reason }));
      return;
    }
    const deadline = new Date(Date.now() + options.deadlineMs);
    const call = client.makeUnaryRequest<Uint8Array, Uint8Array>(
      path,
      serializeBytes,
      deserializeBytes,
      request,
      new grpc.Metadata(),
      { deadline },
      (error, response) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else if (!response) reject(new UnavailableError(`${path}: empty answer`));
        else resolve(response);
      },
    );
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** grpcErrorText renders a gRPC failure as one line. */
export function grpcErrorText(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && 'details' in error) {
    const e = error as grpc.ServiceError;
    const name = grpc.status[e.code] ?? String(e.code);
    const details = (e.details || e.message)
      .replace(/\s*Resolution note:\s*$/, '')
      .replace(/Last error: Error: /, 'last error: ');
    return `${name}: ${details}`;
  }
  return error instanceof Error ? error.message : String(error);
}
