/**
 * ProcessCluster starts a cluster of real `strata node` processes on loopback for tests: each
 * node is a child process (`node bin/strata.js node --config <file>`) with its own data
 * directory and port. It can kill -9, stop, restart and pause nodes, and reads their status over
 * the Admin service. Everything it starts, it stops by process id (`close()`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { strata } from '../../src/store/admin-gen/admin.js';
import type { strata as AdminTypes } from '../../src/store/admin-gen/admin-types.js';
import { freePort } from './ports.js';

/** NodeStatus is a node's Admin.Status answer. */
export type NodeStatus = AdminTypes.admin.StatusResponse.$Shape;

/** REPO_ROOT is the repository's root folder (the compiled file sits in dist/jepsen-like-tests). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STRATA_BIN = join(REPO_ROOT, 'bin', 'strata.js');

/** freePort is re-exported for the tests and benchmarks that pick ports of their own. */
export { freePort };

/** ClusterOptions configure a test cluster. */
export interface ClusterOptions {
  dir: string;
  nodes?: number;
  groupCount?: number;
  clusterId?: string;
  /** Extra node configuration keys (see src/store/config.ts). */
  nodeConfig?: Record<string, unknown>;
  /** Extra environment of every node (failpoints, fault files). */
  env?: Record<string, string>;
  /**
   * foreignPeers: addresses of nodes this cluster does not run, listed as peers 1..k before
   * its own nodes (ids k+1...). Used to point a node of another cluster at ours.
   */
  foreignPeers?: string[];
  /** addressOf gives node `id`'s host:port (default: a free port on 127.0.0.1). */
  addressOf?: (id: number) => string;
  /** gidOf gives the group id node `id`'s process runs as (iptables owner matching). */
  gidOf?: (id: number) => number;
  /** logDir: also append each node's output to `<logDir>/node-<id>.log`. */
  logDir?: string;
  /** onLaunch is told every process started (for cleanup by pid). */
  onLaunch?: (id: number, pid: number) => void;
}

interface NodeProcess {
  id: number;
  address: string;
  configPath: string;
  /** args replace `node --config <configPath>` (a node started with --join). */
  args?: string[];
  child: ChildProcess | null;
  log: string[];
}

/** ProcessCluster is a running set of node processes. */
export class ProcessCluster {
  readonly nodes = new Map<number, NodeProcess>();
  private readonly clients = new Map<number, grpc.Client>();

  private constructor(readonly options: ClusterOptions) {}

  /** start writes each node's config and starts every node. */
  static async start(options: ClusterOptions): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(options);
    const count = options.nodes ?? 3;
    const foreign = (options.foreignPeers ?? []).map((address, i) => ({ id: i + 1, address }));
    const own: { id: number; address: string }[] = [];
    for (let i = 1; i <= count; i++) {
      const id = foreign.length + i;
      const address = options.addressOf?.(id) ?? `127.0.0.1:${await freePort()}`;
      own.push({ id, address });
    }
    const peers = [...foreign, ...own];
    for (const peer of own) {
      const dataDir = join(options.dir, `node-${peer.id}`);
      await mkdir(dataDir, { recursive: true });
      const configPath = join(options.dir, `node-${peer.id}.json`);
      const config = {
        nodeId: peer.id,
        clusterId: options.clusterId ?? 'test',
        dataDir,
        listen: peer.address,
        peers,
        groupCount: options.groupCount ?? 16,
        ...options.nodeConfig,
      };
      await writeFile(configPath, JSON.stringify(config, null, 2));
      cluster.nodes.set(peer.id, {
        id: peer.id,
        address: peer.address,
        configPath,
        child: null,
        log: [],
      });
    }
    for (const id of cluster.nodes.keys()) cluster.launch(id);
    await cluster.waitAnswering([...cluster.nodes.keys()]);
    return cluster;
  }

  /**
   * waitAnswering waits until every node in `ids` answers Admin.Status; it fails at once, with
   * the node's log, if one of their processes exits (a port taken, a bad config).
   */
  async waitAnswering(ids: number[], timeoutMs = 30_000): Promise<void> {
    const started = Date.now();
    const pending = new Set(ids);
    while (pending.size > 0) {
      for (const id of [...pending]) {
        if (!this.isRunning(id)) {
          await this.close();
          throw new Error(`node ${id} exited while starting\n${this.tail(30)}`);
        }
        if (await this.status(id, 1_000)) pending.delete(id);
      }
      if (pending.size === 0) return;
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `nodes ${[...pending].join(', ')} did not answer within ${timeoutMs} ms\n${this.tail()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** endpoints lists every node's address. */
  endpoints(): string[] {
    return [...this.nodes.values()].map((node) => node.address);
  }

  private node(id: number): NodeProcess {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** launch starts node `id`'s process (it must not be running). */
  launch(id: number, env: Record<string, string> = {}): void {
    const node = this.node(id);
    if (node.child) throw new Error(`node ${id} is running`);
    const gid = this.options.gidOf?.(id);
    const args = node.args ?? ['node', '--config', node.configPath];
    const child = spawn(process.execPath, [STRATA_BIN, ...args], {
      env: { ...process.env, ...this.options.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(gid === undefined ? {} : { gid }),
    });
    if (child.pid !== undefined) this.options.onLaunch?.(id, child.pid);
    const logFile = this.options.logDir ? join(this.options.logDir, `node-${id}.log`) : null;
    const keep = (chunk: Buffer): void => {
      node.log.push(chunk.toString());
      if (node.log.length > 2_000) node.log.splice(0, 1_000);
      if (logFile) appendFileSync(logFile, chunk);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', () => {
      if (node.child === child) node.child = null;
    });
    node.child = child;
  }

  /**
   * addJoiningNode starts node `id` with `strata node --join <joinAddress>` (a new member of
   * the running cluster, on a free port) and returns its address. `clusterId` defaults to the
   * cluster's own.
   */
  async addJoiningNode(
    id: number,
    joinAddress: string,
    options: { clusterId?: string } = {},
  ): Promise<string> {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    const address = this.options.addressOf?.(id) ?? `127.0.0.1:${await freePort()}`;
    const dataDir = join(this.options.dir, `node-${id}`);
    const extra = Object.entries(this.options.nodeConfig ?? {}).flatMap(([key, value]) => {
      const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      return typeof value === 'number' ? [`--${flag}`, String(value)] : [];
    });
    const args = [
      'node',
      '--join',
      joinAddress,
      '--cluster-id',
      options.clusterId ?? this.options.clusterId ?? 'test',
      '--node-id',
      String(id),
      '--listen',
      address,
      '--data-dir',
      dataDir,
      ...extra,
    ];
    this.nodes.set(id, { id, address, configPath: '', args, child: null, log: [] });
    this.launch(id);
    return address;
  }

  /** isRunning tells whether node `id`'s process is alive. */
  isRunning(id: number): boolean {
    return this.node(id).child !== null;
  }

  /** kill sends `signal` (default SIGKILL) to node `id` and waits until it exited. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.node(id).child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await withTimeout(exited, 15_000, `node ${id} did not exit on ${signal}`);
    this.dropClient(id);
  }

  /** waitExit waits until node `id` exited by itself (a failpoint), up to `timeoutMs`. */
  async waitExit(id: number, timeoutMs: number): Promise<void> {
    const child = this.node(id).child;
    if (!child) return;
    await withTimeout(
      new Promise<void>((resolve) => child.once('exit', () => resolve())),
      timeoutMs,
      `node ${id} did not exit within ${timeoutMs} ms`,
    );
    this.dropClient(id);
  }

  /** pause and resume send SIGSTOP / SIGCONT. */
  pause(id: number): void {
    this.node(id).child?.kill('SIGSTOP');
  }

  resume(id: number): void {
    this.node(id).child?.kill('SIGCONT');
  }

  /** status reads node `id`'s Admin.Status, or null if it does not answer in time. */
  async status(id: number, timeoutMs = 2_000): Promise<NodeStatus | null> {
    const client = this.client(id);
    const identity = (bytes: Uint8Array): Buffer => Buffer.from(bytes);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        '/strata.admin.Admin/Status',
        identity,
        (bytes: Buffer) => bytes,
        new Uint8Array(0),
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error || !response) resolve(null);
          else resolve(strata.admin.StatusResponse.decode(response) as NodeStatus);
        },
      );
    });
  }

  /** waitUntil polls `check` every 50 ms until it returns true, or fails after `timeoutMs`. */
  async waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    for (;;) {
      if (await check()) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * leaders returns, for every group, the leader that the running nodes agree on (a group with
   * no leader, or with running nodes naming different leaders, maps to 0).
   */
  async leaders(groupCount: number): Promise<Map<number, number>> {
    const views = new Map<number, Set<number>>();
    for (const id of this.nodes.keys()) {
      if (!this.isRunning(id)) continue;
      const status = await this.status(id, 1_000);
      for (const group of status?.groups ?? []) {
        const set = views.get(group.groupId ?? 0) ?? new Set<number>();
        set.add(Number(group.leaderId));
        views.set(group.groupId ?? 0, set);
      }
    }
    const result = new Map<number, number>();
    for (let groupId = 1; groupId <= groupCount; groupId++) {
      const set = views.get(groupId);
      const leader = set && set.size === 1 ? [...set][0] : 0;
      result.set(groupId, leader !== 0 && this.isRunning(leader) ? leader : 0);
    }
    return result;
  }

  /** waitForLeaders waits until every group has an agreed, running leader; returns the time. */
  async waitForLeaders(groupCount: number, timeoutMs = 20_000): Promise<number> {
    return this.waitUntil('a leader in every group', timeoutMs, async () => {
      const leaders = await this.leaders(groupCount);
      return [...leaders.values()].every((leader) => leader !== 0);
    });
  }

  /** tail returns the last log lines of every node (for failure messages). */
  tail(lines = 15): string {
    return [...this.nodes.values()]
      .map(
        (node) => `--- node ${node.id}:\n${node.log.join('').split('\n').slice(-lines).join('\n')}`,
      )
      .join('\n');
  }

  private client(id: number): grpc.Client {
    let client = this.clients.get(id);
    if (!client) {
      client = new grpc.Client(this.node(id).address, grpc.credentials.createInsecure());
      this.clients.set(id, client);
    }
    return client;
  }

  private dropClient(id: number): void {
    this.clients.get(id)?.close();
    this.clients.delete(id);
  }

  /** close kills every node still running and closes the admin clients. */
  async close(): Promise<void> {
    for (const id of this.nodes.keys()) {
      this.resume(id);
      await this.kill(id, 'SIGKILL');
    }
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
