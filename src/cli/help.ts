/**
 * Help texts of `strata`: the command list (one line each) and a short page per command.
 */
import {
  COMMANDS,
  DEFAULT_ENDPOINTS,
  ENDPOINTS_ENV,
  NODE_FLAGS,
  SCAN_LIMIT_DEFAULT,
} from './args.js';

const CLIENT_FLAGS = [
  `  --endpoints <h:p,...>   nodes to ask (default ${DEFAULT_ENDPOINTS}, env ${ENDPOINTS_ENV})`,
  '  --deadline-ms <ms>      give up after this long (default 5000)',
];

const PAGES: Record<string, string[]> = {
  node: [
    'usage: strata node --config <file.json> [flags]   or   strata node <flags>',
    'Runs one store node until SIGINT or SIGTERM. Flags override the file; the file holds',
    'the same keys as NodeConfig (nodeId, clusterId, dataDir, listen, peers, groupCount, ...).',
    "--listen defaults to this node's address in --peers.",
    ...Object.entries(NODE_FLAGS).map(([flag, { key }]) => `  --${flag.padEnd(26)}${key}`),
    '  --peers takes 1=127.0.0.1:7001,2=127.0.0.1:7002,...',
    '  --join <host:port> joins a running cluster through any of its nodes instead of --peers:',
    '    strata node --join 127.0.0.1:7001 --cluster-id dev --listen 127.0.0.1:7004 --data-dir d4',
    '    (the cluster id must match; --node-id is optional: the cluster assigns the next id).',
  ],
  admin: [
    'usage: strata admin <subcommand> [flags] [--endpoints ...]',
    '  add-node --address <host:port> [--node-id n]   register a node (it joins as "joining")',
    '  drain-node --node <id> [--wait]                move its leaders, then its replicas away',
    '  remove-node --node <id>                        forget a drained node (refused if it holds',
    '                                                 a replica)',
    '  rebalance [--wait]                             spread replicas and leaders evenly (+/-1)',
    '  move-replica --group g --from a --to b [--wait] move one replica',
    "  transfer-leader --group g --to n               hand a group's leadership to a voter",
    '  status [--json]                                replicas, learners, leaders per node',
    '  --wait waits until no group is mid-move (at most --timeout-ms, default 600000).',
    '  --cluster-id defaults to the cluster the endpoints belong to.',
    `  --endpoints <h:p,...>   nodes to ask (default ${DEFAULT_ENDPOINTS}, env ${ENDPOINTS_ENV})`,
  ],
  dev: [
    'usage: strata dev [--dir ./.strata/dev] [--base-port 7001] [--groups 64]',
    'Starts nodes 1-3 of cluster "dev" on 127.0.0.1:<base-port>..+2 with data under',
    '<dir>/node-<id>; a second run reuses the data. Ctrl-C stops them all.',
  ],
  put: ['usage: strata put <key> <value> [--endpoints ...]', ...CLIENT_FLAGS],
  get: [
    'usage: strata get <key> [--serializable] [--endpoints ...]',
    'Prints the value; exits 1 when the key is absent.',
    "  --serializable          read any replica's local state (may be stale)",
    ...CLIENT_FLAGS,
  ],
  del: ['usage: strata del <key> [--endpoints ...]', ...CLIENT_FLAGS],
  scan: [
    'usage: strata scan [--prefix p] [--limit n] [--endpoints ...]',
    'Prints key<TAB>value lines in key order, merged across all groups.',
    `  --limit <n>             most keys to print (default ${SCAN_LIMIT_DEFAULT})`,
    ...CLIENT_FLAGS,
  ],
  status: [
    'usage: strata status [--endpoints ...]',
    "Asks every node for its status and prints one row per group, from its leader's view;",
    "lag is the leader's last index minus the slowest replica's match index.",
    ...CLIENT_FLAGS,
  ],
};

/** helpText returns the help page of `topic`, or the command list. */
export function helpText(topic: string | null): string {
  if (topic !== null && PAGES[topic]) return PAGES[topic].join('\n');
  const width = Math.max(...COMMANDS.map(([name]) => name.length)) + 2;
  return [
    'usage: strata <command> [flags]   (strata <command> --help for its flags)',
    '',
    'commands:',
    ...COMMANDS.map(([name, line]) => `  ${name.padEnd(width)}${line}`),
  ].join('\n');
}
