/**
 * ProxyControl starts the link-proxy child process (proxy-process.ts) and talks to it over IPC;
 * every request is answered or times out (10 s). `close()` kills the child by its pid.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProxyReply, ProxyRequest } from './proxy-process.js';
import type { LinkMode, LinkSpec, LinkStats } from './proxy.js';

const PROXY_SCRIPT = fileURLToPath(new URL('./proxy-process.js', import.meta.url));
const REQUEST_TIMEOUT_MS = 10_000;

type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

/** ProxyControl is the runner's handle on the proxy process. */
export class ProxyControl {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: ProxyReply) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: ProxyReply) => {
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
    child.on('exit', () => {
      for (const [id, resolve] of this.waiting) resolve({ id, error: 'proxy process exited' });
      this.waiting.clear();
    });
  }

  /** ProxyControl.start forks the proxy process and opens every link. */
  static async start(
    links: readonly LinkSpec[],
    onLaunch: (pid: number) => void,
  ): Promise<ProxyControl> {
    const child = fork(PROXY_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (child.pid !== undefined) onLaunch(child.pid);
    const control = new ProxyControl(child);
    await control.request({ type: 'start', links: [...links] });
    return control;
  }

  /** pid is the proxy process's id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private request(body: Body<ProxyRequest>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`proxy: no answer to ${body.type} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error) reject(new Error(`proxy: ${reply.error}`));
        else resolve(reply.result);
      });
      this.child.send({ ...body, id } as ProxyRequest);
    });
  }

  /** setMode sets the mode of the named links. */
  async setMode(keys: readonly string[], mode: LinkMode): Promise<void> {
    await this.request({ type: 'mode', keys: [...keys], mode });
  }

  /** stats returns each link's counters. */
  async stats(): Promise<Record<string, LinkStats>> {
    return (await this.request({ type: 'stats' })) as Record<string, LinkStats>;
  }

  /** close kills the proxy process (by pid) and waits for it, up to 5 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  }
}
