/**
 * Router is the client's routing state: the cluster layout (ring, placement, node addresses)
 * at its epoch, and a leader cache per group. A request goes to the cached leader of its group,
 * else to the group's preferred leader (placement's first replica); failures move it along the
 * group's replicas, and leader hints from answers update the cache. Pure: no I/O.
 */
import type { GroupId, NodeId } from '../raft/index.js';
import { GroupRing, parseClusterLayout, type ClusterLayout } from '../ring/index.js';
import type { Key } from './keys.js';

/** Router maps keys to groups and groups to the node to ask. */
export class Router {
  #layout: ClusterLayout;
  #ring: GroupRing;
  #addresses = new Map<NodeId, string>();
  #replicas = new Map<GroupId, NodeId[]>();
  /** Invariant: every cached leader is a replica of its group in the current layout. */
  readonly #leaders = new Map<GroupId, NodeId>();

  constructor(layout: ClusterLayout, leaders: readonly number[] = [], ring?: GroupRing) {
    this.#layout = layout;
    this.#ring =
      ring && ring.groupCount === layout.groupCount ? ring : new GroupRing(layout.groupCount);
    this.#index(layout);
    this.noteLeaders(leaders);
  }

  /** Router.fromJson parses a layout received from a node (untrusted) into a Router. */
  static fromJson(layoutJson: string, leaders: readonly number[] = []): Router {
    return new Router(parseClusterLayout(layoutJson), leaders);
  }

  /** epoch is the layout's epoch, sent in every request header. */
  get epoch(): number {
    return this.#layout.epoch;
  }

  /** layout is the current cluster layout (do not modify it). */
  get layout(): ClusterLayout {
    return this.#layout;
  }

  /** groupCount is the number of data groups. */
  get groupCount(): number {
    return this.#layout.groupCount;
  }

  /** groupOf returns the group that holds `key`. */
  groupOf(key: Key): GroupId {
    return this.#ring.groupOf(key);
  }

  /** replicas returns a group's replicas, preferred leader first. */
  replicas(groupId: GroupId): readonly NodeId[] {
    const replicas = this.#replicas.get(groupId);
    if (!replicas)
      throw new RangeError(`group ${groupId} is not in the layout (1..${this.groupCount})`);
    return replicas;
  }

  /** address returns a node's host:port. */
  address(nodeId: NodeId): string {
    const address = this.#addresses.get(nodeId);
    if (address === undefined) throw new RangeError(`node ${nodeId} is not in the layout`);
    return address;
  }

  /** addresses lists every node's address, in node id order. */
  addresses(): string[] {
    return this.#layout.nodes.map((node) => node.address);
  }

  /** leaderOf returns the cached leader of a group, or 0. */
  leaderOf(groupId: GroupId): NodeId {
    return this.#leaders.get(groupId) ?? (0 as NodeId);
  }

  /** target returns the node to ask first for a group: its cached leader, else replicas[0]. */
  target(groupId: GroupId): NodeId {
    return this.#leaders.get(groupId) ?? this.replicas(groupId)[0]!;
  }

  /** noteLeader caches `nodeId` as the leader of a group (ignored unless it is a replica). */
  noteLeader(groupId: GroupId, nodeId: number): boolean {
    const replicas = this.#replicas.get(groupId);
    if (!replicas || !replicas.includes(nodeId as NodeId)) return false;
    this.#leaders.set(groupId, nodeId as NodeId);
    return true;
  }

  /** noteLeaders seeds the cache from Admin.Cluster's hints (group i + 1 at index i). */
  noteLeaders(leaders: readonly number[]): void {
    const count = Math.min(leaders.length, this.groupCount);
    for (let i = 0; i < count; i++) {
      if (leaders[i]! > 0) this.noteLeader((i + 1) as GroupId, leaders[i]!);
    }
  }

  /** forgetLeader drops the cached leader of a group if it is `nodeId`. */
  forgetLeader(groupId: GroupId, nodeId: NodeId): void {
    if (this.#leaders.get(groupId) === nodeId) this.#leaders.delete(groupId);
  }

  /** nextReplica returns the replica after `nodeId` in the group's list (wrapping around). */
  nextReplica(groupId: GroupId, nodeId: NodeId): NodeId {
    const replicas = this.replicas(groupId);
    const at = replicas.indexOf(nodeId);
    return replicas[(at + 1) % replicas.length]!;
  }

  /**
   * update installs a layout with an epoch at least the current one (older ones are ignored
   * and false is returned). The group count is fixed for a cluster's life; a layout with
   * another count belongs to another cluster and is refused.
   */
  update(layout: ClusterLayout, leaders: readonly number[] = []): boolean {
    if (layout.groupCount !== this.groupCount) {
      throw new RangeError(
        `layout has ${layout.groupCount} groups, this client routes ${this.groupCount}: ` +
          `another cluster?`,
      );
    }
    if (layout.epoch < this.#layout.epoch) return false;
    this.#layout = layout;
    this.#index(layout);
    for (const [groupId, leader] of this.#leaders) {
      if (!this.#replicas.get(groupId)?.includes(leader)) this.#leaders.delete(groupId);
    }
    this.noteLeaders(leaders);
    return true;
  }

  #index(layout: ClusterLayout): void {
    this.#addresses = new Map(layout.nodes.map((node) => [node.id, node.address]));
    this.#replicas = new Map(layout.placement.map((entry) => [entry.groupId, entry.replicas]));
  }
}
