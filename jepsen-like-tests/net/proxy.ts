/**
 * LinkProxy: a TCP proxy per directed link between two nodes, for faults iptables cannot make.
 * Each link listens on its own port; the firewall redirects the sender's connections to the
 * receiver into it, and it dials the receiver from the sender's own address (so partition rules
 * still match). Per link it can:
 * - delay every chunk by `delayMs` plus up to `jitterMs` (order is kept, as TCP would);
 * - drop: lose a chunk with probability `dropRate`, which breaks the byte stream, so the
 *   proxy resets both sides of that connection (the node redials);
 * - clog: hold every byte (the connection stalls, nothing is lost) until unclogged. Clogging a
 *   set of links one by one and unclogging them in another order is "swizzle-clogging".
 * Buffers are bounded: a connection holding more than BUFFERED_BYTES_MAX is reset.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** BUFFERED_BYTES_MAX bounds the bytes one direction of one connection may hold. */
export const BUFFERED_BYTES_MAX = 64 * 1024 * 1024;

/** LinkMode is how one link treats its traffic. */
export interface LinkMode {
  delayMs: number;
  jitterMs: number;
  dropRate: number;
  clogged: boolean;
}

/** PASS_MODE forwards everything at once. */
export const PASS_MODE: LinkMode = Object.freeze({
  delayMs: 0,
  jitterMs: 0,
  dropRate: 0,
  clogged: false,
});

/** LinkSpec describes one proxied link. */
export interface LinkSpec {
  /** key names the link, e.g. "1->2". */
  key: string;
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
  /** bindHost is the sender's address, used as the source of the proxy's connection. */
  bindHost: string;
}

/** LinkStats counts a link's traffic. */
export interface LinkStats {
  connections: number;
  bytes: number;
  resets: number;
}

interface Chunk {
  releaseAt: number;
  data: Buffer;
}

/** Pipe forwards one direction of one connection, chunk by chunk, under the link's mode. */
class Pipe {
  private readonly queue: Chunk[] = [];
  private queuedBytes = 0;
  private lastReleaseAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly link: ProxiedLink,
    private readonly source: Socket,
    private readonly target: Socket,
    private readonly reset: () => void,
  ) {
    source.on('data', (data: Buffer) => this.onData(data));
  }

  private onData(data: Buffer): void {
    const mode = this.link.mode;
    if (mode.dropRate > 0 && Math.random() < mode.dropRate) {
      this.link.stats.resets++;
      this.reset();
      return;
    }
    const jitter = mode.jitterMs > 0 ? Math.random() * mode.jitterMs : 0;
    const releaseAt = Math.max(this.lastReleaseAt, Date.now() + mode.delayMs + jitter);
    this.lastReleaseAt = releaseAt;
    this.queue.push({ releaseAt, data });
    this.queuedBytes += data.length;
    this.link.stats.bytes += data.length;
    if (this.queuedBytes > BUFFERED_BYTES_MAX) {
      this.link.stats.resets++;
      this.reset();
      return;
    }
    this.flush();
  }

  /** flush writes every chunk due now, and arms a timer for the next one. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.link.mode.clogged || this.target.destroyed) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.releaseAt <= now) {
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.data.length;
      this.target.write(chunk.data);
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => this.flush(), Math.max(1, this.queue[0]!.releaseAt - now));
    }
  }

  /** close drops what is queued. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.queue.length = 0;
    this.source.removeAllListeners('data');
  }
}

/** ProxiedLink is one link: a listening server and its live connections. */
class ProxiedLink {
  mode: LinkMode = { ...PASS_MODE };
  readonly stats: LinkStats = { connections: 0, bytes: 0, resets: 0 };
  readonly pipes = new Set<Pipe>();
  readonly sockets = new Set<Socket>();
  server: Server | null = null;

  constructor(readonly spec: LinkSpec) {}

  accept(downstream: Socket): void {
    this.stats.connections++;
    const upstream = connect({
      host: this.spec.targetHost,
      port: this.spec.targetPort,
      localAddress: this.spec.bindHost,
    });
    this.sockets.add(downstream).add(upstream);
    const pipes: Pipe[] = [];
    let closed = false;
    const reset = (): void => {
      if (closed) return;
      closed = true;
      for (const pipe of pipes) {
        pipe.close();
        this.pipes.delete(pipe);
      }
      downstream.destroy();
      upstream.destroy();
      this.sockets.delete(downstream);
      this.sockets.delete(upstream);
    };
    pipes.push(
      new Pipe(this, downstream, upstream, reset),
      new Pipe(this, upstream, downstream, reset),
    );
    for (const pipe of pipes) this.pipes.add(pipe);
    for (const socket of [downstream, upstream]) {
      socket.setNoDelay(true);
      socket.on('error', reset);
      socket.on('close', reset);
    }
  }

  setMode(mode: LinkMode): void {
    this.mode = { ...mode };
    for (const pipe of this.pipes) pipe.flush();
  }
}

/** LinkProxy runs every link's proxy in this process. */
export class LinkProxy {
  private readonly links = new Map<string, ProxiedLink>();

  /** start listens on every link's port. */
  async start(specs: readonly LinkSpec[]): Promise<void> {
    for (const spec of specs) {
      const link = new ProxiedLink(spec);
      const server = createServer((socket) => link.accept(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(spec.listenPort, spec.listenHost, () => resolve());
      });
      link.server = server;
      this.links.set(spec.key, link);
    }
  }

  /** setMode sets the mode of the named links (unknown keys are an error). */
  setMode(keys: readonly string[], mode: LinkMode): void {
    for (const key of keys) {
      const link = this.links.get(key);
      if (!link) throw new Error(`proxy: no link ${key}`);
      link.setMode(mode);
    }
  }

  /** stats returns each link's counters. */
  stats(): Record<string, LinkStats> {
    return Object.fromEntries([...this.links].map(([key, link]) => [key, { ...link.stats }]));
  }

  /** close stops every server and resets every connection. */
  close(): void {
    for (const link of this.links.values()) {
      link.server?.close();
      for (const socket of link.sockets) socket.destroy();
    }
    this.links.clear();
  }
}
