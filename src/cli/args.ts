/**
 * Command-line parsing of `strata` (node:util parseArgs, strict): the command name picks a
 * table of flags; the result is a plain, typed Command. Every mistake is a UsageError with one
 * clear line naming the flag and what it needs (the process then exits with code 2).
 */
import { parseArgs } from 'node:util';

/** DEFAULT_ENDPOINTS are the endpoints of `strata dev`'s cluster. */
export const DEFAULT_ENDPOINTS = '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';
/** ENDPOINTS_ENV names the environment variable that overrides the default endpoints. */
export const ENDPOINTS_ENV = 'STRATA_ENDPOINTS';
/** SCAN_LIMIT_DEFAULT is how many keys `strata scan` prints without --limit. */
export const SCAN_LIMIT_DEFAULT = 1_000;

/** UsageError is a mistake on the command line (exit code 2). */
export class UsageError extends Error {
  /** code is the stable code of every usage mistake. */
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** COMMANDS lists every command with its one-line description (for --help). */
export const COMMANDS: readonly (readonly [string, string])[] = [
  ['node', 'run one store node (--config <file.json> and/or flags)'],
  ['dev', 'run a local 3-node cluster (data under --dir, ports from --base-port)'],
  ['put', 'put <key> <value>: write a key'],
  ['get', 'get <key> [--serializable]: read a key'],
  ['del', 'del <key>: delete a key'],
  ['scan', 'scan [--prefix p] [--limit n]: list keys in order, across all groups'],
  ['status', 'show every group: leader, term, commit, applied, members, lag'],
  ['tasks', 'tasks [--application a] [--brokers h:p] [--json]: stream tasks, checkpoints, lag'],
  [
    'admin',
    'admin <add-node|drain-node|remove-node|rebalance|move-replica|transfer-leader|status>',
  ],
];

/** ADMIN_SUBCOMMANDS lists the `strata admin` subcommands. */
export const ADMIN_SUBCOMMANDS = [
  'add-node',
  'drain-node',
  'remove-node',
  'rebalance',
  'move-replica',
  'transfer-leader',
  'status',
] as const;

/** AdminCommand is a parsed `strata admin` command line (unused numbers are 0). */
export interface AdminCommand {
  type: 'admin';
  op: (typeof ADMIN_SUBCOMMANDS)[number];
  endpoints: string[];
  clusterId: string;
  nodeId: number;
  groupId: number;
  fromNode: number;
  toNode: number;
  address: string;
  wait: boolean;
  timeoutMs: number;
  json: boolean;
}

/** ClientFlags are the flags every client command takes. */
export interface ClientFlags {
  endpoints: string[];
  deadlineMs: number;
}

/** Command is a parsed command line. */
export type Command =
  | { type: 'help'; topic: string | null }
  | { type: 'node'; configFile: string | null; flags: Record<string, unknown> }
  | { type: 'dev'; dir: string; basePort: number; groups: number }
  | ({ type: 'put'; key: string; value: string } & ClientFlags)
  | ({ type: 'get'; key: string; serializable: boolean } & ClientFlags)
  | ({ type: 'del'; key: string } & ClientFlags)
  | ({ type: 'scan'; prefix: string; limit: number } & ClientFlags)
  | ({ type: 'status' } & ClientFlags)
  | ({ type: 'tasks'; application: string; brokers: string[]; json: boolean } & ClientFlags)
  | AdminCommand;

type OptionSpec = { type: 'string' | 'boolean'; short?: string };

const HELP: Record<string, OptionSpec> = { help: { type: 'boolean', short: 'h' } };
const CLIENT: Record<string, OptionSpec> = {
  ...HELP,
  endpoints: { type: 'string' },
  'deadline-ms': { type: 'string' },
};

/** NODE_FLAGS maps each `strata node` flag to its NodeConfig key and kind. */
export const NODE_FLAGS: Readonly<Record<string, { key: string; kind: 'int' | 'text' | 'peers' }>> =
  {
    'node-id': { key: 'nodeId', kind: 'int' },
    'cluster-id': { key: 'clusterId', kind: 'text' },
    'data-dir': { key: 'dataDir', kind: 'text' },
    listen: { key: 'listen', kind: 'text' },
    peers: { key: 'peers', kind: 'peers' },
    groups: { key: 'groupCount', kind: 'int' },
    'replication-factor': { key: 'replicationFactor', kind: 'int' },
    'tick-ms': { key: 'tickMs', kind: 'int' },
    'election-ticks': { key: 'electionTicks', kind: 'int' },
    'heartbeat-ticks': { key: 'heartbeatTicks', kind: 'int' },
    'compact-entries': { key: 'compactEntries', kind: 'int' },
    'compact-trailing-entries': { key: 'compactTrailingEntries', kind: 'int' },
    'pending-proposals-max': { key: 'pendingProposalsMax', kind: 'int' },
    'entry-bytes-max': { key: 'entryBytesMax', kind: 'int' },
    'quiesce-ticks': { key: 'quiesceTicks', kind: 'int' },
    'leader-balance-ticks': { key: 'leaderBalanceTicks', kind: 'int' },
    join: { key: 'join', kind: 'text' },
  };

/** parseCommandLine parses `strata`'s arguments (argv without node and the script). */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Command {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError('no command given (try strata --help)');
  if (name === '--help' || name === '-h' || name === 'help') {
    return { type: 'help', topic: name === 'help' ? (rest[0] ?? null) : null };
  }
  if (name.startsWith('-')) throw new UsageError(`expected a command before ${name}`);
  switch (name) {
    case 'node':
      return parseNode(rest);
    case 'admin':
      return parseAdmin(rest, env);
    case 'dev':
      return parseDev(rest);
    case 'put':
    case 'get':
    case 'del':
    case 'scan':
    case 'status':
    case 'tasks':
      return parseClientCommand(name, rest, env);
    default:
      throw new UsageError(`unknown command '${name}' (commands: ${commandNames()})`);
  }
}

function commandNames(): string {
  return COMMANDS.map(([command]) => command).join(', ');
}

/** parse runs parseArgs, turning its errors into UsageError prefixed with the command. */
function parse(command: string, args: readonly string[], options: Record<string, OptionSpec>) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${command}: ${message.split('\n')[0]}`);
  }
}

function parseNode(args: readonly string[]): Command {
  const options: Record<string, OptionSpec> = { ...HELP, config: { type: 'string' } };
  for (const flag of Object.keys(NODE_FLAGS)) options[flag] = { type: 'string' };
  const { values, positionals } = parse('node', args, options);
  if (values.help) return { type: 'help', topic: 'node' };
  noPositionals('node', positionals);
  const flags: Record<string, unknown> = {};
  for (const [flag, { key, kind }] of Object.entries(NODE_FLAGS)) {
    const value = values[flag];
    if (typeof value !== 'string') continue;
    if (kind === 'int') flags[key] = integerFlag(`node --${flag}`, value, 0);
    else if (kind === 'peers') flags[key] = parsePeers(value);
    else flags[key] = value;
  }
  const configFile = typeof values.config === 'string' ? values.config : null;
  if (configFile === null && Object.keys(flags).length === 0) {
    throw new UsageError('node: give --config <file.json> and/or flags (see strata node --help)');
  }
  return { type: 'node', configFile, flags };
}

function parseAdmin(args: readonly string[], env: NodeJS.ProcessEnv): Command {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h')
    return { type: 'help', topic: 'admin' };
  const op = ADMIN_SUBCOMMANDS.find((name) => name === sub);
  if (!op) {
    throw new UsageError(`admin: unknown subcommand '${sub}' (${ADMIN_SUBCOMMANDS.join(', ')})`);
  }
  const { values, positionals } = parse(`admin ${op}`, rest, {
    ...HELP,
    endpoints: { type: 'string' },
    'cluster-id': { type: 'string' },
    node: { type: 'string' },
    'node-id': { type: 'string' },
    group: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    address: { type: 'string' },
    wait: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) return { type: 'help', topic: 'admin' };
  const int = (flag: string, min: number): number =>
    typeof values[flag] === 'string' ? integerFlag(`admin ${op} --${flag}`, values[flag], min) : 0;
  const command: AdminCommand = {
    type: 'admin',
    op,
    endpoints: parseEndpoints(stringOr(values.endpoints, env[ENDPOINTS_ENV] || DEFAULT_ENDPOINTS)),
    clusterId: stringOr(values['cluster-id'], ''),
    nodeId: int('node', 1) || int('node-id', 1),
    groupId: int('group', 1),
    fromNode: int('from', 1),
    toNode: int('to', 1),
    address: stringOr(values.address, ''),
    wait: values.wait === true,
    timeoutMs: int('timeout-ms', 1) || 600_000,
    json: values.json === true,
  };
  // The node of drain-node and remove-node may also be given as the only argument.
  if (
    (op === 'drain-node' || op === 'remove-node') &&
    positionals.length === 1 &&
    !command.nodeId
  ) {
    command.nodeId = integerFlag(`admin ${op} <node>`, positionals[0]!, 1);
  } else {
    noPositionals(`admin ${op}`, positionals);
  }
  const need = (ok: boolean, usage: string): void => {
    if (!ok) throw new UsageError(`admin ${op}: usage: strata admin ${op} ${usage}`);
  };
  if (op === 'add-node') need(command.address !== '', '--address <host:port> [--node-id <n>]');
  if (op === 'drain-node' || op === 'remove-node') need(command.nodeId > 0, '--node <id>');
  if (op === 'move-replica') {
    need(
      command.groupId > 0 && command.fromNode > 0 && command.toNode > 0,
      '--group <g> --from <node> --to <node>',
    );
  }
  if (op === 'transfer-leader')
    need(command.groupId > 0 && command.toNode > 0, '--group <g> --to <node>');
  return command;
}

function parseDev(args: readonly string[]): Command {
  const { values, positionals } = parse('dev', args, {
    ...HELP,
    dir: { type: 'string' },
    'base-port': { type: 'string' },
    groups: { type: 'string' },
  });
  if (values.help) return { type: 'help', topic: 'dev' };
  noPositionals('dev', positionals);
  const basePort = integerFlag('dev --base-port', stringOr(values['base-port'], '7001'), 1);
  if (basePort > 65_533)
    throw new UsageError(`dev --base-port ${basePort} leaves no room for 3 ports`);
  const groups = integerFlag('dev --groups', stringOr(values.groups, '64'), 1);
  if (groups > 65_535) throw new UsageError(`dev --groups must be at most 65535, got ${groups}`);
  const dir = stringOr(values.dir, './.strata/dev');
  if (dir === '') throw new UsageError('dev --dir must not be empty');
  return { type: 'dev', dir, basePort, groups };
}

function parseClientCommand(name: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  const extra: Record<string, OptionSpec> =
    name === 'get'
      ? { serializable: { type: 'boolean' } }
      : name === 'scan'
        ? { prefix: { type: 'string' }, limit: { type: 'string' } }
        : name === 'tasks'
          ? {
              application: { type: 'string' },
              brokers: { type: 'string' },
              json: { type: 'boolean' },
            }
          : {};
  const { values, positionals } = parse(name, args, { ...CLIENT, ...extra });
  if (values.help) return { type: 'help', topic: name } as const;
  const flags: ClientFlags = {
    endpoints: parseEndpoints(stringOr(values.endpoints, env[ENDPOINTS_ENV] || DEFAULT_ENDPOINTS)),
    deadlineMs: integerFlag(`${name} --deadline-ms`, stringOr(values['deadline-ms'], '5000'), 1),
  };
  const arity = name === 'put' ? 2 : name === 'get' || name === 'del' ? 1 : 0;
  const usage = name === 'put' ? 'put <key> <value>' : arity === 1 ? `${name} <key>` : name;
  if (positionals.length !== arity) {
    const got = positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ');
    throw new UsageError(`${name}: expected ${usage}, got ${arity === 0 ? 'extra ' : ''}${got}`);
  }
  const key = positionals[0] ?? '';
  if (arity > 0 && key === '') throw new UsageError(`${name}: the key must not be empty`);
  switch (name) {
    case 'put':
      return { type: 'put', key, value: positionals[1]!, ...flags } as const;
    case 'get':
      return { type: 'get', key, serializable: values.serializable === true, ...flags } as const;
    case 'del':
      return { type: 'del', key, ...flags } as const;
    case 'scan': {
      const limit = integerFlag('scan --limit', stringOr(values.limit, `${SCAN_LIMIT_DEFAULT}`), 1);
      return { type: 'scan', prefix: stringOr(values.prefix, ''), limit, ...flags } as const;
    }
    case 'tasks': {
      const brokers = stringOr(values.brokers, '');
      return {
        type: 'tasks',
        application: stringOr(values.application, ''),
        brokers: brokers === '' ? [] : brokers.split(','),
        json: values.json === true,
        ...flags,
      } as const;
    }
    default:
      return { type: 'status', ...flags } as const;
  }
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function noPositionals(command: string, positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw new UsageError(`${command}: unexpected argument '${positionals[0]}'`);
  }
}

/** integerFlag parses a decimal integer flag value of at least `min`. */
export function integerFlag(flag: string, value: string, min: number): number {
  const number = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}, got '${value}'`);
  }
  return number;
}

/** parseEndpoints parses a comma-separated list of host:port. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (endpoints.length === 0) throw new UsageError('--endpoints must list host:port addresses');
  for (const endpoint of endpoints) {
    if (!/^\S+:\d{1,5}$/.test(endpoint)) {
      throw new UsageError(`--endpoints: '${endpoint}' is not host:port`);
    }
  }
  return endpoints;
}

/** parsePeers parses `--peers 1=host:port,2=host:port` into NodeConfig's peers list. */
export function parsePeers(text: string): { id: number; address: string }[] {
  const peers = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const match = /^(\d{1,15})=(\S+:\d{1,5})$/.exec(part);
      if (!match) {
        throw new UsageError(
          `node --peers: '${part}' is not <id>=<host:port> (e.g. 1=127.0.0.1:7001)`,
        );
      }
      return { id: Number(match[1]), address: match[2]! };
    });
  if (peers.length === 0) throw new UsageError('node --peers must list <id>=<host:port> pairs');
  return peers;
}
