/**
 * SnapshotManager moves group images between nodes, out of band of the Raft stream:
 * - sending: when a leader's Raft core asks for a snapshot to a follower, the image is taken
 *   from a LevelDB snapshot of the group's state at its applied index A (the Raft snapshot
 *   message is rewritten to say A, its term and the membership as of A), written to a file, and
 *   streamed in chunks with back-pressure; the core is told when it succeeded or failed;
 * - receiving: the image is written to a file first (a broken stream resumes from the bytes
 *   already on disk), synced, then installed into the state machine (crash-safe: the state
 *   machine's restore marker names the image file, so a restart finishes the install from it),
 *   and only then is the Raft message stepped, so Raft never points at an image it lacks.
 */
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  EMPTY_BYTES,
  decodeConfState,
  encodeConfState,
  type GroupId,
  type Message,
  type NodeId,
  type SnapshotMetadata,
} from '../raft/index.js';
import { failpoint } from './failpoints.js';
import { KvError } from './kv-errors.js';
import type { GroupReplica } from './group.js';
import type { StoreNode } from './node.js';
import { SnapshotRefusedError, type SnapshotStreamHandler } from './transport.js';

/** SNAPSHOT_LIMITS names the snapshot bounds (documented in docs/operations.md). */
export const SNAPSHOT_LIMITS = {
  /** Largest image a node accepts. */
  imageBytesMax: 64 * 1024 * 1024 * 1024,
  /** Snapshots sent at once by one node (each holds a LevelDB snapshot and a file). */
  sendsInFlightMax: 2,
  /** An image kept after a failed send is sent again (resumed) if younger than this. */
  imageReuseMs: 60_000,
} as const;

const FRAME_PREFIX_BYTES = 4;

/** OutgoingImage is a snapshot image written to a file for one follower. */
interface OutgoingImage {
  path: string;
  size: number;
  metadata: SnapshotMetadata;
  createdMs: number;
}
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** SnapshotManager sends and receives group images for one node. */
export class SnapshotManager {
  private readonly sending = new Map<string, AbortController>();
  /** images kept after a failed send, by `group:to`, for a resumed retry. */
  private readonly images = new Map<string, OutgoingImage>();
  private readonly outDir: string;
  private readonly inDir: string;
  /** counters shown by `strata status`. */
  readonly stats = { sent: 0, sendFailures: 0, received: 0, installed: 0, resumedBytes: 0 };

  constructor(
    private readonly node: StoreNode,
    dir: string,
  ) {
    this.outDir = join(dir, 'out');
    this.inDir = join(dir, 'in');
  }

  /** send starts streaming a snapshot for `message` (a core Snapshot message) if not already. */
  send(group: GroupReplica, message: Message): void {
    const key = `${group.groupId}:${message.to}`;
    if (this.sending.has(key)) return; // already on its way; the core waits for its report
    if (this.sending.size >= SNAPSHOT_LIMITS.sendsInFlightMax) {
      // Busy: the core falls back to probing and asks again after the next heartbeat.
      group.raw.reportSnapshot(message.to, false);
      return;
    }
    const controller = new AbortController();
    this.sending.set(key, controller);
    this.sendImage(group, message, controller.signal)
      .then(
        () => {
          this.stats.sent++;
          group.raw.reportSnapshot(message.to, true);
        },
        () => {
          this.stats.sendFailures++;
          group.raw.reportSnapshot(message.to, false);
        },
      )
      .finally(() => {
        this.sending.delete(key);
        this.node.schedule();
      });
  }

  private async sendImage(
    group: GroupReplica,
    message: Message,
    signal: AbortSignal,
  ): Promise<void> {
    const key = `${group.groupId}:${message.to}`;
    const image = await this.imageFor(group, message.to);
    const header: Message = {
      ...message,
      snapshot: { metadata: image.metadata, data: EMPTY_BYTES },
    };
    const file = await open(image.path, 'r');
    try {
      await this.node.transport.sendSnapshot(
        message.to,
        header,
        image.size,
        async (offset, max) => {
          const buffer = new Uint8Array(Math.min(max, image.size - offset));
          const { bytesRead } = await file.read(buffer, 0, buffer.byteLength, offset);
          return buffer.subarray(0, bytesRead);
        },
        signal,
      );
    } catch (error) {
      // A broken stream keeps the image for a resumed retry; a refusal (the receiver does not
      // need this image, say it is already past it) drops it, so the retry takes a fresh one.
      if (error instanceof SnapshotRefusedError) {
        this.images.delete(key);
        await rm(image.path, { force: true });
      }
      throw error;
    } finally {
      await file.close();
    }
    // Delivered: the image is no longer needed. After a failure it is kept, so the retry sends
    // the same image and the receiver resumes from the bytes it already has.
    this.images.delete(key);
    await rm(image.path, { force: true });
  }

  /**
   * imageFor returns the image to send to `to`: the one kept from a failed attempt if it is
   * recent (imageReuseMs), else a new one written from a LevelDB snapshot of the group.
   */
  private async imageFor(group: GroupReplica, to: NodeId): Promise<OutgoingImage> {
    const key = `${group.groupId}:${to}`;
    const kept = this.images.get(key);
    if (kept && Date.now() - kept.createdMs < SNAPSHOT_LIMITS.imageReuseMs) return kept;
    if (kept) await rm(kept.path, { force: true });
    this.images.delete(key);
    await mkdir(this.outDir, { recursive: true });
    const stream = await this.node.sm.snapshotStream(group.groupId);
    const index = stream.appliedIndex;
    const path = join(this.outDir, `g${group.groupId}-to${to}-i${index}.img`);
    let file: FileHandle | null = null;
    try {
      const metadata = {
        index,
        term: group.storage.term(index),
        confState: decodeConfState(stream.meta),
      };
      file = await open(path, 'w+');
      let size = 0;
      for await (const chunk of stream) {
        const prefix = new Uint8Array(FRAME_PREFIX_BYTES);
        new DataView(prefix.buffer).setUint32(0, chunk.byteLength);
        await file.write(prefix, 0, prefix.byteLength, size);
        await file.write(chunk, 0, chunk.byteLength, size + FRAME_PREFIX_BYTES);
        size += FRAME_PREFIX_BYTES + chunk.byteLength;
      }
      const image: OutgoingImage = { path, size, metadata, createdMs: Date.now() };
      this.images.set(key, image);
      return image;
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    } finally {
      await stream.close();
      await file?.close();
    }
  }

  /** receiver returns the handler of one incoming snapshot stream. */
  receiver(): SnapshotStreamHandler {
    return new ImageReceiver(this.node, this.inDir, this.stats);
  }

  /**
   * finishInterruptedRestores completes, at start-up, every install a crash interrupted: the
   * restore marker names the image file, which was synced before the install began.
   */
  async finishInterruptedRestores(): Promise<void> {
    for (const pending of this.node.sm.pendingRestores()) {
      const context = JSON.parse(decoder.decode(pending.context)) as {
        image: string;
        conf: string;
      };
      await installImage(
        this.node,
        pending.groupId,
        pending.snapshotIndex,
        context.image,
        Buffer.from(context.conf, 'base64'),
      );
      await rm(context.image, { force: true });
    }
  }

  /** close aborts the snapshots being sent. */
  close(): void {
    for (const controller of this.sending.values()) controller.abort();
    this.sending.clear();
  }
}

/** ImageReceiver writes one incoming image to a file, then installs it (see module comment). */
class ImageReceiver implements SnapshotStreamHandler {
  private file: FileHandle | null = null;
  private path = '';
  private message: Message | null = null;
  private imageBytes = 0;
  private written = 0;

  constructor(
    private readonly node: StoreNode,
    private readonly dir: string,
    private readonly stats: SnapshotManager['stats'],
  ) {}

  async begin(_from: NodeId, message: Message, imageBytes: number): Promise<number> {
    const group = this.node.groups.get(message.groupId);
    const metadata = message.snapshot?.metadata;
    if (!group || !metadata) throw new Error(`group ${message.groupId} is not hosted here`);
    if (imageBytes > SNAPSHOT_LIMITS.imageBytesMax) {
      throw new Error(
        `image of ${imageBytes} bytes exceeds imageBytesMax ${SNAPSHOT_LIMITS.imageBytesMax}`,
      );
    }
    if (metadata.index <= group.raw.status().commit)
      throw new Error(`snapshot ${metadata.index} not needed`);
    await mkdir(this.dir, { recursive: true });
    const name = `g${message.groupId}-t${metadata.term}-i${metadata.index}.img`;
    await removeOtherImages(this.dir, message.groupId, name);
    this.path = join(this.dir, name);
    const existing = await stat(this.path).then(
      (s) => s.size,
      () => 0,
    );
    this.written = Math.min(existing, imageBytes);
    this.stats.resumedBytes += this.written;
    this.file = await open(this.path, existing > 0 ? 'r+' : 'w+');
    this.message = message;
    this.imageBytes = imageBytes;
    return this.written;
  }

  async data(offset: number, bytes: Uint8Array): Promise<void> {
    if (!this.file || offset !== this.written)
      throw new Error(`image write at ${offset}, expected ${this.written}`);
    await this.file.write(bytes, 0, bytes.byteLength, offset);
    this.written += bytes.byteLength;
    if (this.written < this.imageBytes) failpoint('snapshot-receive-partial');
  }

  async end(): Promise<void> {
    const message = this.message;
    if (!this.file || !message?.snapshot) throw new Error('snapshot stream ended before it began');
    if (this.written !== this.imageBytes)
      throw new Error(`image has ${this.written} of ${this.imageBytes} bytes`);
    await this.file.sync();
    await this.file.close();
    this.file = null;
    this.stats.received++;
    const { metadata } = message.snapshot;
    await installImage(
      this.node,
      message.groupId,
      metadata.index,
      this.path,
      encodeConfState(metadata.confState),
    );
    this.stats.installed++;
    await rm(this.path, { force: true });
    const group = this.node.groups.get(message.groupId);
    group?.raw.step(message);
    this.node.schedule();
  }

  abort(): void {
    void this.file?.close();
    this.file = null;
  }
}

/**
 * installImage installs the image file of a snapshot at `index` into the state machine, with
 * the group held out of the ready loop meanwhile. A state machine already past `index` keeps its
 * state (it holds every committed entry the image does).
 */
async function installImage(
  node: StoreNode,
  groupId: GroupId,
  index: number,
  path: string,
  conf: Uint8Array,
): Promise<void> {
  const group = node.groups.get(groupId);
  if (group) group.restoring = true;
  try {
    await node.waitForGroup(groupId);
    const context = encoder.encode(
      JSON.stringify({ image: path, conf: Buffer.from(conf).toString('base64') }),
    );
    let nextChunk: number;
    try {
      ({ nextChunk } = await node.sm.restoreBegin(groupId, { snapshotIndex: index, context }));
    } catch (error) {
      if (error instanceof KvError && error.code === 'FAILED_PRECONDITION') return;
      throw error;
    }
    const file = await open(path, 'r');
    try {
      let position = 0;
      for (;;) {
        const prefix = new Uint8Array(FRAME_PREFIX_BYTES);
        const { bytesRead } = await file.read(prefix, 0, FRAME_PREFIX_BYTES, position);
        if (bytesRead === 0) break;
        const length = new DataView(prefix.buffer).getUint32(0);
        const chunk = new Uint8Array(length);
        await file.read(chunk, 0, length, position + FRAME_PREFIX_BYTES);
        position += FRAME_PREFIX_BYTES + length;
        const result = await node.sm.restoreChunk(groupId, chunk);
        failpoint('snapshot-restore-chunk');
        nextChunk = result.nextChunk;
        if (result.done) break;
      }
    } finally {
      await file.close();
    }
    await node.sm.restoreFinish(groupId, { meta: conf });
    void nextChunk;
  } finally {
    if (group) group.restoring = false;
  }
}

async function removeOtherImages(dir: string, groupId: GroupId, keep: string): Promise<void> {
  const prefix = `g${groupId}-`;
  for (const name of await readdir(dir)) {
    if (name.startsWith(prefix) && name !== keep) await rm(join(dir, name), { force: true });
  }
}
