/**
 * AdminCalls: a store node's client of its peers' Admin service (layout polling, passing a
 * change on to the metadata leader, the mover's status and membership calls). One gRPC client
 * per address, unary calls with a deadline, raw bytes in and out (admin-gen encodes them).
 */
import * as grpc from '@grpc/grpc-js';
import { toBuffer } from './grpc-methods.js';
import { TRANSPORT_LIMITS } from './transport.js';

/** AdminMethod names an Admin RPC. */
export type AdminMethod = 'Cluster' | 'Status' | 'Change' | 'GroupChange';

/** AdminCallError is a failed Admin call: gRPC's status code and its details. */
export class AdminCallError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminCallError';
  }
}

/** AdminCalls makes Admin calls to other nodes. */
export class AdminCalls {
  readonly #clients = new Map<string, grpc.Client>();
  #closed = false;

  /** call sends `request` to `address`'s Admin.`method`; rejects with AdminCallError. */
  call(
    address: string,
    method: AdminMethod,
    request: Uint8Array,
    deadlineMs: number,
  ): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new AdminCallError(1, 'admin calls closed'));
    const client = this.#client(address);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/strata.admin.Admin/${method}`,
        toBuffer,
        (bytes: Buffer) => bytes,
        request,
        { deadline: Date.now() + deadlineMs },
        (error: grpc.ServiceError | null, response?: Uint8Array) => {
          if (error || !response) {
            const code = error?.code ?? grpc.status.UNKNOWN;
            reject(new AdminCallError(code, error?.details || error?.message || 'no answer'));
          } else resolve(response);
        },
      );
    });
  }

  /** close closes every client. */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #client(address: string): grpc.Client {
    let client = this.#clients.get(address);
    if (!client) {
      client = new grpc.Client(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': TRANSPORT_LIMITS.frameBytesMax,
        'grpc.max_send_message_length': TRANSPORT_LIMITS.frameBytesMax,
        // A restarted node is reached again within a second, not after gRPC's default backoff.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
      });
      this.#clients.set(address, client);
    }
    return client;
  }
}
