/**
 * `strata node`: builds the raw configuration from a JSON file and/or flags (flags win),
 * validates it with parseNodeConfig, starts a StoreNode with the client services, and stops it
 * cleanly on SIGINT or SIGTERM (a second signal while stopping exits at once).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { liveNodes, parseClusterLayout, type ClusterLayout } from '../ring/index.js';
import { AdminCallError, AdminCalls } from '../store/admin-calls.js';
import { strata as pb } from '../store/admin-gen/admin.js';
import { parseAddress } from '../store/config.js';
import { readLayoutFile, writeLayoutFile } from '../store/layout-file.js';
import { NodeConfigError, parseNodeConfig, type NodeConfig } from '../store/config.js';
import { IDENTITY_FILE, StoreNode } from '../store/node.js';
import { registerServices } from '../store/services.js';
import { CommandFailure, type CliIo } from './io.js';

/** CONFIG_FILE_BYTES_MAX bounds a configuration file. */
const CONFIG_FILE_BYTES_MAX = 1024 * 1024;

/** readConfigFile reads a JSON object from `path`; failures are CommandFailure (exit 2). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CommandFailure(`node: cannot read config file ${path}: ${code}`, 2);
  }
  if (text.length > CONFIG_FILE_BYTES_MAX) {
    throw new CommandFailure(`node: config file ${path} is over ${CONFIG_FILE_BYTES_MAX} bytes`, 2);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CommandFailure(
      `node: config file ${path} is not JSON: ${(error as Error).message}`,
      2,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandFailure(`node: config file ${path} must hold a JSON object`, 2);
  }
  return value as Record<string, unknown>;
}

/**
 * buildNodeConfig merges file and flags (flags win), fills `listen` from this node's entry in
 * `peers` when absent, and validates the result.
 */
export function buildNodeConfig(
  file: Record<string, unknown>,
  flags: Record<string, unknown>,
): NodeConfig {
  const raw: Record<string, unknown> = { ...file, ...flags };
  if (raw.listen === undefined && Array.isArray(raw.peers)) {
    const self = (raw.peers as { id?: unknown; address?: unknown }[]).find(
      (peer) => peer && peer.id === raw.nodeId,
    );
    if (self && typeof self.address === 'string') raw.listen = self.address;
  }
  try {
    return parseNodeConfig(raw);
  } catch (error) {
    if (error instanceof NodeConfigError) throw new CommandFailure(`node: ${error.message}`, 2);
    throw error;
  }
}

/** JOIN_CALL_MS bounds the join request (it waits for the metadata group to commit). */
const JOIN_CALL_MS = 20_000;

/**
 * resolveJoin turns `join: <host:port>` into a full configuration. A node that joined before
 * (its data directory has its identity and layout) restarts from them; a new node asks the
 * cluster, through the given node, to add it (the cluster id must match; the id is the one
 * given or the next free one), stores the layout it gets and starts as a member with no
 * replicas until a rebalance gives it some.
 */
export async function resolveJoin(
  raw: Record<string, unknown>,
  io: CliIo,
): Promise<Record<string, unknown>> {
  const { join, ...rest } = raw;
  if (join === undefined) return raw;
  const fail = (message: string): never => {
    throw new CommandFailure(`node --join: ${message}`, 2);
  };
  if (typeof join !== 'string') fail('must be host:port');
  if (typeof rest.dataDir !== 'string' || rest.dataDir === '') fail('needs --data-dir');
  if (typeof rest.clusterId !== 'string') fail('needs --cluster-id (the cluster to join)');
  if (rest.peers !== undefined) fail('takes no --peers (the cluster knows its members)');
  let listen = '';
  try {
    listen = parseAddress(rest.listen, 'listen');
    parseAddress(join, 'join');
  } catch (error) {
    fail((error as Error).message);
  }
  const dataDir = rest.dataDir as string;
  await mkdir(dataDir, { recursive: true });
  let nodeId: number;
  let layout: ClusterLayout | null = await readLayoutFile(dataDir);
  const identity = await readFile(joinPath(dataDir, IDENTITY_FILE), 'utf8').catch(() => null);
  if (layout && identity) {
    nodeId = (JSON.parse(identity) as { nodeId: number }).nodeId;
  } else {
    const calls = new AdminCalls();
    try {
      const request = pb.admin.ChangeRequest.encode({
        clusterId: rest.clusterId as string,
        op: 'add-node',
        address: listen,
        nodeId: typeof rest.nodeId === 'number' ? rest.nodeId : 0,
      }).finish();
      const answer = pb.admin.ChangeResponse.decode(
        await calls.call(join as string, 'Change', request, JOIN_CALL_MS),
      );
      nodeId = Number(answer.nodeId);
      layout = parseClusterLayout(answer.layoutJson);
    } catch (error) {
      const refused = error instanceof AdminCallError && error.grpcCode !== grpc.status.UNAVAILABLE;
      const how = refused ? 'refused' : `cannot reach ${String(join)}`;
      throw new CommandFailure(`node --join: ${how}: ${(error as Error).message}`, refused ? 2 : 1);
    } finally {
      calls.close();
    }
    await writeLayoutFile(dataDir, layout);
    io.out(`joined cluster '${String(rest.clusterId)}' as node ${nodeId} (epoch ${layout.epoch})`);
  }
  return {
    ...rest,
    nodeId,
    peers: liveNodes(layout).map((node) => ({ id: node.id, address: node.address })),
    groupCount: layout.groupCount,
    replicationFactor: layout.replicationFactor,
  };
}

/** runNode starts the node and serves until a signal; resolves with the exit code. */
export async function runNode(
  command: { configFile: string | null; flags: Record<string, unknown> },
  io: CliIo,
): Promise<number> {
  const file = command.configFile === null ? {} : await readConfigFile(command.configFile);
  const config = buildNodeConfig(await resolveJoin({ ...file, ...command.flags }, io), {});
  const name = `node ${config.nodeId}`;
  let node: StoreNode;
  try {
    node = await StoreNode.start(config, registerServices);
  } catch (error) {
    throw new CommandFailure(`${name}: cannot start: ${(error as Error).message}`);
  }
  io.out(
    `strata ${name} of cluster '${config.clusterId}' serving on ${config.listen} ` +
      `(${node.groups.size} groups, data in ${config.dataDir})`,
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const off = io.onSignal((received) => {
      off();
      resolve(received);
    });
  });
  const offAgain = io.onSignal((again) => {
    io.err(`strata ${name}: ${again} while stopping: exiting at once`);
    process.exit(1);
  });
  try {
    await node.stop();
  } finally {
    offAgain();
  }
  io.out(`strata ${name}: stopped cleanly on ${signal}`);
  return 0;
}
