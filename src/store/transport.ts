/**
 * PeerTransport carries Raft traffic between store nodes over gRPC (@grpc/grpc-js):
 * - one long-lived client stream per destination node carries MessageBatch frames holding the
 *   messages of every group for that node (each node dials its own stream to each peer);
 * - a separate bidirectional stream per snapshot carries one group's image in chunks, with
 *   back-pressure and resumption (see snapshot-sender.ts / snapshot-receiver.ts).
 * Every call carries the cluster id and the sender's node id as metadata; a peer of another
 * cluster is refused, and a frame that does not decode closes that stream only.
 */
import * as grpc from '@grpc/grpc-js';
import { fromBuffer, rawMethod, toBuffer } from './grpc-methods.js';
import {
  MessageDecodeError,
  decodeMessageBatch,
  decodeSnapshotAck,
  decodeSnapshotChunk,
  decodeStreamEnd,
  encodeMessageBatch,
  encodeSnapshotAck,
  encodeSnapshotChunk,
  encodeStreamEnd,
  type Message,
  type NodeId,
  type SnapshotAck,
  type SnapshotChunk,
} from '../raft/index.js';

/** TRANSPORT_LIMITS names the transport's bounds (documented in docs/operations.md). */
export const TRANSPORT_LIMITS = {
  /** Largest frame a node accepts on any peer stream (gRPC max receive message length). */
  frameBytesMax: 16 * 1024 * 1024,
  /** A MessageBatch is cut before it grows past this many bytes of entry payload. */
  batchBytesTarget: 4 * 1024 * 1024,
  /** Frames buffered on one peer stream before further messages are dropped (Raft resends). */
  streamFramesBufferedMax: 1024,
  /** After a stream to a peer fails, do not redial it for this long. */
  redialBackoffMs: 200,
} as const;

/** PEER_SERVICE is the gRPC definition of strata.raft.Peer (frames are encoded by hand). */
export const PEER_SERVICE: grpc.ServiceDefinition = {
  raft: rawMethod('strata.raft.Peer', 'Raft', true, false),
  snapshot: rawMethod('strata.raft.Peer', 'Snapshot', true, true),
};

/** METADATA_CLUSTER_ID and METADATA_NODE_ID are the gRPC metadata keys of every peer call. */
export const METADATA_CLUSTER_ID = 'strata-cluster-id';
export const METADATA_NODE_ID = 'strata-node-id';

/** SnapshotStreamHandler receives one incoming snapshot stream (implemented by the node). */
export interface SnapshotStreamHandler {
  /** begin validates the header; returns the offset to resume from, or throws to refuse. */
  begin(from: NodeId, message: Message, imageBytes: number): Promise<number>;
  /** data stores bytes at `offset` of the image (called in order, awaited: back-pressure). */
  data(offset: number, bytes: Uint8Array): Promise<void>;
  /** end completes the image (all bytes received) and hands it to Raft. */
  end(): Promise<void>;
  /** abort is called when the stream broke before end (the prefix stays for a resume). */
  abort(reason: string): void;
}

/** TransportHandlers is how the transport hands incoming traffic to the node. */
export interface TransportHandlers {
  onMessages(messages: Message[], from: NodeId): void;
  onSnapshot(): SnapshotStreamHandler;
  /** onUnreachable reports messages to `to` that could not be sent (for reportUnreachable). */
  onUnreachable(to: NodeId, messages: Message[]): void;
}

/** TransportStats counts what the transport did (shown by `strata status`). */
export interface TransportStats {
  framesSent: number;
  framesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  messagesDropped: number;
  framesRejected: number;
  peersRefused: number;
}

interface PeerLink {
  client: grpc.Client;
  stream: grpc.ClientWritableStream<Uint8Array> | null;
  buffered: number;
  retryAfterMs: number;
  address: string;
}

/** PeerTransport sends and receives Raft traffic for one node. */
export class PeerTransport {
  readonly stats: TransportStats = {
    framesSent: 0,
    framesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    messagesDropped: 0,
    framesRejected: 0,
    peersRefused: 0,
  };
  private readonly links = new Map<NodeId, PeerLink>();
  /** lastHeardMs: when a frame last arrived from each peer (node-level liveness). */
  private readonly lastHeardMs = new Map<NodeId, number>();
  /** lastSentMs: when a frame last left for each peer (pings fill the silences). */
  private readonly lastSentMs = new Map<NodeId, number>();
  private readonly startedMs: number;
  private closed = false;

  constructor(
    private readonly nodeId: NodeId,
    private readonly clusterId: string,
    private readonly addressOf: (node: NodeId) => string | undefined,
    private readonly handlers: TransportHandlers,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.startedMs = now();
  }

  /**
   * ping sends an empty batch to every peer that was sent nothing within `intervalMs`: groups
   * that quiesced send nothing, and peers judge a node alive by its frames (silentPeers).
   */
  ping(peers: readonly NodeId[], intervalMs: number): void {
    const now = this.now();
    for (const peer of peers) {
      if (now - (this.lastSentMs.get(peer) ?? 0) >= intervalMs) this.sendTo(peer, []);
    }
  }

  /** silentPeers lists the peers nothing was heard from for `silenceMs` (dead or cut off). */
  silentPeers(peers: readonly NodeId[], silenceMs: number): NodeId[] {
    const now = this.now();
    return peers.filter((peer) => now - (this.lastHeardMs.get(peer) ?? this.startedMs) > silenceMs);
  }

  /** implementation returns the server-side handlers to register with PEER_SERVICE. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      raft: (
        call: grpc.ServerReadableStream<Buffer, Uint8Array>,
        done: grpc.sendUnaryData<Uint8Array>,
      ) => this.serveRaft(call, done),
      snapshot: (call: grpc.ServerDuplexStream<Buffer, Uint8Array>) => this.serveSnapshot(call),
    };
  }

  /** send groups messages by destination node and writes one batch (or a few) per node. */
  send(messages: readonly Message[]): void {
    const byNode = new Map<NodeId, Message[]>();
    for (const m of messages) {
      let list = byNode.get(m.to);
      if (!list) byNode.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, list] of byNode) this.sendTo(to, list);
  }

  private sendTo(to: NodeId, messages: Message[]): void {
    const link = this.link(to);
    const stream = link ? this.openStream(to, link) : null;
    if (!link || !stream || link.buffered >= TRANSPORT_LIMITS.streamFramesBufferedMax) {
      this.stats.messagesDropped += messages.length;
      this.handlers.onUnreachable(to, messages);
      return;
    }
    this.lastSentMs.set(to, this.now());
    for (const batch of splitBatches(messages)) {
      link.buffered++;
      stream.write(encodeMessageBatch(batch), () => {
        link.buffered = Math.max(0, link.buffered - 1);
      });
      this.stats.framesSent++;
      this.stats.messagesSent += batch.length;
    }
  }

  private link(to: NodeId): PeerLink | null {
    const address = this.addressOf(to);
    if (address === undefined || this.closed) return null;
    let link = this.links.get(to);
    if (link && link.address !== address) {
      link.client.close();
      link = undefined;
    }
    if (!link) {
      const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': TRANSPORT_LIMITS.frameBytesMax,
        'grpc.max_send_message_length': TRANSPORT_LIMITS.frameBytesMax,
        'grpc.keepalive_time_ms': 10_000,
      });
      link = { client, stream: null, buffered: 0, retryAfterMs: 0, address };
      this.links.set(to, link);
    }
    return link;
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set(METADATA_CLUSTER_ID, this.clusterId);
    metadata.set(METADATA_NODE_ID, String(this.nodeId));
    return metadata;
  }

  private openStream(to: NodeId, link: PeerLink): grpc.ClientWritableStream<Uint8Array> | null {
    if (link.stream) return link.stream;
    if (this.now() < link.retryAfterMs) return null;
    const def = PEER_SERVICE.raft;
    const stream = link.client.makeClientStreamRequest<Uint8Array, Uint8Array>(
      def.path,
      toBuffer,
      fromBuffer,
      this.metadata(),
      {},
      (error, response) => {
        if (link.stream === stream) link.stream = null;
        link.buffered = 0;
        const refusal = error ? error.details : response ? decodeStreamEnd(response) : '';
        if (error || refusal) link.retryAfterMs = this.now() + TRANSPORT_LIMITS.redialBackoffMs;
        if (error?.code === grpc.status.FAILED_PRECONDITION) this.stats.peersRefused++;
        void to;
      },
    );
    link.stream = stream;
    return stream;
  }

  /** checkPeer verifies the caller's cluster id; returns its node id or an error status. */
  private checkPeer(metadata: grpc.Metadata): { from: NodeId } | grpc.ServiceError {
    const cluster = String(metadata.get(METADATA_CLUSTER_ID)[0] ?? '');
    const from = Number(metadata.get(METADATA_NODE_ID)[0] ?? 0);
    if (cluster !== this.clusterId) {
      this.stats.peersRefused++;
      return serviceError(
        grpc.status.FAILED_PRECONDITION,
        `cluster id mismatch: this node is in cluster '${this.clusterId}', the caller in '${cluster}'`,
      );
    }
    if (!Number.isSafeInteger(from) || from <= 0) {
      this.stats.peersRefused++;
      return serviceError(grpc.status.INVALID_ARGUMENT, `bad ${METADATA_NODE_ID} '${from}'`);
    }
    return { from: from as NodeId };
  }

  private serveRaft(
    call: grpc.ServerReadableStream<Buffer, Uint8Array>,
    done: grpc.sendUnaryData<Uint8Array>,
  ): void {
    const peer = this.checkPeer(call.metadata);
    if ('code' in peer) {
      done(peer);
      return;
    }
    let finished = false;
    const finish = (error: grpc.ServiceError | null): void => {
      if (finished) return;
      finished = true;
      done(error, error ? undefined : encodeStreamEnd(''));
    };
    call.on('data', (frame: Buffer) => {
      if (finished) return;
      let messages: Message[];
      try {
        messages = decodeMessageBatch(frame);
      } catch (error) {
        if (!(error instanceof MessageDecodeError)) throw error;
        this.stats.framesRejected++;
        finish(serviceError(grpc.status.INVALID_ARGUMENT, error.message));
        return;
      }
      this.stats.framesReceived++;
      this.stats.messagesReceived += messages.length;
      this.lastHeardMs.set(peer.from, this.now());
      this.handlers.onMessages(messages, peer.from);
    });
    call.on('end', () => finish(null));
    call.on('error', () => finish(null));
  }

  private serveSnapshot(call: grpc.ServerDuplexStream<Buffer, Uint8Array>): void {
    const peer = this.checkPeer(call.metadata);
    if ('code' in peer) {
      call.emit('error', peer);
      return;
    }
    const handler = this.handlers.onSnapshot();
    const session = new SnapshotSession(call, handler, peer.from);
    session.start();
  }

  /**
   * sendSnapshot streams an image to `to`: the header, then the bytes `read(offset, max)`
   * returns from the offset the receiver asks for; resolves when the receiver has applied it.
   */
  async sendSnapshot(
    to: NodeId,
    message: Message,
    imageBytes: number,
    read: (offset: number, bytesMax: number) => Promise<Uint8Array>,
    signal: AbortSignal,
  ): Promise<void> {
    const link = this.link(to);
    if (!link) throw new Error(`no address for node ${to}`);
    const def = PEER_SERVICE.snapshot;
    const call = link.client.makeBidiStreamRequest<Uint8Array, Uint8Array>(
      def.path,
      toBuffer,
      fromBuffer,
      this.metadata(),
      {},
    );
    const onAbort = (): void => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const acks = ackReader(call);
      await writeFrame(call, { message, offset: 0, data: EMPTY, last: false, imageBytes });
      const first = await acks.next();
      if (first.error)
        throw new SnapshotRefusedError(`snapshot refused by node ${to}: ${first.error}`);
      let offset = first.resumeOffset;
      while (offset < imageBytes) {
        const data = await read(offset, SNAPSHOT_CHUNK_BYTES);
        if (data.byteLength === 0)
          throw new Error(`snapshot image ended at ${offset} of ${imageBytes}`);
        await writeFrame(call, { message: null, offset, data, last: false, imageBytes });
        offset += data.byteLength;
      }
      await writeFrame(call, { message: null, offset, data: EMPTY, last: true, imageBytes });
      const final = await acks.next();
      if (!final.done)
        throw new Error(`snapshot not applied by node ${to}: ${final.error || 'no answer'}`);
      call.end();
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** close ends every outgoing stream and client. */
  close(): void {
    this.closed = true;
    for (const link of this.links.values()) {
      link.stream?.end();
      link.client.close();
    }
    this.links.clear();
  }
}

/**
 * SnapshotRefusedError says the receiver answered a snapshot stream with a refusal (not needed,
 * not hosted, too large): sending the same image again is pointless.
 */
export class SnapshotRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotRefusedError';
  }
}

/** SNAPSHOT_CHUNK_BYTES is the size of one snapshot data frame. */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
const EMPTY = new Uint8Array(0);

/** splitBatches cuts a destination's messages into batches of bounded entry bytes. */
function splitBatches(messages: Message[]): Message[][] {
  const batches: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    let size = 64;
    for (const entry of m.entries) size += entry.data.byteLength + 24;
    if (current.length > 0 && bytes + size > TRANSPORT_LIMITS.batchBytesTarget) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0 || batches.length === 0) batches.push(current); // [] is a ping
  return batches;
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

function writeFrame(
  call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>,
  chunk: SnapshotChunk,
): Promise<void> {
  return new Promise((resolve, reject) => {
    call.write(encodeSnapshotChunk(chunk), (error: Error | null | undefined) => {
      if (error) reject(error);
      else resolve();
    });
  });
}

/** ackReader turns the answers of a snapshot stream into an awaitable sequence. */
function ackReader(call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>): {
  next(): Promise<SnapshotAck>;
} {
  const queue: SnapshotAck[] = [];
  const waiters: { resolve: (ack: SnapshotAck) => void; reject: (error: Error) => void }[] = [];
  let failure: Error | null = null;
  call.on('data', (bytes: Uint8Array) => {
    let ack: SnapshotAck;
    try {
      ack = decodeSnapshotAck(bytes);
    } catch (error) {
      failure = error as Error;
      call.cancel();
      return;
    }
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(ack);
    else queue.push(ack);
  });
  const fail = (error: Error): void => {
    failure = error;
    for (const waiter of waiters.splice(0)) waiter.reject(error);
  };
  call.on('error', fail);
  call.on('end', () => fail(failure ?? new Error('snapshot stream ended')));
  return {
    next(): Promise<SnapshotAck> {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
  };
}

/** SnapshotSession serves one incoming snapshot stream, frame by frame, with back-pressure. */
class SnapshotSession {
  private began = false;
  private ended = false;
  private expectedOffset = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly call: grpc.ServerDuplexStream<Buffer, Uint8Array>,
    private readonly handler: SnapshotStreamHandler,
    private readonly from: NodeId,
  ) {}

  start(): void {
    this.call.on('data', (frame: Buffer) => {
      this.call.pause();
      this.chain = this.chain
        .then(() => this.onFrame(frame))
        .then(
          () => {
            this.call.resume();
          },
          (error: unknown) => this.fail(error),
        );
    });
    this.call.on('end', () => {
      if (!this.ended) this.handler.abort('stream ended before the last frame');
    });
    this.call.on('error', () => {
      if (!this.ended) this.handler.abort('stream broken');
    });
  }

  private async onFrame(frame: Buffer): Promise<void> {
    if (this.ended) return;
    const chunk = decodeSnapshotChunk(frame);
    if (!this.began) {
      if (!chunk.message) throw new Error('first snapshot frame has no header');
      this.began = true;
      this.expectedOffset = await this.handler.begin(this.from, chunk.message, chunk.imageBytes);
      this.call.write(
        encodeSnapshotAck({ resumeOffset: this.expectedOffset, done: false, error: '' }),
      );
      return;
    }
    if (chunk.offset !== this.expectedOffset) {
      throw new Error(`snapshot frame at offset ${chunk.offset}, expected ${this.expectedOffset}`);
    }
    if (chunk.data.byteLength > 0) {
      await this.handler.data(chunk.offset, chunk.data);
      this.expectedOffset += chunk.data.byteLength;
    }
    if (chunk.last) {
      await this.handler.end();
      this.ended = true;
      this.call.write(
        encodeSnapshotAck({ resumeOffset: this.expectedOffset, done: true, error: '' }),
      );
      this.call.end();
    }
  }

  private fail(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    if (!this.ended) {
      this.ended = true;
      this.handler.abort(reason);
      this.call.write(encodeSnapshotAck({ resumeOffset: 0, done: false, error: reason }));
      this.call.end();
    }
  }
}
