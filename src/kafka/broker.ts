/**
 * startBroker runs a real single-node Apache Kafka 3.9 broker (KRaft, broker and controller in
 * one JVM) for tests and examples, as a child process of the caller: `scripts/kafka.sh run`
 * fetches the jars once (Maven Central, into .cache/kafka), writes the config, formats the
 * storage once, prints the bootstrap address and execs the JVM, so the child's pid IS the
 * broker's. stop() sends SIGTERM, then SIGKILL after a grace period; a broker still running
 * when the caller's process exits is killed too (best effort: not after the caller's SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** KAFKA_SCRIPT is scripts/kafka.sh (the compiled file sits in dist/src/kafka). */
export const KAFKA_SCRIPT = fileURLToPath(new URL('../../../scripts/kafka.sh', import.meta.url));

/** BrokerOptions configure startBroker. */
export interface BrokerOptions {
  /** dir holds the broker's data, config, ports and logs (reused by a later start). */
  dir: string;
  /** readyTimeoutMs bounds the start, including a first fetch of the jars (default 180,000). */
  readyTimeoutMs?: number;
  /** stopGraceMs is how long stop() waits after SIGTERM before SIGKILL (default 10,000). */
  stopGraceMs?: number;
}

/** Broker is a running broker. */
export interface Broker {
  /** bootstrap is the broker's host:port, for kafkajs `brokers: [bootstrap]`. */
  readonly bootstrap: string;
  /** pid is the broker JVM's process id. */
  readonly pid: number;
  /** log returns the last lines the script and the JVM printed (for failure messages). */
  log(): string;
  /** stop stops the broker (TERM, then KILL) and waits until it exited. Idempotent. */
  stop(): Promise<void>;
  /** kill9 kills the broker at once (SIGKILL) and waits until it exited. */
  kill9(): Promise<void>;
}

const LOG_CHUNKS_MAX = 200;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** startBroker starts a broker in `dir` and resolves once it accepts connections. */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
  const stopGraceMs = options.stopGraceMs ?? 10_000;
  await mkdir(options.dir, { recursive: true });
  installExitHook();
  const child = spawn('bash', [KAFKA_SCRIPT, 'run', '--dir', options.dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));
  const chunks: string[] = [];
  const keep = (chunk: Buffer): void => {
    chunks.push(chunk.toString());
    if (chunks.length > LOG_CHUNKS_MAX) chunks.splice(0, chunks.length - LOG_CHUNKS_MAX);
  };
  child.stderr.on('data', keep);
  const log = (): string =>
    `${chunks.join('').split('\n').slice(-40).join('\n')}\n(broker log: ${join(options.dir, 'broker.log')})`;
  let stopped: Promise<void> | null = null;
  const signal = (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopped;
  };
  try {
    const bootstrap = await readBootstrap(child, exited, readyTimeoutMs, log);
    await waitListening(bootstrap, exited, readyTimeoutMs, log);
    return {
      bootstrap,
      pid: child.pid ?? 0,
      log,
      stop: () => signal('SIGTERM', stopGraceMs),
      kill9: () => signal('SIGKILL', 0),
    };
  } catch (error) {
    await signal('SIGKILL', 0);
    throw error;
  }
}

/** readBootstrap waits for the script's `bootstrap=host:port` line. */
function readBootstrap(
  child: ChildProcess,
  exited: Promise<void>,
  timeoutMs: number,
  log: () => string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`kafka: no bootstrap address within ${timeoutMs} ms\n${log()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /bootstrap=(\S+)/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`kafka: the broker exited during start\n${log()}`));
    });
  });
}

/** waitListening polls the broker's port every 100 ms until it accepts a connection. */
async function waitListening(
  bootstrap: string,
  exited: Promise<void>,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const [host, port] = bootstrap.split(':');
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    if (dead) throw new Error(`kafka: the broker exited during start\n${log()}`);
    if (await accepts(host!, Number(port))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`kafka: ${bootstrap} did not accept connections in ${timeoutMs} ms\n${log()}`);
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** installExitHook kills brokers still running when this process exits. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}
