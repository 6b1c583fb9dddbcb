/**
 * JepsenCluster: the store nodes of one run, inside its namespace. Node i listens on
 * 127.0.0.(10+i):(7000+i) and runs with group id 47000+i (the firewall's owner match gives its
 * connections that source address). It wraps the harness's ProcessCluster and adds what the
 * nemeses need: which nodes are paused, how many times each was started (incarnations), leader
 * lookups, the cluster's current layout and layout changes over the Admin service, and pid
 * bookkeeping for cleanup.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { parseClusterLayout, type ClusterLayout } from '../../src/ring/index.js';
import { AdminCalls } from '../../src/store/admin-calls.js';
import { strata as pb } from '../../src/store/admin-gen/admin.js';
import { ProcessCluster, type NodeStatus } from '../harness/process-cluster.js';
import type { FirewallNode } from '../net/firewall.js';
import type { PidRegistry } from './pids.js';
import { waitFor } from './time.js';

/** SERVING_WAIT_MS bounds the wait for restarted nodes to answer. */
export const SERVING_WAIT_MS = 20_000;

/** NODE_GID_BASE + node id is the group id a node process runs as. */
export const NODE_GID_BASE = 47_000;

/** CLUSTER_ID is the cluster id of every run's cluster. */
export const CLUSTER_ID = 'jepsen';

/** LAYOUT_CALL_MS bounds one node's answer to Admin.Cluster. */
export const LAYOUT_CALL_MS = 1_000;

/** CHANGE_CALL_MS bounds one Admin.Change (the metadata leader probes every node first). */
export const CHANGE_CALL_MS = 10_000;

/** LayoutChange is one `strata admin` change (fields its op does not use are left out). */
export interface LayoutChange {
  op: 'move-replica' | 'transfer-leader';
  groupId: number;
  fromNode?: number;
  toNode: number;
}

/** ClusterSpec sizes and tunes a run's cluster. */
export interface ClusterSpec {
  nodes: number;
  groupCount: number;
  replicationFactor: number;
  tickMs: number;
  electionTicks: number;
  compactEntries: number;
  compactTrailingEntries: number;
  /** env is added to every node's environment (e.g. STRATA_TEST_MUTATION). */
  env: Record<string, string>;
}

/** nodeHost returns node `id`'s address in the namespace. */
export function nodeHost(id: number): string {
  return `127.0.0.${10 + id}`;
}

/** nodePort returns node `id`'s port. */
export function nodePort(id: number): number {
  return 7000 + id;
}

/** firewallNodes describes nodes 1..count for the firewall (known before they start). */
export function firewallNodes(count: number): FirewallNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    host: nodeHost(i + 1),
    port: nodePort(i + 1),
    gid: NODE_GID_BASE + i + 1,
  }));
}

/** JepsenCluster is a running cluster of a run. */
export class JepsenCluster {
  private readonly paused = new Set<number>();
  /** admin makes the runner's Admin calls (layouts and changes). */
  private readonly admin = new AdminCalls();

  private constructor(
    readonly spec: ClusterSpec,
    readonly processes: ProcessCluster,
    private readonly registry: PidRegistry,
    /** incarnations[id] counts the starts of node id (1 after the first). */
    readonly incarnations: Map<number, number>,
  ) {}

  /** JepsenCluster.start writes the configs and starts every node. */
  static async start(
    spec: ClusterSpec,
    dir: string,
    registry: PidRegistry,
  ): Promise<JepsenCluster> {
    const logDir = join(dir, 'nodes');
    await mkdir(logDir, { recursive: true });
    const incarnations = new Map<number, number>();
    const processes = await ProcessCluster.start({
      dir: join(dir, 'data'),
      nodes: spec.nodes,
      groupCount: spec.groupCount,
      clusterId: CLUSTER_ID,
      addressOf: (id) => `${nodeHost(id)}:${nodePort(id)}`,
      gidOf: (id) => NODE_GID_BASE + id,
      logDir,
      env: spec.env,
      nodeConfig: {
        replicationFactor: spec.replicationFactor,
        tickMs: spec.tickMs,
        electionTicks: spec.electionTicks,
        compactEntries: spec.compactEntries,
        compactTrailingEntries: spec.compactTrailingEntries,
      },
      onLaunch: (id, pid) => {
        registry.add(pid, `node ${id}`);
        incarnations.set(id, (incarnations.get(id) ?? 0) + 1);
      },
    });
    const cluster = new JepsenCluster(spec, processes, registry, incarnations);
    for (const id of cluster.ids()) cluster.watchExit(id);
    return cluster;
  }

  private watchExit(id: number): void {
    const child = this.processes.nodes.get(id)?.child;
    if (child?.pid !== undefined) {
      const pid = child.pid;
      child.once('exit', () => this.registry.remove(pid));
    }
  }

  /** ids lists the node ids. */
  ids(): number[] {
    return [...this.processes.nodes.keys()];
  }

  /** endpoints lists every node's host:port. */
  endpoints(): string[] {
    return this.processes.endpoints();
  }

  /** dataDir returns node `id`'s data directory. */
  dataDir(id: number): string {
    return join(this.processes.options.dir, `node-${id}`);
  }

  /** isRunning tells whether node `id`'s process is alive. */
  isRunning(id: number): boolean {
    return this.processes.isRunning(id);
  }

  /** isPaused tells whether node `id` is stopped with SIGSTOP. */
  isPaused(id: number): boolean {
    return this.paused.has(id);
  }

  /** launch starts node `id` (with extra environment, e.g. failpoints). */
  launch(id: number, env: Record<string, string> = {}): void {
    this.paused.delete(id);
    this.processes.launch(id, env);
    this.watchExit(id);
  }

  /** kill sends SIGKILL to node `id` and waits until it exited. */
  async kill(id: number): Promise<void> {
    this.paused.delete(id);
    await this.processes.kill(id, 'SIGKILL');
  }

  /** waitExit waits up to `timeoutMs` for node `id` to exit by itself; true if it did. */
  async waitExit(id: number, timeoutMs: number): Promise<boolean> {
    try {
      await this.processes.waitExit(id, timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  /** pause stops node `id` with SIGSTOP. */
  pause(id: number): void {
    if (!this.isRunning(id)) return;
    this.paused.add(id);
    this.processes.pause(id);
  }

  /** resume continues node `id` with SIGCONT. */
  resume(id: number): void {
    this.paused.delete(id);
    this.processes.resume(id);
  }

  /**
   * waitServing waits until every node of `ids` that is running answers its status (bounded
   * by `timeoutMs`); returns whether they all did.
   */
  async waitServing(ids: readonly number[], timeoutMs = SERVING_WAIT_MS): Promise<boolean> {
    return waitFor(
      async () => {
        const statuses = await Promise.all(
          ids.filter((id) => this.isRunning(id)).map((id) => this.status(id, 500)),
        );
        return statuses.every((status) => status !== null);
      },
      timeoutMs,
      100,
    );
  }

  /** status reads node `id`'s status, or null (down, paused or silent). */
  async status(id: number, timeoutMs = 1_000): Promise<NodeStatus | null> {
    if (!this.isRunning(id) || this.isPaused(id)) return null;
    return this.processes.status(id, timeoutMs);
  }

  /**
   * leaders maps each group to the node that calls itself its leader in the highest term
   * among the running, unpaused nodes (0 when none does).
   */
  async leaders(): Promise<Map<number, number>> {
    const best = new Map<number, { term: number; node: number }>();
    const statuses = await Promise.all(this.ids().map((id) => this.status(id, 800)));
    for (const status of statuses) {
      for (const group of status?.groups ?? []) {
        if (group.role !== 'leader') continue;
        const groupId = Number(group.groupId);
        const term = Number(group.term);
        if (term > (best.get(groupId)?.term ?? -1)) {
          best.set(groupId, { term, node: Number(status!.nodeId) });
        }
      }
    }
    const result = new Map<number, number>();
    for (let g = 1; g <= this.spec.groupCount; g++) result.set(g, best.get(g)?.node ?? 0);
    return result;
  }

  /** leaderOf returns the leader of `groupId` (see leaders), or 0. */
  async leaderOf(groupId: number): Promise<number> {
    return (await this.leaders()).get(groupId) ?? 0;
  }

  /** busiestLeader returns the node leading the most groups, or 0 when none leads. */
  async busiestLeader(): Promise<number> {
    const counts = new Map<number, number>();
    for (const leader of (await this.leaders()).values()) {
      if (leader !== 0) counts.set(leader, (counts.get(leader) ?? 0) + 1);
    }
    let best = 0;
    for (const [id, count] of counts) if (count > (counts.get(best) ?? 0)) best = id;
    return best;
  }

  /** addressOf returns node `id`'s host:port. */
  addressOf(id: number): string {
    return `${nodeHost(id)}:${nodePort(id)}`;
  }

  /**
   * layout returns the newest layout among the running, unpaused nodes (the highest epoch: a
   * node may be a poll behind), or null when none answers within `timeoutMs`.
   */
  async layout(timeoutMs = LAYOUT_CALL_MS): Promise<ClusterLayout | null> {
    const request = pb.admin.ClusterRequest.encode({}).finish();
    const answering = this.ids().filter((id) => this.isRunning(id) && !this.isPaused(id));
    const layouts = await Promise.all(
      answering.map(async (id) => {
        try {
          const bytes = await this.admin.call(this.addressOf(id), 'Cluster', request, timeoutMs);
          return parseClusterLayout(pb.admin.ClusterResponse.decode(bytes).layoutJson);
        } catch {
          return null;
        }
      }),
    );
    let newest: ClusterLayout | null = null;
    for (const layout of layouts) {
      if (layout && (newest === null || layout.epoch > newest.epoch)) newest = layout;
    }
    return newest;
  }

  /**
   * change asks node `via` to make a layout change (it passes it on to the metadata leader) and
   * returns the cluster's one-line answer. Rejects with AdminCallError: FAILED_PRECONDITION or
   * INVALID_ARGUMENT when the cluster refuses the change, another code when it was not reached.
   */
  async change(via: number, change: LayoutChange): Promise<string> {
    const request = pb.admin.ChangeRequest.encode({
      clusterId: CLUSTER_ID,
      op: change.op,
      groupId: change.groupId,
      fromNode: change.fromNode ?? 0,
      toNode: change.toNode,
    }).finish();
    const bytes = await this.admin.call(this.addressOf(via), 'Change', request, CHANGE_CALL_MS);
    const answer = pb.admin.ChangeResponse.decode(bytes);
    return `${answer.message} (epoch ${Number(answer.epoch)})`;
  }

  /** close resumes and kills every node (by pid) and closes the admin clients. */
  async close(): Promise<void> {
    this.paused.clear();
    this.admin.close();
    await this.processes.close();
  }
}
