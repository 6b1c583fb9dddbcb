/**
 * `strata admin`: the elastic-cluster commands. Each change is one Admin.Change call to any
 * node (it passes the change on to the metadata leader); `--wait` then polls the layout until
 * the moves it started are done. `status` prints the placement per node.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeStatusResponse, type NodeStatus } from '../store/admin-codec.js';
import { groupSettled, parseClusterLayout, type ClusterLayout } from '../ring/index.js';
import { AdminCallError, AdminCalls } from '../store/admin-calls.js';
import { strata as pb } from '../store/admin-gen/admin.js';
import type { AdminCommand } from './args.js';
import { CommandFailure, type CliIo } from './io.js';

/** ADMIN_CALL_MS bounds one Admin call of the command line. */
const ADMIN_CALL_MS = 20_000;

/** runAdmin runs one `strata admin` command; resolves with the exit code. */
export async function runAdmin(command: AdminCommand, io: CliIo): Promise<number> {
  const calls = new AdminCalls();
  try {
    const cluster = await fetchCluster(calls, command.endpoints);
    if (command.op === 'status') {
      await printStatus(calls, cluster, command.json, io);
      return 0;
    }
    const request = pb.admin.ChangeRequest.encode({
      clusterId: command.clusterId || cluster.clusterId,
      op: command.op,
      nodeId: command.nodeId,
      groupId: command.groupId,
      fromNode: command.fromNode,
      toNode: command.toNode,
      address: command.address,
    }).finish();
    const answer = pb.admin.ChangeResponse.decode(
      await callAny(calls, command.endpoints, 'Change', request),
    );
    io.out(`${answer.message} (epoch ${Number(answer.epoch)})`);
    if (command.wait) {
      await waitForMoves(calls, command, io);
    }
    return 0;
  } finally {
    calls.close();
  }
}

/** callAny calls `method` on the endpoints in turn until one answers; refusals are final. */
async function callAny(
  calls: AdminCalls,
  endpoints: readonly string[],
  method: 'Change' | 'Cluster',
  request: Uint8Array,
): Promise<Uint8Array> {
  const errors: string[] = [];
  for (const endpoint of endpoints) {
    try {
      return await calls.call(endpoint, method, request, ADMIN_CALL_MS);
    } catch (error) {
      const refusal =
        error instanceof AdminCallError &&
        (error.grpcCode === grpc.status.FAILED_PRECONDITION ||
          error.grpcCode === grpc.status.INVALID_ARGUMENT);
      if (refusal) throw new CommandFailure(`admin: refused: ${error.message}`);
      errors.push(`${endpoint}: ${(error as Error).message}`);
    }
  }
  throw new CommandFailure(`admin: no node answered (${errors.join('; ')})`);
}

/** fetchCluster returns the newest layout the endpoints know. */
async function fetchCluster(
  calls: AdminCalls,
  endpoints: readonly string[],
): Promise<{ clusterId: string; layout: ClusterLayout }> {
  // Every endpoint is asked and the newest layout wins: a node may lag a poll behind.
  const request = pb.admin.ClusterRequest.encode({}).finish();
  const answers = await Promise.all(
    endpoints.map((endpoint) =>
      calls.call(endpoint, 'Cluster', request, ADMIN_CALL_MS).then(
        (bytes) => pb.admin.ClusterResponse.decode(bytes),
        () => null,
      ),
    ),
  );
  let best: { clusterId: string; layout: ClusterLayout } | null = null;
  for (const answer of answers) {
    if (!answer) continue;
    const layout = parseClusterLayout(answer.layoutJson);
    if (!best || layout.epoch > best.layout.epoch) best = { clusterId: answer.clusterId, layout };
  }
  if (!best) {
    await callAny(calls, endpoints, 'Cluster', request); // throws, naming each endpoint's failure
    throw new CommandFailure('admin: no node answered');
  }
  return best;
}

/** pendingMoves counts groups whose replicas differ from their target. */
export function pendingMoves(layout: ClusterLayout): number {
  return [layout.metaGroup, ...layout.placement].filter((entry) => !groupSettled(entry)).length;
}

/** waitForMoves polls the layout until no group is mid-move, within --timeout-ms. */
async function waitForMoves(calls: AdminCalls, command: AdminCommand, io: CliIo): Promise<void> {
  const deadline = Date.now() + command.timeoutMs;
  let last = -1;
  for (;;) {
    const { layout } = await fetchCluster(calls, command.endpoints);
    const pending = pendingMoves(layout);
    if (pending === 0) {
      io.out(`all moves done (epoch ${layout.epoch})`);
      return;
    }
    if (pending !== last) io.out(`${pending} groups still moving...`);
    last = pending;
    if (Date.now() > deadline) {
      throw new CommandFailure(
        `admin: ${pending} groups still moving after ${command.timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** printStatus prints one row per node: state, replicas, learners, leaders, target. */
async function printStatus(
  calls: AdminCalls,
  cluster: { clusterId: string; layout: ClusterLayout },
  json: boolean,
  io: CliIo,
): Promise<void> {
  const { layout } = cluster;
  const statuses = new Map<number, NodeStatus>();
  await Promise.all(
    layout.nodes
      .filter((node) => node.state !== 'removed')
      .map(async (node) => {
        try {
          const bytes = await calls.call(
            node.address,
            'Status',
            pb.admin.StatusRequest.encode({}).finish(),
            2_000,
          );
          statuses.set(node.id, decodeStatusResponse(bytes));
        } catch {
          // down: shown as such
        }
      }),
  );
  const rows = layout.nodes.map((node) => {
    const count = (pick: (entry: ClusterLayout['placement'][number]) => readonly number[]) =>
      layout.placement.filter((entry) => pick(entry).includes(node.id)).length;
    const status = statuses.get(node.id);
    const leaders = status
      ? status.groups.filter((group) => group.groupId !== 0 && group.role === 'leader').length
      : null;
    return {
      node: node.id,
      address: node.address,
      state: node.state,
      alive: status !== undefined,
      replicas: count((entry) => entry.replicas),
      learners: count((entry) => entry.learners),
      target: count((entry) => entry.target),
      leaders,
      meta: layout.metaGroup.replicas.includes(node.id),
    };
  });
  const pending = pendingMoves(layout);
  if (json) {
    io.out(
      JSON.stringify({
        clusterId: cluster.clusterId,
        epoch: layout.epoch,
        pendingMoves: pending,
        nodes: rows,
      }),
    );
    return;
  }
  io.out(
    `cluster '${cluster.clusterId}' epoch ${layout.epoch}: ${layout.groupCount} groups, ` +
      `replication factor ${layout.replicationFactor}, ${pending} groups moving`,
  );
  io.out('node  address                state     alive  replicas  learners  target  leaders  meta');
  for (const row of rows) {
    io.out(
      [
        String(row.node).padEnd(6),
        row.address.padEnd(23),
        row.state.padEnd(10),
        (row.alive ? 'yes' : 'no').padEnd(7),
        String(row.replicas).padEnd(10),
        String(row.learners).padEnd(10),
        String(row.target).padEnd(8),
        String(row.leaders ?? '-').padEnd(9),
        row.meta ? 'voter' : '',
      ]
        .join('')
        .trimEnd(),
    );
  }
}
