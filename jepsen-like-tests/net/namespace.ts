/**
 * The private network namespace a run lives in. The parent (a test or the CLI) makes sure the
 * tools exist (`ensureNetworkTools`, installing iptables and iproute2 with apt-get when it runs
 * as root on a fresh machine), then starts the runner with `unshare --net` (`spawnInNamespace`).
 * Inside, `setupLoopback` brings `lo` up: every 127.0.0.x address is then local to the
 * namespace, and iptables rules there touch nothing outside it. When the last process of the
 * namespace exits, the kernel removes the namespace and its rules.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** IN_NAMESPACE_ENV is set in the environment of a runner started inside its namespace. */
export const IN_NAMESPACE_ENV = 'STRATA_JEPSEN_NETNS';

/** NetworkSetupError says the machine cannot host a run (not root, no tools, no namespaces). */
export class NetworkSetupError extends Error {
  readonly code = 'NETWORK_SETUP';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetworkSetupError';
  }
}

function has(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * ensureNetworkTools checks for unshare, ip and iptables; when ip or iptables is missing and
 * we run as root with apt-get, it installs iptables and iproute2 (bounded: 10 minutes).
 */
export function ensureNetworkTools(log: (line: string) => void = () => {}): void {
  if (process.getuid?.() !== 0) {
    throw new NetworkSetupError(
      'the Jepsen-like suite must run as root (it creates a network namespace and iptables rules)',
    );
  }
  if (!has('unshare', ['--version'])) {
    throw new NetworkSetupError('unshare (util-linux) is missing');
  }
  if (has('ip', ['-V']) && has('iptables', ['--version'])) return;
  if (!has('apt-get', ['--version'])) {
    throw new NetworkSetupError('ip or iptables is missing and apt-get is not available');
  }
  log('installing iptables and iproute2 with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 300_000, env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'iptables', 'iproute2'], {
      stdio: 'ignore',
      timeout: 300_000,
      env,
    });
  } catch (error) {
    throw new NetworkSetupError('apt-get install iptables iproute2 failed', { cause: error });
  }
  if (!has('ip', ['-V']) || !has('iptables', ['--version'])) {
    throw new NetworkSetupError('ip or iptables is still missing after apt-get install');
  }
}

/**
 * spawnInNamespace starts `node <script> ...args` in a new network namespace (`unshare --net`
 * execs node in place, so the returned child's pid is the runner's).
 */
export function spawnInNamespace(
  script: string,
  args: string[],
  options: { stdio?: 'inherit' | 'pipe'; env?: Record<string, string> } = {},
): ChildProcess {
  return spawn('unshare', ['--net', '--', process.execPath, script, ...args], {
    stdio: options.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: { ...process.env, ...options.env, [IN_NAMESPACE_ENV]: '1' },
  });
}

/** run executes a command (bounded: 30 s) and returns its stdout. */
export async function run(command: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await execFileAsync(command, args, { timeout: 30_000 });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/**
 * setupLoopback runs inside the namespace: it refuses to run in the host's namespace (a
 * safety net for the iptables rules), brings `lo` up and checks 127.0.0.0/8 is local.
 */
export async function setupLoopback(): Promise<void> {
  if (process.env[IN_NAMESPACE_ENV] !== '1') {
    throw new NetworkSetupError(`not inside a private namespace (${IN_NAMESPACE_ENV} unset)`);
  }
  const links = await run('ip', ['-o', 'link', 'show']);
  const names = links
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split(':')[1]?.trim().split('@')[0]);
  if (names.some((name) => name !== 'lo')) {
    throw new NetworkSetupError(`expected only lo in a fresh namespace, found ${names.join(',')}`);
  }
  await run('ip', ['link', 'set', 'lo', 'up']);
  const route = await run('ip', ['route', 'get', '127.0.0.42']);
  if (!route.includes('local')) throw new NetworkSetupError(`127.0.0.42 is not local: ${route}`);
}
