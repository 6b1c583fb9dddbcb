/**
 * EtcdCluster starts a cluster of real `etcd` processes on loopback for the store benchmark:
 * three members by default, each with its own data folder under `dir`, free client and peer
 * ports, and etcd's default durability (the WAL is fsynced before a write is acknowledged). It
 * reads each member's Prometheus metrics (fsyncs, commit and applied indexes) from its client
 * port, and stops every member by process id: SIGTERM, then SIGKILL after a bounded wait.
 * The `etcd` binary comes from Debian's `etcd-server` (bench/ensure-etcd.sh installs it).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../jepsen-like-tests/harness/process-cluster.js';

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const METRICS_TIMEOUT_MS = 2_000;
const POLL_MS = 50;
const LOG_CHUNKS_MAX = 200;

/** EtcdMember is one running member. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  child: ChildProcess | null;
  /** log keeps the member's last output chunks (bounded), for failure messages. */
  log: string[];
}

/** EtcdMetrics are the counters the benchmark reads from one member. */
export interface EtcdMetrics {
  walFsyncs: number;
  backendCommits: number;
  committedIndex: number;
  appliedIndex: number;
}

/** etcdVersion returns `etcd --version`'s first line, or null when etcd is not installed. */
export function etcdVersion(): string | null {
  try {
    return execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** EtcdCluster is a running set of etcd members. */
export class EtcdCluster {
  private constructor(readonly members: EtcdMember[]) {}

  /** start picks free ports, starts `count` members and waits until every one is healthy. */
  static async start(dir: string, count = 3): Promise<EtcdCluster> {
    const members: EtcdMember[] = [];
    for (let i = 1; i <= count; i++) {
      const dataDir = join(dir, `etcd-${i}`);
      await mkdir(dataDir, { recursive: true });
      members.push({
        name: `m${i}`,
        clientUrl: `http://127.0.0.1:${await freePort()}`,
        peerUrl: `http://127.0.0.1:${await freePort()}`,
        dataDir,
        child: null,
        log: [],
      });
    }
    const cluster = new EtcdCluster(members);
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    for (const member of members) cluster.launch(member, initialCluster);
    try {
      await cluster.waitHealthy(HEALTH_TIMEOUT_MS);
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  private launch(member: EtcdMember, initialCluster: string): void {
    const args = [
      `--name=${member.name}`,
      `--data-dir=${member.dataDir}`,
      `--listen-client-urls=${member.clientUrl}`,
      `--advertise-client-urls=${member.clientUrl}`,
      `--listen-peer-urls=${member.peerUrl}`,
      `--initial-advertise-peer-urls=${member.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-token=strata-bench',
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-outputs=stderr',
    ];
    // etcd 3.4 refuses to start on other architectures than amd64 unless told to.
    const arch = process.arch === 'x64' ? {} : { ETCD_UNSUPPORTED_ARCH: process.arch };
    const child = spawn('etcd', args, {
      env: { ...process.env, ...arch },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      member.log.push(chunk.toString());
      if (member.log.length > LOG_CHUNKS_MAX) member.log.splice(0, LOG_CHUNKS_MAX / 2);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('error', (error) => keep(Buffer.from(`spawn failed: ${error.message}\n`)));
    child.once('exit', () => {
      if (member.child === child) member.child = null;
    });
    member.child = child;
  }

  /** endpoints lists the members' client URLs. */
  endpoints(): string[] {
    return this.members.map((member) => member.clientUrl);
  }

  /** pids maps each running member's name to its process id. */
  pids(): Map<string, number> {
    const pids = new Map<string, number>();
    for (const member of this.members) {
      const pid = member.child?.pid;
      if (pid !== undefined) pids.set(member.name, pid);
    }
    return pids;
  }

  /** waitHealthy polls every member's /health until all say true (bounded by `timeoutMs`). */
  async waitHealthy(timeoutMs: number): Promise<number> {
    return this.waitUntil('every etcd member healthy', timeoutMs, async () => {
      for (const member of this.members) {
        if (!member.child) throw new Error(`etcd ${member.name} exited\n${this.tail()}`);
        const body = await httpGet(`${member.clientUrl}/health`).catch(() => '');
        if (!body.includes('"true"')) return false;
      }
      return true;
    });
  }

  /** metrics reads one member's counters from its /metrics page. */
  async metrics(member: EtcdMember): Promise<EtcdMetrics> {
    const values = parseMetrics(await httpGet(`${member.clientUrl}/metrics`));
    const value = (name: string): number => {
      const found = values.get(name);
      if (found === undefined) throw new Error(`etcd ${member.name} has no metric ${name}`);
      return found;
    };
    return {
      walFsyncs: value('etcd_disk_wal_fsync_duration_seconds_count'),
      backendCommits: value('etcd_disk_backend_commit_duration_seconds_count'),
      committedIndex: value('etcd_server_proposals_committed_total'),
      appliedIndex: value('etcd_server_proposals_applied_total'),
    };
  }

  /** waitApplied waits until every member applied the highest commit index any reports. */
  async waitApplied(timeoutMs: number): Promise<number> {
    return this.waitUntil('every etcd member applied every commit', timeoutMs, async () => {
      const all = await Promise.all(this.members.map((member) => this.metrics(member)));
      const committed = Math.max(...all.map((m) => m.committedIndex));
      return all.every((m) => m.appliedIndex >= committed);
    });
  }

  /** waitUntil polls `check` every 50 ms until it is true, or fails after `timeoutMs`. */
  private async waitUntil(
    what: string,
    timeoutMs: number,
    check: () => Promise<boolean>,
  ): Promise<number> {
    const started = performance.now();
    for (;;) {
      if (await check()) return Math.round(performance.now() - started);
      if (performance.now() - started > timeoutMs) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      }
      await sleep(POLL_MS);
    }
  }

  /** tail returns the last output lines of every member. */
  tail(lines = 10): string {
    return this.members
      .map((m) => `--- etcd ${m.name}:\n${m.log.join('').split('\n').slice(-lines).join('\n')}`)
      .join('\n');
  }

  /** close stops every member by process id: SIGTERM, SIGKILL if it is still up after 10 s. */
  async close(): Promise<void> {
    await Promise.all(this.members.map((member) => stopMember(member)));
  }
}

async function stopMember(member: EtcdMember): Promise<void> {
  const child = member.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
  });
  const late = await Promise.race([exited.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** httpGet fetches a loopback URL's body as text (bounded by METRICS_TIMEOUT_MS). */
async function httpGet(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.text();
}

/** parseMetrics reads the unlabelled samples of a Prometheus text page. */
export function parseMetrics(page: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of page.split('\n')) {
    if (line.length === 0 || line.startsWith('#') || line.includes('{')) continue;
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) values.set(line.slice(0, space), value);
  }
  return values;
}
