/**
 * KvService answers clients: unary Range/Put/Delete/Txn (for tools) and the pipelined Batch
 * stream (for the client library). Every request is validated at this edge (sizes, counts,
 * routing) before anything is proposed; failures are typed ErrorStatus values with stable codes,
 * never a crash, and a malformed frame closes only its own stream.
 */
import * as grpc from '@grpc/grpc-js';
import { rawMethod } from './grpc-methods.js';
import { NONE, Role, type GroupId } from '../raft/index.js';
import {
  decodeBatchRequest,
  decodeDeleteRequest,
  decodePutRequest,
  decodeRangeRequest,
  decodeTxnRequest,
  encodeBatchResponse,
  encodeCommand,
  encodeDeleteResponse,
  encodePutResponse,
  encodeRangeResponse,
  encodeTxnResponse,
} from './kv-codec.js';
import { KvError } from './kv-errors.js';
import { checkCommand, checkRangeRequest, checkTaskId } from './kv-limits.js';
import { taskMetaKey } from './kv-tasks.js';
import {
  ReadConsistency,
  type AnyRequest,
  type AnyResponse,
  type CommandOp,
  type ErrorStatus,
  type RangeRequest,
  type RequestHeader,
  type ResponseHeader,
  type TaggedResponse,
  type TaskResponse,
} from './kv-types.js';
import { StoreError, type StoreNode } from './node.js';

/** KV_SERVICE_LIMITS names the server's own bounds (documented in docs/operations.md). */
export const KV_SERVICE_LIMITS = {
  /** Deadline of a request that brings none. */
  defaultDeadlineMs: 5_000,
  /** Requests in flight on one Batch stream; past it the stream waits (back-pressure). */
  streamInFlightMax: 4_096,
} as const;

function unary(name: string): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return rawMethod('strata.kv.Kv', name, false, false);
}

/** KV_SERVICE is the gRPC definition of strata.kv.Kv (messages encoded by kv-codec). */
export const KV_SERVICE: grpc.ServiceDefinition = {
  range: unary('Range'),
  put: unary('Put'),
  delete: unary('Delete'),
  txn: unary('Txn'),
  batch: rawMethod('strata.kv.Kv', 'Batch', true, true),
};

/** errorOf turns any failure into an ErrorStatus with a stable code. */
export function errorOf(error: unknown, node: StoreNode): ErrorStatus {
  const leaderId = error instanceof StoreError ? error.leaderId : NONE;
  if (error instanceof StoreError || error instanceof KvError) {
    return {
      code: error.code,
      message: error.message,
      limit: error instanceof KvError ? error.limit : '',
      leaderId,
      epoch: node.layout.epoch,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message, limit: '', leaderId: NONE, epoch: node.layout.epoch };
}

/** KvService executes client requests against a StoreNode. */
export class KvService {
  constructor(private readonly node: StoreNode) {}

  /** handle executes one request; it never throws (failures are `{type: 'error'}`). */
  async handle(request: AnyRequest, deadlineMs: number): Promise<AnyResponse> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreError(
              'DEADLINE_EXCEEDED',
              `no answer within ${deadlineMs} ms (a write may still apply)`,
            ),
          ),
        deadlineMs,
      );
    });
    try {
      return await Promise.race([this.execute(request), deadline]);
    } catch (error) {
      return { type: 'error', error: errorOf(error, this.node) };
    } finally {
      clearTimeout(timer);
    }
  }

  private async execute(request: AnyRequest): Promise<AnyResponse> {
    if (request.type === 'range') return { type: 'range', range: await this.range(request.range) };
    const op = commandOpOf(request);
    const header = headerOf(request);
    this.checkEpoch(header);
    const groupId = this.checkRouting(header, op.type === 'txn' ? keysOf(request) : keysOfTask(op));
    const command = { clientId: header.clientId, seq: header.seq, op };
    checkCommand(command);
    const group = this.node.requireGroup(groupId);
    if (group.role !== Role.Leader) {
      throw new StoreError(
        'NOT_LEADER',
        `node ${this.node.config.nodeId} does not lead group ${groupId}`,
        group.raw.leaderId(),
      );
    }
    const result = await this.node.propose(groupId, encodeCommand(command));
    if (result.type === 'error') throw result.error;
    if (result.type !== 'response')
      throw new StoreError('INTERNAL', `entry ${result.index} had no command`);
    const response = result.response;
    const stamp = {
      groupId,
      appliedIndex: result.index,
      leaderId: this.node.config.nodeId,
      epoch: this.node.layout.epoch,
    };
    switch (response.type) {
      case 'put':
        return { type: 'put', put: { ...response.put, header: stamp } };
      case 'delete':
        return { type: 'delete', delete: { ...response.delete, header: stamp } };
      case 'txn':
        return { type: 'txn', txn: { ...response.txn, header: stamp } };
      case 'acquireTask':
        return taskAnswer(stamp, {
          type: 'acquire',
          acquire: { ...response.acquireTask, header: stamp },
        });
      case 'commitCheckpoint': {
        const commit = { ...response.commitCheckpoint, header: stamp };
        return taskAnswer(stamp, { type: 'commit', commit });
      }
      case 'stageCheckpoint': {
        const stage = { ...response.stageCheckpoint, header: stamp };
        return taskAnswer(stamp, { type: 'stage', stage });
      }
      default:
        return response satisfies never;
    }
  }

  private async range(request: RangeRequest) {
    checkRangeRequest(request);
    const header = request.header ?? { groupId: 0 as GroupId, epoch: 0, clientId: 0, seq: 0 };
    this.checkEpoch(header);
    const groupId = header.groupId || this.node.ring.groupOf(request.key);
    const group = this.node.requireGroup(groupId);
    if (
      request.consistency === ReadConsistency.Linearizable &&
      this.node.mutation === 'stale-read'
    ) {
      // The bug under test: no leadership check, no ReadIndex round.
    } else if (request.consistency === ReadConsistency.Linearizable) {
      if (group.role !== Role.Leader) {
        throw new StoreError(
          'NOT_LEADER',
          `node ${this.node.config.nodeId} does not lead group ${groupId}`,
          group.raw.leaderId(),
        );
      }
      await this.node.linearizableBarrier(groupId);
    } else if (request.consistency === ReadConsistency.AtIndex) {
      await this.node.waitApplied(groupId, request.minIndex);
    }
    const response = await this.node.sm.range(groupId, request);
    response.header = {
      ...response.header,
      leaderId: group.raw.leaderId(),
      epoch: this.node.layout.epoch,
    };
    return response;
  }

  /**
   * checkEpoch refuses a request routed with a layout older than this node's (STALE_EPOCH,
   * with the node's epoch): the client fetches the newer layout and retries. Nothing was
   * proposed, so the retry cannot apply a write twice. Epoch 0 (tools) is not checked.
   */
  private checkEpoch(header: RequestHeader): void {
    const current = this.node.layout.epoch;
    if (this.node.mutation === 'no-epoch-check') return; // the bug under test
    if (header.epoch !== 0 && header.epoch < current) {
      throw new StoreError(
        'STALE_EPOCH',
        `request routed with layout epoch ${header.epoch}, node ${this.node.config.nodeId} has ${current}; refresh and retry`,
      );
    }
  }

  /** checkRouting checks that every key of a write maps to the group it names. */
  private checkRouting(header: RequestHeader, keys: Uint8Array[]): GroupId {
    const groupId =
      header.groupId || (keys.length > 0 ? this.node.ring.groupOf(keys[0]) : (0 as GroupId));
    for (const key of keys) {
      const owner = this.node.ring.groupOf(key);
      if (owner !== groupId) {
        throw new StoreError(
          'WRONG_GROUP',
          `key maps to group ${owner}, not ${groupId}: a request may not span groups (use a {hash tag})`,
        );
      }
    }
    return groupId;
  }

  /** implementation returns the gRPC handlers of KV_SERVICE. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      range: this.unaryHandler(
        decodeRangeRequest,
        (r) => ({ type: 'range', range: r }),
        (a) => (a.type === 'range' ? encodeRangeResponse(a.range) : null),
      ),
      put: this.unaryHandler(
        decodePutRequest,
        (r) => ({ type: 'put', put: r }),
        (a) => (a.type === 'put' ? encodePutResponse(a.put) : null),
      ),
      delete: this.unaryHandler(
        decodeDeleteRequest,
        (r) => ({ type: 'delete', delete: r }),
        (a) => (a.type === 'delete' ? encodeDeleteResponse(a.delete) : null),
      ),
      txn: this.unaryHandler(
        decodeTxnRequest,
        (r) => ({ type: 'txn', txn: r }),
        (a) => (a.type === 'txn' ? encodeTxnResponse(a.txn) : null),
      ),
      batch: (call: grpc.ServerDuplexStream<Buffer, Uint8Array>) =>
        new BatchSession(this, call).start(),
    };
  }

  private unaryHandler<T>(
    decode: (bytes: Uint8Array) => T,
    wrap: (request: T) => AnyRequest,
    encode: (response: AnyResponse) => Uint8Array | null,
  ): grpc.handleUnaryCall<Buffer, Uint8Array> {
    return (call, callback) => {
      let request: AnyRequest;
      try {
        request = wrap(decode(call.request));
      } catch (error) {
        callback(statusError(errorOf(error, this.node)));
        return;
      }
      void this.handle(request, deadlineOf(call)).then((response) => {
        const bytes = encode(response);
        if (bytes) callback(null, bytes);
        else
          callback(
            statusError(
              response.type === 'error'
                ? response.error
                : errorOf(new Error('bad answer'), this.node),
            ),
          );
      });
    };
  }
}

/** BatchSession serves one Batch stream: requests run concurrently, answers are coalesced. */
class BatchSession {
  private outgoing: TaggedResponse[] = [];
  private flushScheduled = false;
  private inFlight = 0;
  private closed = false;

  constructor(
    private readonly service: KvService,
    private readonly call: grpc.ServerDuplexStream<Buffer, Uint8Array>,
  ) {}

  start(): void {
    this.call.on('data', (frame: Buffer) => this.onFrame(frame));
    this.call.on('end', () => this.close());
    this.call.on('error', () => this.close());
  }

  private onFrame(frame: Buffer): void {
    if (this.closed) return;
    let batch;
    try {
      batch = decodeBatchRequest(frame);
    } catch (error) {
      this.closed = true;
      this.call.emit(
        'error',
        statusError({
          code: 'MALFORMED',
          message: (error as Error).message,
          limit: '',
          leaderId: NONE,
          epoch: 0,
        }),
      );
      return;
    }
    for (const tagged of batch.requests) {
      this.inFlight++;
      void this.service
        .handle(tagged.request, KV_SERVICE_LIMITS.defaultDeadlineMs)
        .then((response) => {
          this.inFlight--;
          this.outgoing.push({ requestId: tagged.requestId, response });
          this.scheduleFlush();
          if (this.inFlight < KV_SERVICE_LIMITS.streamInFlightMax) this.call.resume();
        });
    }
    if (this.inFlight >= KV_SERVICE_LIMITS.streamInFlightMax) this.call.pause();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.closed || this.outgoing.length === 0) return;
      const responses = this.outgoing;
      this.outgoing = [];
      this.call.write(encodeBatchResponse({ responses }));
    });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.call.end();
  }
}

/**
 * commandOpOf returns the command op of a write: the request itself, or, for a txn carrying a
 * task operation (kv.proto TxnRequest.task), that operation, proposed as its own command.
 */
function commandOpOf(request: Exclude<AnyRequest, { type: 'range' }>): CommandOp {
  if (request.type !== 'txn' || request.txn.task == null) return request;
  const { compare, success, failure, task } = request.txn;
  if (compare.length + success.length + failure.length > 0) {
    throw new KvError('INVALID_ARGUMENT', 'a txn carrying a task operation has no compares or ops');
  }
  switch (task.type) {
    case 'acquire':
      return { type: 'acquireTask', acquireTask: task.acquire };
    case 'commit':
      return { type: 'commitCheckpoint', commitCheckpoint: task.commit };
    case 'stage':
      return { type: 'stageCheckpoint', stageCheckpoint: task.stage };
    default:
      return task satisfies never;
  }
}

/** keysOfTask returns the key a task operation routes by: its task record's. */
function keysOfTask(op: CommandOp): Uint8Array[] {
  switch (op.type) {
    case 'acquireTask':
      return [taskRoutingKey(op.acquireTask.taskId)];
    case 'commitCheckpoint':
      return [taskRoutingKey(op.commitCheckpoint.taskId)];
    case 'stageCheckpoint':
      return [taskRoutingKey(op.stageCheckpoint.taskId)];
    default:
      return [];
  }
}

/** taskRoutingKey is the task's meta key; a task id that cannot route fails here, clearly. */
function taskRoutingKey(taskId: string): Uint8Array {
  checkTaskId(taskId, 'task');
  return taskMetaKey(taskId);
}

/** taskAnswer wraps a task operation's result in the TxnResponse that carries it. */
function taskAnswer(stamp: ResponseHeader, task: TaskResponse): AnyResponse {
  return { type: 'txn', txn: { header: stamp, succeeded: true, responses: [], task } };
}

function headerOf(request: AnyRequest): RequestHeader {
  const header =
    request.type === 'put'
      ? request.put.header
      : request.type === 'delete'
        ? request.delete.header
        : request.type === 'txn'
          ? request.txn.header
          : request.range.header;
  return header ?? { groupId: 0 as GroupId, epoch: 0, clientId: 0, seq: 0 };
}

function keysOf(request: AnyRequest): Uint8Array[] {
  switch (request.type) {
    case 'put':
      return [request.put.key];
    case 'delete':
      return request.delete.rangeEnd.byteLength === 0 && !request.delete.prefix
        ? [request.delete.key]
        : [];
    case 'txn': {
      const keys = request.txn.compare.map((c) => c.key);
      for (const op of [...request.txn.success, ...request.txn.failure]) {
        if (op.type === 'put') keys.push(op.put.key);
        else if (op.type === 'delete' && op.delete.rangeEnd.byteLength === 0 && !op.delete.prefix)
          keys.push(op.delete.key);
        else if (op.type === 'range' && op.range.rangeEnd.byteLength === 0 && !op.range.prefix)
          keys.push(op.range.key);
      }
      return keys;
    }
    case 'range':
      return [];
  }
}

function deadlineOf(call: grpc.ServerUnaryCall<Buffer, Uint8Array>): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (!Number.isFinite(at) || at <= 0) return KV_SERVICE_LIMITS.defaultDeadlineMs;
  return Math.max(1, Math.min(at - Date.now(), 60_000));
}

const GRPC_CODES: Record<string, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  MALFORMED: grpc.status.INVALID_ARGUMENT,
  WRONG_GROUP: grpc.status.INVALID_ARGUMENT,
  STALE_EPOCH: grpc.status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  NOT_LEADER: grpc.status.UNAVAILABLE,
  LEADERSHIP_LOST: grpc.status.UNAVAILABLE,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  PROPOSAL_DROPPED: grpc.status.UNAVAILABLE,
  STORAGE_FAILURE: grpc.status.UNAVAILABLE,
  RESTORING: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  STALE_SEQ: grpc.status.FAILED_PRECONDITION,
  SESSION_EXPIRED: grpc.status.FAILED_PRECONDITION,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  FENCED: grpc.status.FAILED_PRECONDITION,
  TASK_NOT_ACQUIRED: grpc.status.FAILED_PRECONDITION,
  SEQ_OUT_OF_ORDER: grpc.status.FAILED_PRECONDITION,
  OFFSETS_BACKWARDS: grpc.status.FAILED_PRECONDITION,
  STAGE_MISSING: grpc.status.FAILED_PRECONDITION,
};

/** statusError maps an ErrorStatus to a gRPC error with the typed code in trailers. */
export function statusError(error: ErrorStatus): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set('strata-error-code', error.code);
  metadata.set('strata-leader-id', String(error.leaderId));
  if (error.limit) metadata.set('strata-limit', error.limit);
  const code = GRPC_CODES[error.code] ?? grpc.status.INTERNAL;
  return Object.assign(new Error(error.message), {
    code,
    details: `${error.code}: ${error.message}`,
    metadata,
  });
}
