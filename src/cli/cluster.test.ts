// End to end against real processes: three `node bin/strata.js node ...` processes on free
// loopback ports with a temporary data dir. Proves that (1) 1,000 pipelined puts and their
// gets through StrataClient land in the groups GroupRing names, every group's applied index
// (Admin.Status) growing by at least its keys, the keys reaching all 64 groups, and the key
// naming spreading within +/-15% of even over 64 groups at 20,000 keys (at 1,000 keys a group
// expects 15.6 keys, whose natural spread is about +/-25%, so the band is checked where it is
// meaningful); (2) the CLI's put/get/del/scan/status work against the cluster with the
// documented output and exit codes; (3) SIGTERM stops every node cleanly and a restart on the
// same data loses nothing. Children are killed in after(); every wait is bounded in count/time.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { GroupRing } from '../ring/index.js';
import { StrataClient, type NodeStatus } from '../client/index.js';
import { freePort } from '../../jepsen-like-tests/harness/ports.js';

const LAUNCHER = fileURLToPath(new URL('../../../bin/strata.js', import.meta.url));
const NODE_COUNT = 3;
const GROUPS = 64;
const KEY_COUNT = 1_000;
const READY_MS = 60_000;

/** freePorts returns `count` distinct free loopback ports (below the ephemeral range). */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}

/** NodeProcess is one running `strata node` child. */
interface NodeProcess {
  id: number;
  child: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
}

let dir = '';
let endpoints: string[] = [];
let nodes: NodeProcess[] = [];

function startNode(id: number): NodeProcess {
  const peers = endpoints.map((address, i) => `${i + 1}=${address}`).join(',');
  const args = [
    LAUNCHER, 'node', '--node-id', String(id), '--cluster-id', 'e2e',
    '--data-dir', join(dir, `node-${id}`), '--listen', endpoints[id - 1]!, '--peers', peers,
    '--groups', String(GROUPS), '--tick-ms', '50',
  ]; // prettier-ignore
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const keep = (chunk: Buffer): void => {
    log.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((line) => line !== ''),
    );
    if (log.length > 200) log.splice(0, log.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { id, child, log, exited };
}

function logs(): string {
  return nodes.map((n) => `[n${n.id}] ${n.log.slice(-5).join(' | ')}`).join('\n');
}

/** connectWhenReady waits until a write succeeds and every node answers (bounded). */
async function connectWhenReady(): Promise<StrataClient> {
  const until = Date.now() + READY_MS;
  let last: unknown = null;
  for (let attempt = 0; attempt < 600 && Date.now() < until; attempt++) {
    for (const node of nodes) {
      assert.equal(node.child.exitCode, null, `node ${node.id} exited early:\n${logs()}`);
    }
    try {
      const client = await StrataClient.connect({ endpoints, deadlineMs: 3_000 });
      try {
        await client.put('e2e/ready', 'yes', { deadlineMs: 3_000 });
        // Every node, not just a quorum, must serve before the tests ask each of them.
        await Promise.all(endpoints.map((endpoint) => client.status(endpoint)));
        return client;
      } catch (error) {
        client.close();
        throw error;
      }
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  assert.fail(`cluster not ready within ${READY_MS} ms: ${String(last)}\n${logs()}`);
}

/** stopAll sends `signal` to every living node and waits for their exit codes (bounded). */
async function stopAll(signal: NodeJS.Signals): Promise<(number | null)[]> {
  for (const node of nodes) if (node.child.exitCode === null) node.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 20_000);
  });
  const codes = await Promise.race([Promise.all(nodes.map((node) => node.exited)), timeout]);
  clearTimeout(timer);
  assert.notEqual(codes, 'timeout', `nodes did not stop on ${signal}:\n${logs()}`);
  return codes as (number | null)[];
}

/** cli runs `strata <args>` against the cluster; resolves with exit code and output. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, STRATA_ENDPOINTS: endpoints.join(',') };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [LAUNCHER, ...args],
      { env, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** appliedByGroup returns, per group, the highest applied index any replica reports. */
async function appliedByGroup(client: StrataClient): Promise<Map<number, number>> {
  const statuses: NodeStatus[] = await Promise.all(endpoints.map((e) => client.status(e)));
  const applied = new Map<number, number>();
  for (const status of statuses) {
    for (const group of status.groups) {
      applied.set(group.groupId, Math.max(applied.get(group.groupId) ?? 0, group.applied));
    }
  }
  return applied;
}

const keyOf = (i: number): string => `e2e/key-${i}`;
const valueOf = (i: number): string => `value-${i}`;

describe('strata cluster end to end', { timeout: 240_000 }, () => {
  let client: StrataClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-e2e-'));
    endpoints = (await freePorts(NODE_COUNT)).map((port) => `127.0.0.1:${port}`);
    nodes = Array.from({ length: NODE_COUNT }, (_, i) => startNode(i + 1));
    client = await connectWhenReady();
  });

  after(async () => {
    client?.close();
    for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.exited));
    await rm(dir, { recursive: true, force: true });
  });

  it('puts and gets 1,000 keys through the client, into the groups GroupRing names', async () => {
    const ring = new GroupRing(GROUPS);
    const before = await appliedByGroup(client);
    const indexes = Array.from({ length: KEY_COUNT }, (_, i) => i);
    const results = await Promise.all(indexes.map((i) => client.put(keyOf(i), valueOf(i))));
    assert.ok(results.every((result) => result.index > 0));
    const kvs = await Promise.all(indexes.map((i) => client.get(keyOf(i))));
    kvs.forEach((kv, i) => assert.equal(Buffer.from(kv!.value).toString(), valueOf(i), keyOf(i)));

    const perGroup = new Map<number, number>();
    for (const i of indexes) {
      const group = ring.groupOf(keyOf(i));
      assert.equal(client.groupOf(keyOf(i)), group);
      perGroup.set(group, (perGroup.get(group) ?? 0) + 1);
    }
    assert.equal(perGroup.size, GROUPS, 'the keys reach every group');
    const afterPuts = await appliedByGroup(client);
    for (const [group, count] of perGroup) {
      const grew = (afterPuts.get(group) ?? 0) - (before.get(group) ?? 0);
      assert.ok(grew >= count, `group ${group}: applied grew by ${grew} for ${count} puts`);
    }
    const spread = new Map<number, number>();
    for (let i = 0; i < 20 * KEY_COUNT; i++) {
      const group = ring.groupOf(keyOf(i));
      spread.set(group, (spread.get(group) ?? 0) + 1);
    }
    const even = (20 * KEY_COUNT) / GROUPS;
    for (let group = 1; group <= GROUPS; group++) {
      const share = (spread.get(group) ?? 0) / even;
      assert.ok(share >= 0.85 && share <= 1.15, `group ${group} holds ${share.toFixed(2)} of even`);
    }
  });

  it('serves the CLI: put, get, del, scan and status', async () => {
    const put = await cli('put', 'cli/greeting', 'hello');
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^OK \(index \d+\)\n$/);
    assert.equal(put.stderr, '');
    const got = await cli('get', 'cli/greeting');
    assert.deepEqual(got, { code: 0, stdout: 'hello\n', stderr: '' });
    const serial = await cli('get', 'cli/greeting', '--serializable');
    assert.equal(serial.code, 0);
    await cli('put', 'cli/other', 'x');
    const scan = await cli('scan', '--prefix', 'cli/');
    assert.deepEqual(scan, { code: 0, stdout: 'cli/greeting\thello\ncli/other\tx\n', stderr: '' });
    const limited = await cli('scan', '--prefix', 'e2e/key-', '--limit', '3');
    assert.equal(limited.stdout.split('\n').filter((l) => l !== '').length, 3);
    assert.match(limited.stderr, /more keys after these 3/);
    assert.deepEqual(await cli('del', 'cli/greeting'), {
      code: 0,
      stdout: 'deleted 1\n',
      stderr: '',
    });
    const gone = await cli('get', 'cli/greeting');
    assert.deepEqual(gone, {
      code: 1,
      stdout: '',
      stderr: 'strata: get: key "cli/greeting" not found\n',
    });
    const status = await cli('status');
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.split('\n');
    assert.ok(!status.stdout.includes('UNREACHABLE'), status.stdout);
    const header = lines.findIndex((line) => line.startsWith('group  leader  term'));
    assert.ok(header > 0, status.stdout);
    const rows = lines.slice(header + 1).filter((line) => line.trim() !== '');
    assert.equal(rows.length, GROUPS + 1, 'the data groups and the metadata group 0');
    for (const row of rows) assert.match(row, /^\s*\d+\s+[123]\s+\d+\s+\d+\s+\d+\s+1,2,3\s+\d+$/);
  });

  it('stops cleanly on SIGTERM and restarts without losing a write', async () => {
    client.close();
    const codes = await stopAll('SIGTERM');
    assert.deepEqual(codes, [0, 0, 0], logs());
    for (const node of nodes) {
      assert.ok(
        node.log.some((line) => /stopped cleanly on SIGTERM/.test(line)),
        `node ${node.id}: ${node.log.slice(-3).join(' | ')}`,
      );
    }
    nodes = Array.from({ length: NODE_COUNT }, (_, i) => startNode(i + 1));
    client = await connectWhenReady();
    const indexes = Array.from({ length: KEY_COUNT }, (_, i) => i);
    const kvs = await Promise.all(indexes.map((i) => client.get(keyOf(i))));
    kvs.forEach((kv, i) =>
      assert.equal(kv && Buffer.from(kv.value).toString(), valueOf(i), keyOf(i)),
    );
    const scanned = await client.range({ prefix: 'e2e/key-' });
    assert.equal(scanned.kvs.length, KEY_COUNT);
    assert.equal(scanned.more, false);
    assert.equal(Buffer.from((await client.get('cli/other'))!.value).toString(), 'x');
  });
});
