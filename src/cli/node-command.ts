/**
 * `strata node`: builds the raw configuration from a JSON file and/or flags (flags win),
 * validates it with parseNodeConfig, starts a StoreNode with the client services, and stops it
 * cleanly on SIGINT or SIGTERM (a second signal while stopping exits at once).
 */
import { readFile } from 'node:fs/promises';
import { NodeConfigError, parseNodeConfig, type NodeConfig } from '../store/config.js';
import { StoreNode } from '../store/node.js';
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

/** runNode starts the node and serves until a signal; resolves with the exit code. */
export async function runNode(
  command: { configFile: string | null; flags: Record<string, unknown> },
  io: CliIo,
): Promise<number> {
  const file = command.configFile === null ? {} : await readConfigFile(command.configFile);
  const config = buildNodeConfig(file, command.flags);
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
