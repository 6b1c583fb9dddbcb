/**
 * `strata status` output: the Admin.Status answers of every node merged into one row per group.
 * Each node reports its own replica of each group it hosts; only the leader knows the
 * replicas' progress, so a group's row is its leader's view (the replica that calls itself
 * leader with the highest term), else the freshest follower's. Pure: formatting only.
 */
import type { GroupStatus, NodeStatus } from '../client/index.js';

/** GroupRow is one group's line of the table. */
export interface GroupRow {
  group: number;
  /** leader is the leader's node id, 0 when no replica knows one. */
  leader: number;
  term: number;
  commit: number;
  applied: number;
  /** members lists voters, then learners marked with a trailing `~`. */
  members: string;
  /** lag is the leader's last index minus the slowest replica's match (null: no leader view). */
  lag: number | null;
  /** replicas is the number of nodes that answered for this group. */
  replicas: number;
}

/** isLeaderView says whether a replica's status is its group's leader speaking. */
function isLeaderView(node: NodeStatus, group: GroupStatus): boolean {
  return group.role === 'leader' || (group.leaderId === node.nodeId && group.progress.length > 0);
}

/** mergeGroupStatus builds the rows, sorted by group id, from every node's status. */
export function mergeGroupStatus(nodes: readonly NodeStatus[]): GroupRow[] {
  const views = new Map<number, { node: NodeStatus; group: GroupStatus }[]>();
  for (const node of nodes) {
    for (const group of node.groups) {
      let list = views.get(group.groupId);
      if (!list) views.set(group.groupId, (list = []));
      list.push({ node, group });
    }
  }
  const rows: GroupRow[] = [];
  for (const [groupId, list] of views) {
    const leaders = list.filter((view) => isLeaderView(view.node, view.group));
    const pool = leaders.length > 0 ? leaders : list;
    const view = pool.reduce((a, b) => (fresher(b.group, a.group) ? b : a));
    const best = view.group;
    rows.push({
      group: groupId,
      leader: leaders.length > 0 ? view.node.nodeId : best.leaderId,
      term: best.term,
      commit: best.commit,
      applied: best.applied,
      members: [...best.voters.map(String), ...best.learners.map((id) => `${id}~`)].join(','),
      lag: leaders.length > 0 ? lagOf(best) : null,
      replicas: list.length,
    });
  }
  return rows.sort((a, b) => a.group - b.group);
}

/** fresher says whether replica status `a` is newer than `b` (higher term, then commit). */
function fresher(a: GroupStatus, b: GroupStatus): boolean {
  return a.term > b.term || (a.term === b.term && a.commit > b.commit);
}

/** lagOf is the leader's last index minus the lowest match among its replicas (0 if none). */
export function lagOf(leader: GroupStatus): number | null {
  if (leader.progress.length === 0) return null;
  const slowest = Math.min(...leader.progress.map((p) => p.match));
  return Math.max(0, leader.lastIndex - slowest);
}

/** formatTable renders rows as aligned columns: text left, numbers right. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)));
  const numeric = header.map((_, i) => rows.every((r) => /^-?\d*$/.test(r[i]!)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** groupTable renders GroupRows as the status table. */
export function groupTable(rows: readonly GroupRow[]): string[] {
  const header = ['group', 'leader', 'term', 'commit', 'applied', 'members', 'lag'];
  return formatTable(
    header,
    rows.map((row) => [
      String(row.group),
      row.leader === 0 ? '-' : String(row.leader),
      String(row.term),
      String(row.commit),
      String(row.applied),
      row.members,
      row.lag === null ? '-' : String(row.lag),
    ]),
  );
}

/** nodeLine summarizes one node's status in one line. */
export function nodeLine(node: NodeStatus): string {
  const led = node.groups.filter((group) => isLeaderView(node, group)).length;
  const fault = node.writeFault ? `WRITE FAULT: ${node.writeFault}` : 'no write fault';
  return (
    `node ${node.nodeId} ${node.address}: ${node.groups.length} groups, leads ${led}, ` +
    `${node.entriesApplied} entries applied, ${fault}`
  );
}
