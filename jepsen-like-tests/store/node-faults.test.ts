/**
 * Store nodes under faults, on real processes: `strata node` processes on loopback with real
 * LevelDB directories, driven through the real client. Proves that
 * - after kill -9 of the node leading the most groups every group has a leader again quickly,
 *   every acknowledged write stays readable, and the node catches up from the log on restart;
 * - a node whose peers compacted past its log catches up by snapshot, and a kill -9 in the
 *   middle of installing that snapshot is finished by the restart;
 * - a clean stop and start loses nothing;
 * - a failing disk makes writes fail with a clear error while reads keep working, and the node
 *   recovers once the fault clears;
 * - bad input (oversized keys and values, malformed protobuf, garbage bytes on the port, an
 *   unknown group, a peer of another cluster) gets a clear error and loses nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { StrataClient } from '../../src/client/index.js';
import { GroupRing } from '../../src/ring/index.js';
import {
  encodePutRequest,
  encodeRangeRequest,
  decodeRangeResponse,
} from '../../src/store/kv-codec.js';
import { ReadConsistency } from '../../src/store/kv-types.js';
import { ProcessCluster } from '../harness/process-cluster.js';

const GROUPS = 64;
const text = new TextEncoder();
const identity = (bytes: Uint8Array): Buffer => Buffer.from(bytes);

/** writeKeys puts `count` keys through the client and returns the keys acknowledged. */
async function writeKeys(client: StrataClient, prefix: string, count: number): Promise<string[]> {
  const acked: string[] = [];
  const inFlight = 32;
  for (let start = 0; start < count; start += inFlight) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + inFlight); i++) {
      const key = `${prefix}-${i}`;
      batch.push(
        client.put(key, `value-of-${key}`).then(
          () => acked.push(key),
          () => undefined,
        ),
      );
    }
    await Promise.all(batch);
  }
  return acked;
}

async function assertReadable(client: StrataClient, keys: string[]): Promise<void> {
  for (const key of keys) {
    const kv = await client.get(key);
    assert.ok(kv, `acknowledged key ${key} is missing`);
    assert.equal(new TextDecoder().decode(kv.value), `value-of-${key}`);
  }
}

/** serializableCount counts a group's keys as one node sees them locally. */
async function localKeys(address: string, groupId: number): Promise<string[]> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    const request = encodeRangeRequest({
      key: new Uint8Array([0]),
      rangeEnd: new Uint8Array([0]),
      prefix: false,
      limit: 0,
      pageToken: new Uint8Array(0),
      consistency: ReadConsistency.Serializable,
      minIndex: 0,
      keysOnly: true,
      countOnly: false,
      header: { groupId: groupId as never, epoch: 0, clientId: 0, seq: 0 },
    });
    const response = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        '/strata.kv.Kv/Range',
        identity,
        (b: Buffer) => b,
        request,
        (error, value) => (error || !value ? reject(error) : resolve(value)),
      ),
    );
    return decodeRangeResponse(response)
      .kvs.map((kv) => new TextDecoder().decode(kv.key))
      .sort();
  } finally {
    client.close();
  }
}

/** waitCaughtUp waits until node `id` applied every group up to its leader's commit. */
async function waitCaughtUp(cluster: ProcessCluster, id: number, timeoutMs: number): Promise<void> {
  await cluster.waitUntil(`node ${id} caught up`, timeoutMs, async () => {
    const mine = await cluster.status(id);
    if (!mine) return false;
    const leaderCommit = new Map<number, number>();
    for (const other of cluster.nodes.keys()) {
      const status = other === id ? null : await cluster.status(other);
      for (const group of status?.groups ?? []) {
        if (group.role === 'leader') leaderCommit.set(group.groupId ?? 0, Number(group.commit));
      }
    }
    // A group this node leads again (a hand-back) is as caught up as its leader: itself.
    return (mine.groups ?? []).every(
      (g) =>
        g.role === 'leader' || Number(g.applied) >= (leaderCommit.get(g.groupId ?? 0) ?? Infinity),
    );
  });
}

describe('kill -9 of the busiest leader', { timeout: 120_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let client: StrataClient;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-kill-'));
    cluster = await ProcessCluster.start({ dir, groupCount: GROUPS });
    await cluster.waitForLeaders(GROUPS);
    client = await StrataClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 10_000 });
  });
  after(async () => {
    client?.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('groups re-elect, acknowledged writes survive, the node catches up from the log', async () => {
    const acked = await writeKeys(client, 'before', 400);
    assert.equal(acked.length, 400);
    const leaders = await cluster.leaders(GROUPS);
    const counts = new Map<number, number>();
    for (const leader of leaders.values()) counts.set(leader, (counts.get(leader) ?? 0) + 1);
    const [victim, led] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    await cluster.kill(victim);
    const electedMs = await cluster.waitForLeaders(GROUPS, 10_000);
    console.log(
      `# re-election after kill -9 of node ${victim} (led ${led} groups): ${electedMs} ms`,
    );
    // Default timing: an election timeout is 1-2 s, so leaders return in about 2 s (1.7-1.8 s
    // measured on an idle machine). The bound leaves room for a loaded CI machine; the time is
    // printed above.
    assert.ok(electedMs <= 6_000, `leaders again after ${electedMs} ms, above 6 s`);
    const during = await writeKeys(client, 'during', 200);
    assert.equal(during.length, 200, 'writes succeed with one node down');
    await assertReadable(client, [...acked, ...during]);
    cluster.launch(victim);
    await waitCaughtUp(cluster, victim, 30_000);
    const status = await cluster.status(victim);
    assert.equal(Number(status?.snapshotsInstalled), 0, 'caught up from the log alone');
  });
});

describe('catch-up by snapshot, and kill -9 during its install', { timeout: 180_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let client: StrataClient;
  const groups = 8;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-snap-'));
    cluster = await ProcessCluster.start({
      dir,
      groupCount: groups,
      // No leader hand-backs: a resumed transfer needs the same leader (and image) again.
      nodeConfig: { compactEntries: 20, compactTrailingEntries: 5, leaderBalanceTicks: 0 },
    });
    await cluster.waitForLeaders(groups);
    client = await StrataClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 10_000 });
  });
  after(async () => {
    client?.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a node behind the compacted logs installs snapshots and ends with the same data', async () => {
    await cluster.kill(3);
    const acked = await writeKeys(client, 'snap', 600);
    assert.equal(acked.length, 600);
    cluster.launch(3);
    await waitCaughtUp(cluster, 3, 60_000);
    const status = await cluster.status(3);
    assert.ok(Number(status?.snapshotsInstalled) > 0, 'node 3 installed snapshots');
    await assertSameData(cluster, groups);
  });

  test('a snapshot stream broken mid-way resumes from the bytes already received', async () => {
    await cluster.kill(3);
    // Incompressible values, so the image spans several 256 KiB frames.
    const noise = (): string => randomBytes(1024).toString('base64');
    for (let i = 0; i < 400; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => client.put(`{big}/k${i + j}`, noise())),
      );
    }
    cluster.launch(3, { STRATA_FAILPOINTS: 'snapshot-receive-partial' });
    await cluster.waitExit(3, 60_000); // died after writing the first frames of the image
    cluster.launch(3);
    await waitCaughtUp(cluster, 3, 60_000);
    const status = await cluster.status(3);
    assert.ok(Number(status?.snapshotResumedBytes) > 0, 'the retry resumed the broken transfer');
    await assertSameData(cluster, groups);
  });

  test('kill -9 in the middle of a snapshot install: the restart finishes it', async () => {
    await cluster.kill(3);
    await writeKeys(client, 'crash', 600);
    cluster.launch(3, { STRATA_FAILPOINTS: 'snapshot-restore-chunk' });
    await cluster.waitExit(3, 60_000); // the failpoint killed it after the first chunk
    cluster.launch(3);
    await waitCaughtUp(cluster, 3, 60_000);
    await assertSameData(cluster, groups);
  });
});

async function assertSameData(cluster: ProcessCluster, groups: number): Promise<void> {
  for (let groupId = 1; groupId <= groups; groupId++) {
    const views = [];
    for (const node of cluster.nodes.values()) views.push(await localKeys(node.address, groupId));
    assert.deepEqual(views[2], views[0], `group ${groupId}: node 3 holds the same keys as node 1`);
    assert.deepEqual(views[1], views[0], `group ${groupId}: node 2 holds the same keys as node 1`);
  }
}

describe('clean restarts and a failing disk', { timeout: 120_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let client: StrataClient;
  const groups = 8;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-disk-'));
    cluster = await ProcessCluster.start({
      dir,
      groupCount: groups,
    });
    await cluster.waitForLeaders(groups);
    client = await StrataClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 5_000 });
  });
  after(async () => {
    client?.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a clean stop and start of every node loses nothing', async () => {
    const acked = await writeKeys(client, 'clean', 200);
    for (const id of cluster.nodes.keys()) await cluster.kill(id, 'SIGTERM');
    for (const id of cluster.nodes.keys()) cluster.launch(id);
    await cluster.waitForLeaders(groups);
    await assertReadable(client, acked);
  });

  test('a failing disk on one node: clear write errors there, reads keep working, recovery', async () => {
    const acked = await writeKeys(client, 'disk', 100);
    const faultFile = join(dir, 'disk-fault-1');
    await cluster.kill(1, 'SIGTERM');
    cluster.launch(1, { STRATA_TEST_DISK_FAULT_FILE: faultFile });
    await cluster.waitForLeaders(groups);
    const leaders = await cluster.leaders(groups);
    const ring = new GroupRing(groups);
    const ledByOne = [...leaders.entries()].find(([, leader]) => leader === 1)?.[0];
    await writeFile(faultFile, 'fail every log write\n');
    if (ledByOne !== undefined) {
      // A write to a group node 1 leads fails there with a clear error, not silently.
      let key = '';
      for (let i = 0; key === '' && i < 10_000; i++)
        if (ring.groupOf(`probe-${i}`) === ledByOne) key = `probe-${i}`;
      const failure = await rawPutTo(cluster.endpoints()[0], key, ledByOne);
      assert.ok(failure, 'the write through the faulty node fails');
      assert.match(failure.details, /STORAGE_FAILURE|NOT_LEADER|disk fault/);
    }
    await cluster.waitUntil('node 1 to report its disk fault', 10_000, async () => {
      await client.put('disk-traffic', 'x', { deadlineMs: 500 }).catch(() => undefined);
      return ((await cluster.status(1))?.writeFault ?? '') !== '';
    });
    // The healthy majority keeps serving reads and writes.
    await assertReadable(client, acked);
    const during = await writeKeys(client, 'disk-during', 50);
    assert.equal(during.length, 50);
    await rm(faultFile);
    await cluster.waitUntil(
      'node 1 to recover',
      20_000,
      async () => ((await cluster.status(1))?.writeFault ?? 'x') === '',
    );
    await waitCaughtUp(cluster, 1, 30_000);
    await assertReadable(client, [...acked, ...during]);
  });
});

/** rawPutTo sends one put straight to `address` (no client retries); returns its error. */
function rawPutTo(
  address: string,
  key: string,
  groupId: number,
): Promise<grpc.ServiceError | null> {
  const raw = new grpc.Client(address, grpc.credentials.createInsecure());
  const bytes = encodePutRequest({
    key: text.encode(key),
    value: text.encode('v'),
    prevKv: false,
    header: { groupId: groupId as never, epoch: 0, clientId: 0, seq: 0 },
  });
  return new Promise((resolve) =>
    raw.makeUnaryRequest(
      '/strata.kv.Kv/Put',
      identity,
      (b: Buffer) => b,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (error) => {
        raw.close();
        resolve(error ?? null);
      },
    ),
  );
}

describe('bad input', { timeout: 60_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let client: StrataClient;
  let raw: grpc.Client;
  const groups = 4;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-bad-'));
    cluster = await ProcessCluster.start({ dir, groupCount: groups });
    await cluster.waitForLeaders(groups);
    client = await StrataClient.connect({ endpoints: cluster.endpoints(), deadlineMs: 5_000 });
    raw = new grpc.Client(cluster.endpoints()[0], grpc.credentials.createInsecure());
  });
  after(async () => {
    raw?.close();
    client?.close();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function rawPut(bytes: Uint8Array): Promise<grpc.ServiceError | null> {
    return new Promise((resolve) =>
      raw.makeUnaryRequest(
        '/strata.kv.Kv/Put',
        identity,
        (b: Buffer) => b,
        bytes,
        (error) => resolve(error ?? null),
      ),
    );
  }

  function putBytes(key: Uint8Array, value: Uint8Array, groupId: number): Uint8Array {
    return encodePutRequest({
      key,
      value,
      prevKv: false,
      header: { groupId: groupId as never, epoch: 0, clientId: 0, seq: 0 },
    });
  }

  test('oversized key and value are refused with the limit named; nothing else is affected', async () => {
    await client.put('good', 'kept');
    const ring = new GroupRing(groups);
    const bigKey = new Uint8Array(4 * 1024 + 1).fill(97);
    const keyError = await rawPut(putBytes(bigKey, text.encode('v'), ring.groupOf(bigKey)));
    assert.equal(keyError?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(keyError?.details ?? '', /keyBytesMax/);
    const bigValue = new Uint8Array(1024 * 1024 + 1);
    const valueError = await rawPut(
      putBytes(text.encode('k'), bigValue, ring.groupOf(text.encode('k'))),
    );
    assert.ok(
      valueError &&
        [grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED].includes(valueError.code),
    );
    assert.match(valueError.details, /valueBytesMax|requestBytesMax/);
    await assert.rejects(client.put(bigKey, 'v'), /keyBytesMax/);
    assert.equal(new TextDecoder().decode((await client.get('good'))?.value), 'kept');
  });

  test('malformed protobuf and an unknown group get clear errors', async () => {
    const malformed = await rawPut(new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x01]));
    assert.equal(malformed?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(malformed?.details ?? '', /MALFORMED|decode/);
    const unknown = await rawPut(putBytes(text.encode('k'), text.encode('v'), 999));
    assert.ok(unknown, 'a put to group 999 fails');
    assert.match(unknown.details, /NOT_FOUND|WRONG_GROUP|group 999/);
  });

  test('random bytes on the gRPC port close that connection only', async () => {
    const [host, port] = cluster.endpoints()[0].split(':');
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), host, () => {
        const garbage = new Uint8Array(4096);
        for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
        socket.write(garbage);
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2_000);
    });
    await client.put('after-garbage', 'ok');
    assert.equal(new TextDecoder().decode((await client.get('after-garbage'))?.value), 'ok');
  });

  test('a node of another cluster is refused as a peer and changes nothing', async () => {
    const before = await cluster.status(1);
    // One node of cluster 'other' that lists our nodes as its peers: its Raft streams reach
    // our nodes with the wrong cluster id.
    const stranger = await ProcessCluster.start({
      dir: join(dir, 'stranger'),
      nodes: 1,
      groupCount: groups,
      clusterId: 'other',
      foreignPeers: cluster.endpoints(),
    });
    try {
      await cluster.waitUntil('our nodes to refuse the stranger', 15_000, async () => {
        const status = await cluster.status(1);
        return Number(status?.peersRefused ?? 0) > Number(before?.peersRefused ?? 0);
      });
    } finally {
      await stranger.close();
    }
    await client.put('after-intruder', 'ok');
    const leaders = await cluster.leaders(groups);
    assert.ok([...leaders.values()].every((leader) => leader >= 1 && leader <= 3));
  });
});
