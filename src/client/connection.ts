/**
 * NodeConnection is the client's pipe to one store node: ONE long-lived Batch stream carrying
 * every request for that node. Requests issued in the same tick are coalesced into as few
 * BatchRequest frames as the limits allow (frames.ts) and written together; answers come back
 * in any order and are matched by request id. A broken stream fails the requests it carried (a
 * TransportError saying whether the request had been sent) and the next request opens a new
 * stream. Requests in flight are bounded (`inflightMax`; the rest wait in the outbox), and one
 * that gets no answer within `attemptTimeoutMs` fails, so a hung node cannot hold a call for
 * its whole deadline.
 */
import type * as grpc from '@grpc/grpc-js';
import { decodeBatchResponse } from '../store/kv-codec.js';
import type { AnyResponse } from '../store/kv-types.js';
import { KV_BATCH_PATH, deserializeBytes, grpcErrorText, serializeBytes } from './channels.js';
import { cutFrames, type FrameLimits, FRAME_LIMITS } from './frames.js';

/** CONNECTION_DEFAULTS are the defaults of ConnectionOptions. */
export const CONNECTION_DEFAULTS = Object.freeze({
  inflightMax: 8_192,
  attemptTimeoutMs: 2_000,
  /** After a stream fails, requests fail fast (unsent) for this long, so callers go elsewhere. */
  downMs: 100,
  /** After a node fell silent (no frame for attemptTimeoutMs), it is avoided this long. */
  silentDownMs: 1_000,
});

/** ConnectionOptions tune one NodeConnection. */
export interface ConnectionOptions {
  inflightMax?: number;
  attemptTimeoutMs?: number;
  downMs?: number;
  silentDownMs?: number;
  frameLimits?: FrameLimits;
}

/** TransportError says a request got no answer: the stream broke, or the node was silent. */
export class TransportError extends Error {
  /** code is the retry table's TRANSPORT_FAILURE. */
  readonly code = 'TRANSPORT';
  /** sent is false when the request surely never left the client. */
  readonly sent: boolean;
  constructor(message: string, sent: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.sent = sent;
  }
}

/** Entry is one request waiting for its answer. */
interface Entry {
  piece: Uint8Array | null;
  sentAt: number;
  resolve(response: AnyResponse): void;
  reject(error: TransportError): void;
}

type BatchStream = grpc.ClientDuplexStream<Uint8Array, Uint8Array>;

/** NodeConnection multiplexes requests to one node over one Batch stream. */
export class NodeConnection {
  /** address is the node's host:port. */
  readonly address: string;
  readonly #client: grpc.Client;
  readonly #inflightMax: number;
  readonly #attemptTimeoutMs: number;
  readonly #downMs: number;
  readonly #silentDownMs: number;
  readonly #frameLimits: FrameLimits;
  /** pending holds every request without an answer, sent or not, in issue order. */
  readonly #pending = new Map<number, Entry>();
  /** outbox holds the ids of pending requests not yet written (in order). */
  #outbox: number[] = [];
  /** Invariant: inflight counts entries of #pending with piece === null (written). */
  #inflight = 0;
  #stream: BatchStream | null = null;
  #flushScheduled = false;
  #draining = false;
  #downUntil = 0;
  /** lastFrameAt is when the stream last delivered a frame (or was opened). */
  #lastFrameAt = 0;
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;
  /** framesSent counts frames written (tests check coalescing with it). */
  framesSent = 0;

  constructor(address: string, client: grpc.Client, options: ConnectionOptions = {}) {
    this.address = address;
    this.#client = client;
    this.#inflightMax = options.inflightMax ?? CONNECTION_DEFAULTS.inflightMax;
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? CONNECTION_DEFAULTS.attemptTimeoutMs;
    this.#downMs = options.downMs ?? CONNECTION_DEFAULTS.downMs;
    this.#silentDownMs = options.silentDownMs ?? CONNECTION_DEFAULTS.silentDownMs;
    this.#frameLimits = options.frameLimits ?? FRAME_LIMITS;
  }

  /** pendingCount is the number of requests without an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * send queues an encoded request (a frame piece, see frames.ts) under `requestId`, unique
   * among this connection's pending requests; resolves with its answer.
   */
  send(requestId: number, piece: Uint8Array): Promise<AnyResponse> {
    if (this.#closed) return Promise.reject(new TransportError('connection closed', false));
    if (Date.now() < this.#downUntil) {
      const message = `${this.address}: stream failed moments ago`;
      return Promise.reject(new TransportError(message, false));
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { piece, sentAt: 0, resolve, reject });
      this.#outbox.push(requestId);
      this.#scheduleFlush();
    });
  }

  /** forget drops a request whose caller gave up; a late answer is ignored. */
  forget(requestId: number): void {
    const entry = this.#pending.get(requestId);
    if (!entry) return;
    this.#pending.delete(requestId);
    if (entry.piece === null) this.#inflight--;
  }

  /** close fails every pending request and ends the stream. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new TransportError(`${this.address}: connection closed`, true), null);
    const stream = this.#stream;
    this.#stream = null;
    stream?.cancel();
    if (this.#sweeper) clearInterval(this.#sweeper);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#draining) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** #flush writes queued requests, up to the in-flight bound, as coalesced frames. */
  #flush(): void {
    if (this.#closed || this.#draining || this.#outbox.length === 0) return;
    const stream = this.#stream ?? this.#open();
    const room = this.#inflightMax - this.#inflight;
    const pieces: Uint8Array[] = [];
    const now = Date.now();
    let taken = 0;
    while (taken < this.#outbox.length && pieces.length < room) {
      const entry = this.#pending.get(this.#outbox[taken]!);
      taken++;
      if (!entry || entry.piece === null) continue; // forgotten meanwhile
      pieces.push(entry.piece);
      entry.piece = null;
      entry.sentAt = now;
      this.#inflight++;
    }
    this.#outbox = this.#outbox.slice(taken);
    let writable = true;
    for (const frame of cutFrames(pieces, this.#frameLimits)) {
      writable = stream.write(frame);
      this.framesSent++;
    }
    this.#armSweeper();
    if (!writable) this.#draining = true;
  }

  #open(): BatchStream {
    const stream = this.#client.makeBidiStreamRequest<Uint8Array, Uint8Array>(
      KV_BATCH_PATH,
      serializeBytes,
      deserializeBytes,
    );
    this.#stream = stream;
    this.#lastFrameAt = Date.now();
    stream.on('data', (frame: Uint8Array) => this.#onFrame(stream, frame));
    stream.on('drain', () => {
      this.#draining = false;
      this.#scheduleFlush();
    });
    const broken = (error?: unknown): void => this.#onBroken(stream, error);
    stream.on('error', broken);
    stream.on('end', () => broken());
    stream.on('close', () => broken());
    return stream;
  }

  #onFrame(stream: BatchStream, frame: Uint8Array): void {
    if (stream !== this.#stream) return;
    this.#lastFrameAt = Date.now();
    let responses;
    try {
      responses = decodeBatchResponse(frame).responses;
    } catch (error) {
      // The node sent garbage: this stream cannot be trusted; fail what it carried.
      this.#onBroken(stream, error);
      stream.cancel();
      return;
    }
    for (const tagged of responses) {
      const entry = this.#pending.get(tagged.requestId);
      if (!entry || entry.piece !== null) continue; // forgotten, or not sent on this stream
      this.#pending.delete(tagged.requestId);
      this.#inflight--;
      entry.resolve(tagged.response);
    }
    if (this.#outbox.length > 0) this.#scheduleFlush();
  }

  #onBroken(stream: BatchStream, error: unknown, downMs = this.#downMs): void {
    if (stream !== this.#stream) return;
    this.#stream = null;
    this.#draining = false;
    this.#downUntil = Date.now() + downMs;
    const detail = error === undefined ? 'stream ended' : grpcErrorText(error);
    this.#failAll(new TransportError(`${this.address}: ${detail}`, true, { cause: error }), error);
  }

  /** #failAll fails every pending request; those never written fail as unsent. */
  #failAll(sentError: TransportError, cause: unknown): void {
    const entries = [...this.#pending.values()];
    this.#pending.clear();
    this.#outbox = [];
    this.#inflight = 0;
    for (const entry of entries) {
      if (entry.piece === null) entry.reject(sentError);
      else entry.reject(new TransportError(sentError.message, false, { cause }));
    }
  }

  /** #armSweeper runs #sweep while requests are in flight. */
  #armSweeper(): void {
    if (this.#sweeper || this.#inflight === 0) return;
    const period = Math.max(10, Math.floor(this.#attemptTimeoutMs / 4));
    this.#sweeper = setInterval(() => this.#sweep(), period);
    this.#sweeper.unref();
  }

  /**
   * #sweep fails requests written longer than attemptTimeoutMs ago (oldest first). If the
   * stream delivered nothing for that long either, the node is silent (hung, partitioned):
   * the stream is dropped with everything it carried, and the node avoided for silentDownMs.
   */
  #sweep(): void {
    const now = Date.now();
    const expiredBefore = now - this.#attemptTimeoutMs;
    const ms = this.#attemptTimeoutMs;
    for (const [requestId, entry] of this.#pending) {
      if (entry.piece !== null) continue;
      if (entry.sentAt > expiredBefore) break;
      if (this.#stream && this.#lastFrameAt <= expiredBefore) {
        const stream = this.#stream;
        const silent = new Error(`node silent: no frame for ${now - this.#lastFrameAt} ms`);
        this.#onBroken(stream, silent, this.#silentDownMs);
        stream.cancel();
        break;
      }
      this.#pending.delete(requestId);
      this.#inflight--;
      entry.reject(new TransportError(`${this.address}: no answer within ${ms} ms`, true));
    }
    if (this.#inflight === 0 && this.#sweeper) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  }
}
