// Proves the command line: each command parses into its typed form with defaults (endpoints
// from STRATA_ENDPOINTS, dev ports and groups), `node` flags map to NodeConfig keys (and
// --listen comes from --peers), --help lists every command with one line, and every mistake
// is ONE line on stderr with exit code 2 (usage) or 1, naming the flag and the bad value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS, DEFAULT_ENDPOINTS, parseCommandLine } from './args.js';
import type { CliIo } from './io.js';
import { main } from './main.js';
import { buildNodeConfig } from './node-command.js';

/** run calls main with captured output. */
async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env,
    onSignal: () => () => undefined,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

describe('strata command line', () => {
  it('parses client commands with their defaults', () => {
    assert.deepEqual(parseCommandLine(['put', 'k', 'v']), {
      type: 'put',
      key: 'k',
      value: 'v',
      endpoints: DEFAULT_ENDPOINTS.split(','),
      deadlineMs: 5000,
    });
    const env = { STRATA_ENDPOINTS: 'h1:1,h2:2' };
    const get = parseCommandLine(['get', 'k', '--serializable'], env);
    assert.deepEqual(get, {
      type: 'get',
      key: 'k',
      serializable: true,
      endpoints: ['h1:1', 'h2:2'],
      deadlineMs: 5000,
    });
    const scan = parseCommandLine(['scan', '--prefix', 'p/', '--limit', '5', '--endpoints', 'x:9']);
    assert.deepEqual(scan, {
      type: 'scan',
      prefix: 'p/',
      limit: 5,
      endpoints: ['x:9'],
      deadlineMs: 5000,
    });
    assert.deepEqual(parseCommandLine(['dev']), {
      type: 'dev',
      dir: './.strata/dev',
      basePort: 7001,
      groups: 64,
    });
  });

  it('maps node flags to NodeConfig keys and fills listen from peers', () => {
    const command = parseCommandLine([
      'node', '--node-id', '2', '--cluster-id', 'c', '--data-dir', '/tmp/x',
      '--peers', '1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003', '--groups', '8',
    ]); // prettier-ignore
    assert.equal(command.type, 'node');
    if (command.type !== 'node') return;
    const config = buildNodeConfig({ tickMs: 50, groupCount: 64 }, command.flags);
    assert.equal(config.nodeId, 2);
    assert.equal(config.listen, '127.0.0.1:7002');
    assert.equal(config.groupCount, 8, 'flags override the file');
    assert.equal(config.tickMs, 50, 'the file fills the rest');
    assert.equal(config.peers.length, 3);
  });

  it('parses strata admin subcommands and refuses incomplete ones', async () => {
    const drain = parseCommandLine(['admin', 'drain-node', '3', '--wait'], {});
    assert.equal(drain.type, 'admin');
    assert.ok(
      drain.type === 'admin' && drain.op === 'drain-node' && drain.nodeId === 3 && drain.wait,
    );
    const move = parseCommandLine(
      ['admin', 'move-replica', '--group', '7', '--from', '1', '--to', '4', '--endpoints', 'h:1'],
      {},
    );
    assert.ok(
      move.type === 'admin' &&
        move.groupId === 7 &&
        move.fromNode === 1 &&
        move.toNode === 4 &&
        move.endpoints[0] === 'h:1',
    );
    const missing = await run(['admin', 'move-replica', '--group', '7']);
    assert.equal(missing.code, 2);
    assert.match(
      missing.err[0]!,
      /usage: strata admin move-replica --group <g> --from <node> --to <node>/,
    );
    const unknown = await run(['admin', 'grow']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err[0]!, /unknown subcommand 'grow'/);
    const noAddress = await run(['admin', 'add-node']);
    assert.match(noAddress.err[0]!, /--address <host:port>/);
  });

  it('lists every command with one line on --help', async () => {
    const { code, out } = await run(['--help']);
    assert.equal(code, 0);
    const text = out.join('\n');
    for (const [name] of COMMANDS) assert.match(text, new RegExp(`^  ${name} +\\S`, 'm'));
    const page = await run(['scan', '--help']);
    assert.match(page.out.join('\n'), /usage: strata scan/);
  });

  it('reports usage mistakes as one line with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^strata: no command given/],
      [['frobnicate'], /^strata: unknown command 'frobnicate' \(commands: node, dev, put/],
      [['get'], /^strata: get: expected get <key>, got none/],
      [['put', 'k'], /^strata: put: expected put <key> <value>, got 'k'/],
      [['status', 'extra'], /^strata: status: expected status, got extra 'extra'/],
      [['get', 'k', '--bogus'], /^strata: get: Unknown option '--bogus'/],
      [['scan', '--limit', 'ten'], /^strata: scan --limit must be an integer >= 1, got 'ten'/],
      [['scan', '--limit', '0'], /^strata: scan --limit must be an integer >= 1, got '0'/],
      [
        ['put', 'k', 'v', '--endpoints', 'nohost'],
        /^strata: --endpoints: 'nohost' is not host:port/,
      ],
      [['dev', '--base-port', '70000'], /^strata: dev --base-port 70000 leaves no room/],
      [['node'], /^strata: node: give --config <file.json> and\/or flags/],
      [
        ['node', '--peers', '1:127.0.0.1:7001'],
        /^strata: node --peers: '1:127.0.0.1:7001' is not <id>=<host:port>/,
      ],
    ];
    for (const [argv, expected] of cases) {
      const { code, err, out } = await run(argv);
      assert.equal(code, 2, `exit code of ${argv.join(' ')}`);
      assert.equal(err.length, 1, `one line for ${argv.join(' ')}: ${err.join(' | ')}`);
      assert.match(err[0]!, expected);
      assert.deepEqual(out, []);
    }
  });

  it('reports a bad node configuration with the key and range', async () => {
    const { code, err } = await run([
      'node', '--node-id', '1', '--cluster-id', 'c', '--data-dir', '/tmp/x',
      '--peers', '1=127.0.0.1:7001', '--tick-ms', '1',
    ]); // prettier-ignore
    assert.equal(code, 2);
    assert.deepEqual(err, ['strata: node: tickMs = 1 is invalid: allowed range is [5, 10000]']);
    const missing = await run(['node', '--config', '/nonexistent/strata.json']);
    assert.equal(missing.code, 2);
    assert.match(
      missing.err[0]!,
      /^strata: node: cannot read config file \/nonexistent\/strata.json: ENOENT$/,
    );
  });

  it('reports an unreachable cluster as one line with exit code 1', async () => {
    const { code, err } = await run([
      'get',
      'k',
      '--endpoints',
      '127.0.0.1:1',
      '--deadline-ms',
      '300',
    ]);
    assert.equal(code, 1);
    assert.equal(err.length, 1);
    assert.match(err[0]!, /^strata: connect: no answer within 300 ms \(127\.0\.0\.1:1: /);
  });
});
