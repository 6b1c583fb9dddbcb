/**
 * Test support: an in-process fake Strata cluster for the client's unit tests. Each fake node
 * is a real gRPC server on a loopback port serving Admin.Cluster / Admin.Status and the Kv
 * Batch stream with the real codecs; behind them one shared in-memory store with the server's
 * session rule (the last seq's reply per client id and group: a retry is answered from it, an
 * older seq is STALE_SEQ, an unknown id above seq 1 is SESSION_EXPIRED). A test can script any
 * answer (`script`), drop requests, or break streams, and reads what each node received.
 * Not a store: no Raft, no durability.
 */
import * as grpc from '@grpc/grpc-js';
import type { GroupId, NodeId } from '../raft/index.js';
import { GroupRing, createClusterLayout, type ClusterLayout } from '../ring/index.js';
import { decodeBatchRequest, encodeBatchResponse } from '../store/kv-codec.js';
import type {
  AnyResponse,
  ErrorStatus,
  KeyValue,
  RangeRequest,
  RequestHeader,
  TaggedRequest,
  TaggedResponse,
} from '../store/kv-types.js';
import { encodeClusterResponse, encodeStatusResponse } from '../store/admin-codec.js';
import { deserializeBytes, serializeBytes } from './channels.js';
import { compareBytes } from './keys.js';

/** ScriptResult is what a script makes a node do with a request (undefined: the default). */
export type ScriptResult = AnyResponse | 'drop' | 'break' | undefined;

/** Script decides a node's answer to a request before the default behaviour. */
export type Script = (node: FakeNode, request: TaggedRequest) => ScriptResult;

function method(path: string, stream: boolean): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return {
    path,
    requestStream: stream,
    responseStream: stream,
    requestSerialize: serializeBytes,
    requestDeserialize: deserializeBytes,
    responseSerialize: serializeBytes,
    responseDeserialize: deserializeBytes,
  };
}

const SERVICES: grpc.ServiceDefinition = {
  cluster: method('/strata.admin.Admin/Cluster', false),
  status: method('/strata.admin.Admin/Status', false),
  batch: method('/strata.kv.Kv/Batch', true),
};

/** errorResponse builds an error answer. */
export function errorResponse(code: string, leaderId = 0, limit = ''): AnyResponse {
  const error: ErrorStatus = {
    code,
    message: `fake ${code}`,
    limit,
    leaderId: leaderId as NodeId,
    epoch: 1,
  };
  return { type: 'error', error };
}

/** FakeNode is one fake node: its server and what it received. */
export class FakeNode {
  /** server is the node's gRPC server. */
  readonly server = new grpc.Server();
  /** address is the node's host:port once listening. */
  address = '';
  /** frames counts the BatchRequest frames received; requests lists their requests. */
  frames = 0;
  /** requests lists every request received, in order. */
  readonly requests: TaggedRequest[] = [];

  constructor(
    readonly id: NodeId,
    private readonly cluster: FakeCluster,
  ) {}

  /** listen binds a free loopback port. */
  async listen(): Promise<void> {
    this.server.addService(SERVICES, {
      cluster: (_call: unknown, done: grpc.sendUnaryData<Uint8Array>) =>
        done(null, this.cluster.clusterAnswer(this.id)),
      status: (_call: unknown, done: grpc.sendUnaryData<Uint8Array>) =>
        done(null, this.cluster.statusAnswer(this)),
      batch: (call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>) => this.#serve(call),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }

  #serve(call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>): void {
    call.on('data', (frame: Uint8Array) => {
      this.frames++;
      const responses: TaggedResponse[] = [];
      for (const tagged of decodeBatchRequest(frame).requests) {
        this.requests.push(tagged);
        const result = this.cluster.handle(this, tagged);
        if (result === 'break') {
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'fake: stream broken' });
          return;
        }
        if (result !== 'drop') responses.push({ requestId: tagged.requestId, response: result });
      }
      if (responses.length > 0) call.write(encodeBatchResponse({ responses }));
    });
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  }
}

/** FakeCluster is a few fake nodes sharing one in-memory store. */
export class FakeCluster {
  /** nodes are the fake nodes, by id order. */
  readonly nodes: FakeNode[] = [];
  /** layout is the cluster layout Admin.Cluster serves. */
  layout!: ClusterLayout;
  /** ring routes keys as the client does. */
  ring!: GroupRing;
  /** leaders maps a group to the node that answers its linearizable requests. */
  readonly leaders = new Map<GroupId, NodeId>();
  /** hints are the leader hints Admin.Cluster gives (index group - 1; default none). */
  hints: number[] = [];
  /** script, when set, answers requests before the default behaviour. */
  script: Script | null = null;
  /** pageMax is the most keys a fake range page holds (to force paging). */
  pageMax = 1000;
  /** store holds the keys (latin1 strings of their bytes). */
  readonly store = new Map<string, KeyValue>();
  /** sessions holds the last seq and reply per client id and group. */
  readonly sessions = new Map<string, { seq: number; reply: AnyResponse }>();
  /** applied counts the times each (client id, seq, group) write was executed. */
  readonly applied = new Map<string, number>();
  /** index is the last log index handed out. */
  index = 0;

  /** FakeCluster.start starts `nodeCount` nodes hosting `groupCount` groups (rf = nodes). */
  static async start(nodeCount = 3, groupCount = 4): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    for (let id = 1; id <= nodeCount; id++) {
      const node = new FakeNode(id as NodeId, cluster);
      await node.listen();
      cluster.nodes.push(node);
    }
    cluster.layout = createClusterLayout({
      nodes: cluster.nodes.map((n) => ({ id: n.id, address: n.address })),
      groupCount,
      replicationFactor: nodeCount,
    });
    cluster.ring = new GroupRing(groupCount);
    for (const { groupId, replicas } of cluster.layout.placement) {
      cluster.leaders.set(groupId, replicas[0]!);
    }
    return cluster;
  }

  /** endpoints are the nodes' addresses. */
  endpoints(): string[] {
    return this.nodes.map((n) => n.address);
  }

  /** node returns the fake node with id `id`. */
  node(id: number): FakeNode {
    return this.nodes.find((n) => n.id === id)!;
  }

  /** allRequests lists every request any node received. */
  allRequests(): TaggedRequest[] {
    return this.nodes.flatMap((n) => n.requests);
  }

  /** clusterAnswer encodes the Admin.Cluster answer of node `nodeId`. */
  clusterAnswer(nodeId: NodeId): Uint8Array {
    return encodeClusterResponse({
      clusterId: 'fake',
      nodeId,
      epoch: this.layout.epoch,
      layoutJson: JSON.stringify(this.layout),
      leaders: this.hints,
    });
  }

  /** statusAnswer encodes a minimal Admin.Status answer of `node`. */
  statusAnswer(node: FakeNode): Uint8Array {
    return encodeStatusResponse({
      clusterId: 'fake', nodeId: node.id, address: node.address, groups: [], writeFault: '',
      cycles: 0, syncs: 0, entriesApplied: this.index, cycleLagMsMax: 0, snapshotsSent: 0,
      snapshotsInstalled: 0, peersRefused: 0, framesRejected: 0,
    }); // prettier-ignore
  }

  /** handle answers one request: the script first, then the default behaviour. */
  handle(node: FakeNode, tagged: TaggedRequest): AnyResponse | 'drop' | 'break' {
    const scripted = this.script?.(node, tagged);
    if (scripted !== undefined) return scripted;
    const request = tagged.request;
    const header = headerOf(tagged)!;
    const leader = this.leaders.get(header.groupId)!;
    const localRead = request.type === 'range' && request.range.consistency !== 0;
    if (!localRead && leader !== node.id) return errorResponse('NOT_LEADER', leader);
    if (request.type === 'range') return this.range(request.range, header);
    return this.write(tagged, header);
  }

  /** write applies a put or delete once per session seq (the server's session rule). */
  write(tagged: TaggedRequest, header: RequestHeader): AnyResponse {
    const sessionKey = `${header.clientId}/${header.groupId}`;
    const session = this.sessions.get(sessionKey);
    if (header.seq > 0) {
      if (session && header.seq === session.seq) return session.reply;
      if (session && header.seq < session.seq) return errorResponse('STALE_SEQ');
      if (!session && header.seq > 1) return errorResponse('SESSION_EXPIRED');
    }
    const reply = this.execute(tagged, header);
    const writeKey = `${header.clientId}/${header.seq}/${header.groupId}`;
    this.applied.set(writeKey, (this.applied.get(writeKey) ?? 0) + 1);
    if (header.seq > 0) this.sessions.set(sessionKey, { seq: header.seq, reply });
    return reply;
  }

  /** execute runs a write on the store (no session check). */
  execute(tagged: TaggedRequest, header: RequestHeader): AnyResponse {
    const request = tagged.request;
    const stamp = {
      groupId: header.groupId,
      appliedIndex: ++this.index,
      leaderId: 0 as NodeId,
      epoch: 1,
    };
    stamp.leaderId = this.leaders.get(header.groupId)!;
    if (request.type === 'put') {
      const key = Buffer.from(request.put.key).toString('latin1');
      const prev = this.store.get(key) ?? null;
      this.store.set(key, {
        key: request.put.key, value: request.put.value, modIndex: stamp.appliedIndex,
        createIndex: prev?.createIndex ?? stamp.appliedIndex, version: (prev?.version ?? 0) + 1,
      }); // prettier-ignore
      return { type: 'put', put: { header: stamp, prevKv: request.put.prevKv ? prev : null } };
    }
    if (request.type === 'delete') {
      const key = Buffer.from(request.delete.key).toString('latin1');
      const deleted = this.store.delete(key) ? 1 : 0;
      return { type: 'delete', delete: { header: stamp, deleted, prevKvs: [] } };
    }
    return errorResponse('INTERNAL');
  }

  /** range reads the group's keys of a selection, in pages of at most pageMax. */
  range(request: RangeRequest, header: RequestHeader): AnyResponse {
    const inGroup = [...this.store.values()]
      .filter((kv) => this.ring.groupOf(kv.key) === header.groupId)
      .filter((kv) => selects(request, kv.key))
      .sort((a, b) => compareBytes(a.key, b.key));
    const after = request.pageToken.length > 0 ? request.pageToken : null;
    const rest = after ? inGroup.filter((kv) => compareBytes(kv.key, after) > 0) : inGroup;
    const limit = Math.min(request.limit || this.pageMax, this.pageMax);
    const kvs = rest.slice(0, limit);
    const more = rest.length > limit;
    const stamp = {
      groupId: header.groupId,
      appliedIndex: this.index,
      leaderId: 0 as NodeId,
      epoch: 1,
    };
    const nextPageToken = more ? kvs[kvs.length - 1]!.key : new Uint8Array();
    return { type: 'range', range: { header: stamp, kvs, more, count: kvs.length, nextPageToken } };
  }

  /** close stops every node. */
  close(): void {
    for (const node of this.nodes) node.server.forceShutdown();
  }
}

function selects(request: RangeRequest, key: Uint8Array): boolean {
  if (request.prefix) return Buffer.from(key).subarray(0, request.key.length).equals(request.key);
  if (request.rangeEnd.length === 0) return compareBytes(key, request.key) === 0;
  if (compareBytes(key, request.key) < 0) return false;
  const toEnd = request.rangeEnd.length === 1 && request.rangeEnd[0] === 0;
  return toEnd || compareBytes(key, request.rangeEnd) < 0;
}

/** headerOf returns a tagged request's header. */
export function headerOf(tagged: TaggedRequest): RequestHeader | null {
  const request = tagged.request;
  switch (request.type) {
    case 'range':
      return request.range.header;
    case 'put':
      return request.put.header;
    case 'delete':
      return request.delete.header;
    case 'txn':
      return request.txn.header;
  }
}
