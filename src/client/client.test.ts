// Proves StrataClient's routing, pipelining and retry contract against an in-process fake
// cluster (fake-cluster.ts: real gRPC servers and codecs, an in-memory store with the server's
// session rule): requests issued in one tick share one frame; NOT_LEADER hints are followed
// and cached; retries after a lost answer or a broken stream reuse (client id, seq) so a write
// applies once; a lost session is replaced for a fresh write and surfaced for a retried one;
// limits fail without retry; deadlines and aborts raise typed errors (the deadline's stack shows
// the caller); ranges merge all groups in order.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  AbortedError,
  DeadlineExceededError,
  InvalidArgumentError,
  SessionLostError,
  StrataClient,
} from './index.js';
import { FakeCluster, errorResponse, headerOf } from './fake-cluster.js';
import type { GroupId } from '../raft/index.js';

let cluster: FakeCluster;
let client: StrataClient;

const text = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? []).toString();

/** putHeaders lists the (client id, seq) of every put of `key` any node received. */
function putHeaders(key: string): string[] {
  return cluster
    .allRequests()
    .filter((t) => t.request.type === 'put' && text(t.request.put.key) === key)
    .map((t) => `${headerOf(t)!.clientId}/${headerOf(t)!.seq}`);
}

describe('StrataClient against a fake cluster', () => {
  before(async () => {
    cluster = await FakeCluster.start(3, 4);
    client = await StrataClient.connect({
      endpoints: ['127.0.0.1:1', ...cluster.endpoints()], // the first one is dead
      deadlineMs: 3000,
      backoff: { baseMs: 1, capMs: 5 },
    });
  });

  after(() => {
    client.close();
    cluster.close();
  });

  beforeEach(() => {
    cluster.script = null;
    for (const node of cluster.nodes) {
      node.requests.length = 0;
      node.frames = 0;
    }
  });

  it('discovers the layout past a dead endpoint and routes keys like GroupRing', async () => {
    assert.equal(client.clusterId, 'fake');
    assert.equal(client.layout().groupCount, 4);
    for (const key of ['a', 'b', '{t}x'])
      assert.equal(client.groupOf(key), cluster.ring.groupOf(key));
    await client.put('a', 'one');
    assert.equal(text((await client.get('a'))?.value), 'one');
    assert.equal(await client.get('absent'), null);
  });

  it('coalesces requests issued in one tick into one frame per node', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `co-${i}`);
    await Promise.all(keys.map((key) => client.put(key, 'v')));
    const frames = cluster.nodes.reduce((sum, node) => sum + node.frames, 0);
    const requests = cluster.allRequests().length;
    assert.equal(requests, 200);
    assert.ok(frames <= cluster.nodes.length, `${frames} frames for 200 puts`);
  });

  it('follows a NOT_LEADER hint and caches the leader', async () => {
    const key = 'moved';
    const groupId = client.groupOf(key) as GroupId;
    const replicas = client.layout().placement[groupId - 1]!.replicas;
    const newLeader = replicas[1]!;
    cluster.leaders.set(groupId, newLeader);
    await client.put(key, 'v1');
    assert.equal(client.leaderOf(groupId), newLeader);
    const before = cluster.node(replicas[0]!).requests.length;
    await client.put(key, 'v2');
    assert.equal(cluster.node(replicas[0]!).requests.length, before, 'went straight to the leader');
    cluster.leaders.set(groupId, replicas[0]!);
  });

  it('retries a lost answer with the same (client id, seq): the write applies once', async () => {
    let lost = false;
    cluster.script = (_node, tagged) => {
      if (lost || tagged.request.type !== 'put' || text(tagged.request.put.key) !== 'once') return;
      lost = true;
      cluster.write(tagged, headerOf(tagged)!); // applied, but the answer is lost
      return errorResponse('DEADLINE_EXCEEDED');
    };
    await client.put('once', 'v');
    const headers = putHeaders('once');
    assert.ok(headers.length >= 2, `${headers.length} attempts`);
    assert.ok(
      headers.every((h) => h === headers[0]),
      'every retry kept client id and seq',
    );
    assert.equal(cluster.applied.get(`${headers[0]}/${client.groupOf('once')}`), 1);
  });

  it('retries over a broken stream on the next replica, keeping the session', async () => {
    let broken = false;
    cluster.script = (_node, tagged) => {
      if (broken || tagged.request.type !== 'put') return;
      broken = true;
      return 'break';
    };
    await client.put('after-break', 'v');
    const headers = putHeaders('after-break');
    assert.ok(headers.length >= 2, `${headers.length} attempts`);
    assert.ok(headers.every((h) => h === headers[0]));
    assert.equal(text((await client.get('after-break'))?.value), 'v');
  });

  it('takes a new session for a fresh write the server does not know', async () => {
    let refused = false;
    cluster.script = (_node, tagged) => {
      if (refused || tagged.request.type !== 'put') return;
      refused = true;
      return errorResponse('SESSION_EXPIRED');
    };
    await client.put('fresh', 'v');
    const [first, second] = putHeaders('fresh');
    assert.notEqual(first!.split('/')[0], second!.split('/')[0], 'a new client id');
    assert.equal(second!.split('/')[1], '1', 'starting at seq 1');
  });

  it('surfaces a lost session for a write that may have been applied', async () => {
    let calls = 0;
    cluster.script = (_node, tagged) => {
      if (tagged.request.type !== 'put') return;
      calls++;
      return errorResponse(calls === 1 ? 'UNAVAILABLE' : 'SESSION_EXPIRED');
    };
    await assert.rejects(client.put('lost', 'v'), (error: unknown) => {
      assert.ok(error instanceof SessionLostError);
      assert.equal(error.code, 'SESSION_EXPIRED');
      assert.equal(error.indeterminate, true);
      return true;
    });
  });

  it('fails a request over a limit at once, naming the limit', async () => {
    cluster.script = (_node, tagged) =>
      tagged.request.type === 'put'
        ? errorResponse('RESOURCE_EXHAUSTED', 0, 'responseBytesMax')
        : undefined;
    await assert.rejects(client.put('big', 'v'), /RESOURCE_EXHAUSTED/);
    assert.equal(putHeaders('big').length, 1, 'not retried');
    await assert.rejects(client.put('k'.repeat(5000), 'v'), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.limit, 'keyBytesMax');
      return true;
    });
  });

  it('refuses a txn across groups before sending anything', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e'].filter((k) => client.groupOf(k) !== client.groupOf('a'));
    await assert.rejects(
      client.txn({
        success: [{ put: { key: 'a', value: '1' } }, { put: { key: keys[0]!, value: '2' } }],
      }),
      /txn: keys span groups/,
    );
    assert.equal(cluster.allRequests().length, 0);
  });

  it('times out with an indeterminate DeadlineExceededError naming the operation', async () => {
    cluster.script = () => 'drop';
    async function callerOfPut(): Promise<unknown> {
      return client.put('void', 'v', { deadlineMs: 200 });
    }
    await assert.rejects(callerOfPut(), (error: unknown) => {
      assert.ok(error instanceof DeadlineExceededError);
      assert.equal(error.indeterminate, true);
      assert.match(error.message, /put: no answer within 200 ms/);
      // Created when the deadline passes (a stack per call cost 8-10 µs): no caller frames.
      assert.match(error.stack ?? '', /DeadlineExceededError/);
      return true;
    });
    await assert.rejects(client.get('void', { deadlineMs: 100 }), (error: unknown) => {
      assert.ok(error instanceof DeadlineExceededError);
      assert.equal(error.indeterminate, false, 'a read is never indeterminate');
      return true;
    });
  });

  it('stops when the caller aborts', async () => {
    cluster.script = () => 'drop';
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user gave up')), 50);
    await assert.rejects(
      client.put('aborted', 'v', { signal: controller.signal }),
      (error: unknown) => {
        assert.ok(error instanceof AbortedError);
        assert.match(error.message, /user gave up/);
        return true;
      },
    );
  });

  it('merges a range over every group in key order, paging each group', async () => {
    cluster.pageMax = 3;
    const keys = Array.from({ length: 40 }, (_, i) => `r/${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((key) => client.put(key, key)));
    const groups = new Set(keys.map((key) => client.groupOf(key)));
    assert.ok(groups.size > 1, 'the keys span groups');
    const all = await client.range({ prefix: 'r/' });
    assert.deepEqual(
      all.kvs.map((kv) => text(kv.key)),
      keys,
    );
    assert.equal(all.more, false);
    const some = await client.range({ prefix: 'r/', limit: 7 });
    assert.deepEqual(
      some.kvs.map((kv) => text(kv.key)),
      keys.slice(0, 7),
    );
    assert.equal(some.more, true);
    const between = await client.range({ start: 'r/10', end: 'r/13', consistency: 'serializable' });
    assert.deepEqual(
      between.kvs.map((kv) => text(kv.key)),
      ['r/10', 'r/11', 'r/12'],
    );
    cluster.pageMax = 1000;
  });

  it('reads a node status', async () => {
    const status = await client.status(cluster.nodes[1]!.address);
    assert.equal(status.nodeId, 2);
    assert.equal(status.clusterId, 'fake');
  });
});
