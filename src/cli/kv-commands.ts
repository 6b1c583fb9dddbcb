/**
 * The client commands of `strata`: put, get, del, scan and status, each one StrataClient call
 * (status: one Admin.Status per node of the layout) with its answer printed for people:
 * values as UTF-8 text, one line per key.
 */
import { StrataClient, type NodeStatus } from '../client/index.js';
import type { ClientFlags } from './args.js';
import { CommandFailure, type CliIo } from './io.js';
import { groupTable, mergeGroupStatus, nodeLine } from './status-table.js';

/** text renders stored bytes as UTF-8 (invalid sequences become U+FFFD). */
function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

async function withClient<T>(flags: ClientFlags, body: (client: StrataClient) => Promise<T>) {
  const client = await StrataClient.connect({
    endpoints: flags.endpoints,
    deadlineMs: flags.deadlineMs,
  });
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

/** runPut writes a key and prints OK with the index of the entry that wrote it. */
export async function runPut(command: { key: string; value: string } & ClientFlags, io: CliIo) {
  const result = await withClient(command, (client) => client.put(command.key, command.value));
  io.out(`OK (index ${result.index})`);
  return 0;
}

/** runGet prints a key's value; an absent key is exit code 1 with a message on stderr. */
export async function runGet(
  command: { key: string; serializable: boolean } & ClientFlags,
  io: CliIo,
): Promise<number> {
  const consistency = command.serializable ? 'serializable' : 'linearizable';
  const kv = await withClient(command, (client) => client.get(command.key, { consistency }));
  if (kv === null) throw new CommandFailure(`get: key ${JSON.stringify(command.key)} not found`);
  io.out(text(kv.value));
  return 0;
}

/** runDel deletes a key and prints how many keys were deleted (0 or 1). */
export async function runDel(command: { key: string } & ClientFlags, io: CliIo) {
  const result = await withClient(command, (client) => client.delete(command.key));
  io.out(`deleted ${result.deleted}`);
  return 0;
}

/** runScan prints `key<TAB>value` lines in key order; a note on stderr if more remain. */
export async function runScan(
  command: { prefix: string; limit: number } & ClientFlags,
  io: CliIo,
): Promise<number> {
  const result = await withClient(command, (client) =>
    client.range({ prefix: command.prefix, limit: command.limit }),
  );
  for (const kv of result.kvs) io.out(`${text(kv.key)}\t${text(kv.value)}`);
  if (result.more) io.err(`(more keys after these ${result.kvs.length}: raise --limit)`);
  return 0;
}

/** runStatus asks every node of the layout for its status and prints the group table. */
export async function runStatus(command: ClientFlags, io: CliIo): Promise<number> {
  return withClient(command, async (client) => {
    const nodes = client.layout().nodes;
    const answers = await Promise.allSettled(nodes.map((node) => client.status(node.address)));
    const statuses: NodeStatus[] = [];
    const lines: string[] = [];
    answers.forEach((answer, i) => {
      const node = nodes[i]!;
      if (answer.status === 'fulfilled') {
        statuses.push(answer.value);
        lines.push(nodeLine(answer.value));
      } else {
        const reason = answer.reason instanceof Error ? answer.reason.message : answer.reason;
        lines.push(`node ${node.id} ${node.address}: UNREACHABLE: ${String(reason)}`);
      }
    });
    io.out(`cluster '${client.clusterId}', epoch ${client.layout().epoch}`);
    for (const line of lines) io.out(line);
    if (statuses.length === 0) throw new CommandFailure('status: no node answered');
    io.out('');
    for (const line of groupTable(mergeGroupStatus(statuses))) io.out(line);
    return statuses.length === nodes.length ? 0 : 1;
  });
}
