/**
 * Convergence and agreement of replicas, checked once the cluster is healed and the clients
 * stopped: (1) every group's replicas (its voters, on every node) converge to one applied
 * index equal to the commit index (bounded wait); (2) then a serializable read of each whole
 * group on each replica returns the same keys, values, mod indexes and versions, i.e. the
 * committed logs they applied agree.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeRangeResponse, encodeRangeRequest } from '../../src/store/kv-codec.js';
import { ReadConsistency, type KeyValue, type RangeRequest } from '../../src/store/kv-types.js';
import type { JepsenCluster } from '../runner/cluster.js';
import type { StatusSampler, StatusSample } from '../runner/sampler.js';
import { sleep, waitFor } from '../runner/time.js';

/** CONVERGE_WAIT_MS bounds the wait for replicas to converge. */
export const CONVERGE_WAIT_MS = 40_000;
/** STALL_MS ends the wait early when nothing changed for this long. */
export const STALL_MS = 10_000;
const PAGES_MAX = 1_000;

/** ReplicaReport is the verdict of checkReplicas. */
export interface ReplicaReport {
  valid: boolean;
  converged: boolean;
  convergeMs: number;
  groupsCompared: number;
  keysCompared: number;
  problems: string[];
}

/** divergent lists the groups whose replicas do not yet agree on applied = commit. */
export function divergent(samples: readonly StatusSample[], groupCount: number): string[] {
  const problems: string[] = [];
  for (let groupId = 1; groupId <= groupCount; groupId++) {
    const views = samples.flatMap((s) =>
      s.groups.filter((g) => g.group === groupId).map((g) => ({ node: s.node, ...g })),
    );
    const voters = views.find((v) => v.role === 'leader')?.voters ?? views[0]?.voters ?? [];
    const present = new Set(views.map((v) => v.node));
    const missing = voters.filter((id) => !present.has(id));
    const applied = new Set(views.map((v) => v.applied));
    const commits = new Set(views.map((v) => v.commit));
    const leaders = views.filter((v) => v.role === 'leader').length;
    if (missing.length > 0 || applied.size !== 1 || commits.size !== 1 || leaders !== 1) {
      const parts = views.map((v) => `n${v.node}:${v.role}@${v.term} c${v.commit} a${v.applied}`);
      problems.push(
        `group ${groupId}: ${parts.join(' ')}${missing.length ? ` missing ${missing}` : ''}`,
      );
    } else if ([...applied][0] !== [...commits][0]) {
      problems.push(`group ${groupId}: applied ${[...applied][0]} != commit ${[...commits][0]}`);
    }
  }
  return problems;
}

/** readGroup reads every key of `groupId` with `prefix` on one replica (serializable). */
export async function readGroup(
  client: grpc.Client,
  groupId: number,
  prefix = '',
): Promise<KeyValue[]> {
  const kvs: KeyValue[] = [];
  let pageToken: Uint8Array = new Uint8Array(0);
  for (let page = 0; page < PAGES_MAX; page++) {
    const request: RangeRequest = {
      key: Buffer.from(prefix),
      rangeEnd: new Uint8Array(0),
      prefix: true,
      limit: 0,
      pageToken,
      consistency: ReadConsistency.Serializable,
      minIndex: 0,
      keysOnly: false,
      countOnly: false,
      header: { groupId: groupId as never, epoch: 0, clientId: 0, seq: 0 },
    };
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(
        '/strata.kv.Kv/Range',
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        encodeRangeRequest(request),
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (error, response) =>
          error || !response ? reject(error ?? new Error('empty')) : resolve(response),
      );
    });
    const response = decodeRangeResponse(bytes);
    kvs.push(...response.kvs);
    if (!response.more) return kvs;
    pageToken = response.nextPageToken;
  }
  throw new Error(`group ${groupId}: more than ${PAGES_MAX} pages`);
}

function digest(kvs: readonly KeyValue[]): string {
  const hash = createHash('sha256');
  for (const kv of kvs) {
    hash.update(kv.key).update('\0').update(kv.value).update(`\0${kv.modIndex}/${kv.version}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

async function compareGroup(
  cluster: JepsenCluster,
  clients: Map<number, grpc.Client>,
  groupId: number,
  voters: number[],
): Promise<{ keys: number; problem: string | null }> {
  const contents = new Map<number, KeyValue[]>();
  for (const node of voters) {
    const client = clients.get(node);
    if (!client || !cluster.isRunning(node)) continue;
    for (let attempt = 0; attempt < 3 && !contents.has(node); attempt++) {
      try {
        contents.set(node, await readGroup(client, groupId));
      } catch {
        await sleep(300);
      }
    }
    if (!contents.has(node))
      return { keys: 0, problem: `group ${groupId}: node ${node} unreadable` };
  }
  const digests = [...contents].map(([node, kvs]) => `n${node}:${digest(kvs)}(${kvs.length} keys)`);
  const unique = new Set([...contents.values()].map(digest));
  const keys = Math.max(0, ...[...contents.values()].map((kvs) => kvs.length));
  return {
    keys,
    problem: unique.size > 1 ? `group ${groupId} replicas differ: ${digests.join(' ')}` : null,
  };
}

/** Convergence is the outcome of waitConverged. */
export interface Convergence {
  converged: boolean;
  convergeMs: number;
  problems: string[];
  last: StatusSample[];
}

/**
 * waitConverged waits (bounded by CONVERGE_WAIT_MS, or STALL_MS without any change) until
 * every group's replicas agree on one applied index equal to the commit index.
 */
export async function waitConverged(
  cluster: JepsenCluster,
  sampler: StatusSampler,
): Promise<Convergence> {
  const groupCount = cluster.spec.groupCount;
  const started = performance.now();
  let last: StatusSample[] = [];
  let problems: string[] = [];
  let changedAt = performance.now();
  await waitFor(
    async () => {
      last = await sampler.sampleOnce();
      const now = divergent(last, groupCount);
      if (now.join('|') !== problems.join('|')) changedAt = performance.now();
      problems = now;
      return now.length === 0 || performance.now() - changedAt > STALL_MS;
    },
    CONVERGE_WAIT_MS,
    500,
  );
  const convergeMs = Math.round(performance.now() - started);
  return { converged: problems.length === 0, convergeMs, problems, last };
}

/** ReplicaContents is one replica's keys of one group. */
export interface ReplicaContents {
  node: number;
  group: number;
  keys: string[];
}

/** readEveryReplica reads the keys with `prefix` of every group on every replica hosting it. */
export async function readEveryReplica(
  cluster: JepsenCluster,
  prefix: string,
): Promise<ReplicaContents[]> {
  const contents: ReplicaContents[] = [];
  for (const node of cluster.ids()) {
    const status = await cluster.status(node, 2_000);
    const client = new grpc.Client(
      cluster.endpoints()[node - 1]!,
      grpc.credentials.createInsecure(),
    );
    try {
      for (const g of status?.groups ?? []) {
        const group = Number(g.groupId);
        const kvs = await readGroup(client, group, prefix).catch(() => null);
        if (kvs)
          contents.push({ node, group, keys: kvs.map((kv) => Buffer.from(kv.key).toString()) });
      }
    } finally {
      client.close();
    }
  }
  return contents;
}

/** checkReplicas compares every group's replicas, after waitConverged. */
export async function checkReplicas(
  cluster: JepsenCluster,
  convergence: Convergence,
): Promise<ReplicaReport> {
  const { converged, convergeMs, last } = convergence;
  const problems = convergence.problems.map((p) => `not converged: ${p}`);
  const clients = new Map<number, grpc.Client>();
  for (const id of cluster.ids()) {
    clients.set(
      id,
      new grpc.Client(cluster.endpoints()[id - 1]!, grpc.credentials.createInsecure()),
    );
  }
  let keysCompared = 0;
  try {
    for (let groupId = 1; groupId <= cluster.spec.groupCount; groupId++) {
      const leader = last.find((s) =>
        s.groups.some((g) => g.group === groupId && g.role === 'leader'),
      );
      const voters = leader?.groups.find((g) => g.group === groupId)?.voters ?? cluster.ids();
      const { keys, problem } = await compareGroup(cluster, clients, groupId, voters);
      keysCompared += keys;
      if (problem) problems.push(problem);
    }
  } finally {
    for (const client of clients.values()) client.close();
  }
  return {
    valid: problems.length === 0,
    converged,
    convergeMs,
    groupsCompared: cluster.spec.groupCount,
    keysCompared,
    problems,
  };
}
