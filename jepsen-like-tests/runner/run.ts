/**
 * runJepsen: one whole run, inside the private network namespace. In order: firewall and link
 * proxy, the cluster, the workloads (after a quiet start), the nemesis schedule, the final heal,
 * the wait for replica moves to finish, a recovery period, the final reads, convergence and
 * agreement of replicas, the Raft invariants over the status samples, and the checkers; then
 * the report. Everything it starts, it stops by pid (also on error); every wait is bounded.
 */
import { appendFileSync, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { join, relative } from 'node:path';
import { checkRaftInvariants, type InvariantReport } from '../checks/raft-invariants.js';
import {
  checkReplicas,
  readEveryReplica,
  waitConverged,
  type ReplicaReport,
} from '../checks/replicas.js';
import { NemesisLog } from '../nemesis/context.js';
import { MembershipState } from '../nemesis/membership-faults.js';
import { allLinks, linkKey } from '../nemesis/network-faults.js';
import { NemesisRunner } from '../nemesis/runner.js';
import { generateSchedule, SKIPPED_NEMESES, type NemesisStep } from '../nemesis/schedule.js';
import { REPO_ROOT } from '../harness/process-cluster.js';
import { Firewall, PROXY_HOST } from '../net/firewall.js';
import { setupLoopback } from '../net/namespace.js';
import { ProxyControl } from '../net/proxy-control.js';
import type { LinkSpec } from '../net/proxy.js';
import { writeReport } from '../report/html.js';
import { updateIndex } from '../report/index-page.js';
import { summaryLine, verdictOf, type RunSummary } from '../report/summary.js';
import { connectClients } from '../workloads/clients.js';
import { SET_DEFAULTS } from '../workloads/set.js';
import {
  WORKLOADS,
  type Workload,
  type WorkloadContext,
  type WorkloadResult,
} from '../workloads/index.js';
import { JepsenCluster, firewallNodes, nodeHost, nodePort } from './cluster.js';
import { ProcessIds } from './history.js';
import { waitSettled, type Settlement } from './layout.js';
import type { RunOptions } from './options.js';
import { PidRegistry } from './pids.js';
import { StatusSampler, snapshotTotals } from './sampler.js';
import { Clock, mulberry32, sleep, waitFor } from './time.js';

/** RunHandles are the live parts of a run (for cleanup). */
interface RunHandles {
  registry: PidRegistry;
  cluster: JepsenCluster | null;
  proxy: ProxyControl | null;
  workloads: Workload[];
  sampler: StatusSampler | null;
}

/** runIdOf names a run's folder: time, profile and seed. */
export function runIdOf(options: RunOptions, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${options.profile}-s${options.seed}`;
}

/** proxyPort is the port of the proxy carrying node `from`'s connections to node `to`. */
export function proxyPort(from: number, to: number): number {
  return 20_000 + from * 100 + to;
}

/** proxyLinks lists the link proxies of a cluster of `count` nodes. */
export function proxyLinks(count: number): LinkSpec[] {
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  return allLinks(ids).map(([from, to]) => ({
    key: linkKey(from, to),
    listenHost: PROXY_HOST,
    listenPort: proxyPort(from, to),
    targetHost: nodeHost(to),
    targetPort: nodePort(to),
    bindHost: nodeHost(from),
  }));
}

async function startNetwork(options: RunOptions, handles: RunHandles): Promise<Firewall> {
  await setupLoopback();
  const nodes = firewallNodes(options.cluster.nodes);
  const firewall = await Firewall.open(nodes, process.getgid?.() ?? 0);
  if (options.proxy) {
    const links = proxyLinks(options.cluster.nodes);
    handles.proxy = await ProxyControl.start(links, (pid) => handles.registry.add(pid, 'proxy'));
    const ids = nodes.map((node) => node.id);
    const routes = allLinks(ids).map(([from, to]) => ({
      from,
      to,
      proxyPort: proxyPort(from, to),
    }));
    await firewall.routeThroughProxies(routes);
  }
  return firewall;
}

async function leadersEverywhere(
  cluster: JepsenCluster,
  timeoutMs: number,
): Promise<number | null> {
  const started = performance.now();
  const ok = await waitFor(
    async () => [...(await cluster.leaders()).values()].every((leader) => leader !== 0),
    timeoutMs,
    250,
  );
  return ok ? Math.round(performance.now() - started) : null;
}

/** compressHistories gzips the run's JSONL files (histories, samples) in place. */
export async function compressHistories(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.jsonl')) continue;
    const path = join(dir, name);
    await pipeline(createReadStream(path), createGzip(), createWriteStream(`${path}.gz`));
    await rm(path);
  }
}

/** scheduleOf returns the replayed schedule or draws one from the seed. */
export function scheduleOf(options: RunOptions): NemesisStep[] {
  return (
    options.schedule ??
    generateSchedule({
      seed: options.seed,
      names: options.nemeses,
      timeMs: options.timeMs,
      coverAll: options.coverAll,
      timing: options.timing,
    })
  );
}

async function cleanup(handles: RunHandles): Promise<void> {
  for (const workload of handles.workloads) await workload.close().catch(() => undefined);
  await handles.sampler?.stop().catch(() => undefined);
  await handles.cluster?.close().catch(() => undefined);
  await handles.proxy?.close().catch(() => undefined);
  handles.registry.killAll();
}

/** runJepsen runs one test and returns its summary (it throws only on a setup failure). */
export async function runJepsen(options: RunOptions, signal: AbortSignal): Promise<RunSummary> {
  const runId = options.runId ?? runIdOf(options);
  const dir = join(options.resultsDir, runId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'options.json'), JSON.stringify(options, null, 2) + '\n');
  const clock = new Clock();
  const log = (line: string): void => {
    const text = `[${(clock.now() / 1000).toFixed(1)}s] ${line}`;
    process.stdout.write(text + '\n');
    appendFileSync(join(dir, 'run.log'), text + '\n');
  };
  const handles: RunHandles = {
    registry: new PidRegistry(join(dir, 'pids.json')),
    cluster: null,
    proxy: null,
    workloads: [],
    sampler: null,
  };
  try {
    return await runPhases(options, { runId, dir, clock, log, signal }, handles);
  } finally {
    await cleanup(handles);
  }
}

interface RunEnv {
  runId: string;
  dir: string;
  clock: Clock;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** Checked gathers what the checks found, for the summary. */
interface Checked {
  results: WorkloadResult[];
  invariants: InvariantReport;
  replicas: ReplicaReport;
  leadersAfterHealMs: number | null;
  nemeses: Record<string, number>;
  snapshots: { installed: number; sent: number };
}

async function startCluster(options: RunOptions, env: RunEnv, handles: RunHandles) {
  env.log(`run ${env.runId} in ${env.dir}`);
  const firewall = await startNetwork(options, handles);
  const cluster = await JepsenCluster.start(options.cluster, env.dir, handles.registry);
  handles.cluster = cluster;
  if ((await leadersEverywhere(cluster, 30_000)) === null) {
    throw new Error(`no leader in every group 30 s after start\n${cluster.processes.tail()}`);
  }
  const sampler = new StatusSampler(
    cluster,
    env.clock,
    options.sampleIntervalMs,
    join(env.dir, 'status.jsonl'),
  );
  handles.sampler = sampler;
  sampler.start();
  return { firewall, cluster, sampler };
}

async function startWorkloads(options: RunOptions, env: RunEnv, handles: RunHandles) {
  const ctx: WorkloadContext = {
    endpoints: handles.cluster!.endpoints(),
    clock: env.clock,
    processIds: new ProcessIds(),
    dir: env.dir,
    random: mulberry32(options.seed ^ 0x5eed),
    groupCount: options.cluster.groupCount,
    log: env.log,
    readEveryReplica: (prefix) => readEveryReplica(handles.cluster!, prefix),
  };
  handles.workloads = options.workloads.map((name) => WORKLOADS[name]!(options.tuning?.[name]));
  for (const workload of handles.workloads) await workload.start(ctx);
  env.log(`workloads ${options.workloads.join(', ')} running`);
  return ctx;
}

async function runNemesis(
  options: RunOptions,
  env: RunEnv,
  handles: RunHandles,
  firewall: Firewall,
) {
  const schedule = scheduleOf(options);
  await writeFile(join(env.dir, 'schedule.json'), JSON.stringify(schedule, null, 1) + '\n');
  const log = new NemesisLog(env.clock, join(env.dir, 'nemesis.jsonl'), env.log);
  const [client] = await connectClients(handles.cluster!.endpoints(), {
    ...SET_DEFAULTS,
    clients: 1,
  });
  const membership = new MembershipState();
  const nemesis = new NemesisRunner({
    cluster: handles.cluster!,
    firewall,
    proxy: handles.proxy,
    client: client ?? null,
    clock: env.clock,
    log,
    signal: env.signal,
    membership,
  });
  try {
    const now = env.clock.now();
    // A replay plays every step; a coverage schedule at least its first pass over the nemeses.
    const coverCount = options.schedule
      ? schedule.length
      : options.coverAll
        ? options.nemeses.length
        : 0;
    await nemesis.run(
      schedule,
      coverCount,
      now + options.timeMs,
      now + options.timeMs * 3 + 120_000,
    );
    await nemesis.healAll();
  } finally {
    client?.close();
  }
  const leadersAfterHealMs = await leadersEverywhere(handles.cluster!, 30_000);
  env.log(`after the heal, leaders everywhere in ${leadersAfterHealMs ?? 'never'} ms`);
  const settle = await settleLayout(handles.cluster!, log, membership, env.signal);
  await log.close();
  const nemeses: Record<string, number> = {};
  for (const name of nemesis.ran) nemeses[name] = (nemeses[name] ?? 0) + 1;
  return { events: log.events, nemeses, leadersAfterHealMs, settle };
}

/** settleLayout waits for every replica move to finish and logs the outcome. */
async function settleLayout(
  cluster: JepsenCluster,
  log: NemesisLog,
  membership: MembershipState,
  signal: AbortSignal,
): Promise<Settlement> {
  const settle = await waitSettled(cluster, undefined, signal);
  log.add(
    'settle',
    'note',
    `membership: ${membership.summary()}; layout epoch ${settle.epoch} ` +
      (settle.settled
        ? `settled in ${settle.waitedMs} ms (no group mid-move, nodes agree)`
        : `NOT settled after ${settle.waitedMs} ms: ${settle.problems.join('; ')}`),
  );
  return settle;
}

async function finishAndCheck(
  options: RunOptions,
  env: RunEnv,
  handles: RunHandles,
  ctx: WorkloadContext,
  settle: Settlement,
) {
  await sleep(options.recoveryMs, env.signal);
  for (const workload of handles.workloads) await workload.stop();
  const convergence = await waitConverged(handles.cluster!, handles.sampler!);
  env.log(
    `replicas ${convergence.converged ? '' : 'NOT '}converged in ${convergence.convergeMs} ms`,
  );
  for (const workload of handles.workloads) await workload.finalReads(ctx);
  env.log('final reads done; comparing replicas');
  const replicas = await checkReplicas(handles.cluster!, convergence);
  if (!settle.settled) {
    // Replicas compared mid-move are not the group's replicas: the comparison cannot pass.
    replicas.problems.unshift(...settle.problems.map((p) => `moves not finished: ${p}`));
    replicas.valid = false;
  }
  await handles.sampler!.stop();
  const invariants = checkRaftInvariants(handles.sampler!.samples);
  const snapshots = snapshotTotals(handles.sampler!.samples);
  await handles.cluster!.close();
  await handles.proxy?.close();
  const results: WorkloadResult[] = [];
  for (const workload of handles.workloads) results.push(await workload.check(ctx));
  return { replicas, invariants, snapshots, results };
}

function summarize(options: RunOptions, env: RunEnv, checked: Checked): RunSummary {
  const { results, invariants, replicas, leadersAfterHealMs } = checked;
  return {
    runId: env.runId,
    profile: options.profile,
    seed: options.seed,
    startedAt: env.clock.startedAtIso,
    durationMs: Math.round(env.clock.now()),
    verdict: verdictOf(results, invariants, replicas, leadersAfterHealMs),
    mutation: options.cluster.env.STRATA_TEST_MUTATION ?? null,
    nodes: options.cluster.nodes,
    groups: options.cluster.groupCount,
    nemeses: checked.nemeses,
    skippedNemeses: { ...SKIPPED_NEMESES },
    snapshots: checked.snapshots,
    workloads: results.map(({ details: _details, ...rest }) => rest),
    invariants,
    replicas,
    leadersAfterHealMs,
    anomalies: [
      ...results.flatMap((r) => r.anomalies),
      ...invariants.problems.map((p) => `raft: ${p}`),
      ...replicas.problems.map((p) => `replicas: ${p}`),
      ...(leadersAfterHealMs === null ? ['liveness: no leader in every group after the heal'] : []),
    ],
    replay:
      `npm run jepsen -- --profile ${options.profile} --replay ` +
      relative(REPO_ROOT, join(env.dir, 'schedule.json')),
  };
}

async function runPhases(options: RunOptions, env: RunEnv, handles: RunHandles) {
  const { firewall } = await startCluster(options, env, handles);
  const ctx = await startWorkloads(options, env, handles);
  await sleep(options.quietMs, env.signal);
  const nemesis = await runNemesis(options, env, handles, firewall);
  const finished = await finishAndCheck(options, env, handles, ctx, nemesis.settle);
  const summary = summarize(options, env, { ...finished, ...nemesis });
  await writeFile(join(env.dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await writeFile(
    join(env.dir, 'workloads.json'),
    JSON.stringify(finished.results, null, 1) + '\n',
  );
  await writeReport(env.dir, summary, handles.workloads, nemesis.events);
  await updateIndex(options.resultsDir);
  await compressHistories(env.dir);
  // Node data stays only for an unexpected failure (a mutation run is expected to fail).
  if (summary.verdict === 'pass' || summary.mutation) {
    await rm(join(env.dir, 'data'), { recursive: true, force: true });
  }
  env.log(summaryLine(summary));
  return summary;
}
