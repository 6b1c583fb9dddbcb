/**
 * Discovery: how the client learns the cluster. It asks Admin.Cluster of the endpoints it was
 * given, in turn, round after round with back-off until the deadline, and takes the first
 * answer whose layout parses. The layout is untrusted input (parseClusterLayout checks it all).
 */
import { parseClusterLayout, type ClusterLayout } from '../ring/index.js';
import { decodeClusterResponse, type ClusterInfo } from '../store/admin-codec.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { CallContext } from './call-context.js';
import { ADMIN_CLUSTER_PATH, grpcErrorText, unaryCall, type ChannelPool } from './channels.js';
import { encodeClusterRequest } from '../store/admin-codec.js';
import { StrataError, UnavailableError } from './errors.js';

/** DISCOVERY_CALL_MS_MAX bounds one Admin.Cluster call, so one dead endpoint cannot stall. */
export const DISCOVERY_CALL_MS_MAX = 1_000;
/** DISCOVERY_ROUNDS_MAX bounds the rounds over the endpoints (the deadline usually ends first). */
export const DISCOVERY_ROUNDS_MAX = 1_000;

/** Discovered is a node's ClusterInfo with its parsed layout. */
export interface Discovered {
  info: ClusterInfo;
  layout: ClusterLayout;
  endpoint: string;
}

/** checkEndpoints checks that endpoints are a non-empty list of host:port strings. */
export function checkEndpoints(endpoints: unknown): string[] {
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new RangeError('endpoints must be a non-empty list of host:port strings');
  }
  for (const endpoint of endpoints) {
    if (typeof endpoint !== 'string' || !/^\S+:\d{1,5}$/.test(endpoint)) {
      throw new RangeError(`endpoint must be host:port, got ${JSON.stringify(endpoint)}`);
    }
  }
  return [...(endpoints as string[])];
}

/**
 * discover asks the endpoints for the cluster's layout, in turn, until one answers. With
 * `clusterId`, answers from another cluster are skipped. Throws the call's failure (deadline,
 * abort) with the endpoints' errors in its message, or UnavailableError after the last round.
 */
export async function discover(
  endpoints: readonly string[],
  pool: ChannelPool,
  ctx: CallContext,
  options: { clusterId?: string; backoff?: BackoffOptions; minEpoch?: number } = {},
): Promise<Discovered> {
  const backoff = new Backoff(options.backoff);
  const errors = new Map<string, string>();
  try {
    for (let round = 0; round < DISCOVERY_ROUNDS_MAX; round++) {
      if (round > 0) await ctx.sleep(backoff.nextMs());
      for (const endpoint of endpoints) {
        ctx.throwIfFailed();
        try {
          const found = await askCluster(endpoint, pool, ctx);
          if (options.clusterId !== undefined && found.info.clusterId !== options.clusterId) {
            errors.set(endpoint, `belongs to cluster '${found.info.clusterId}'`);
          } else if (found.layout.epoch < (options.minEpoch ?? 0)) {
            errors.set(endpoint, `has epoch ${found.layout.epoch}, older than ${options.minEpoch}`);
          } else {
            return found;
          }
        } catch (error) {
          if (error === ctx.failure) throw error;
          errors.set(endpoint, error instanceof Error ? error.message : String(error));
        }
      }
    }
  } catch (error) {
    throw error instanceof StrataError ? withDetail(error, errors) : error;
  }
  throw withDetail(new UnavailableError('no endpoint answered Admin.Cluster'), errors);
}

async function askCluster(endpoint: string, pool: ChannelPool, ctx: CallContext) {
  const deadlineMs = Math.max(1, Math.min(DISCOVERY_CALL_MS_MAX, ctx.remainingMs()));
  let bytes: Uint8Array;
  try {
    const call = unaryCall(pool.get(endpoint), ADMIN_CLUSTER_PATH, encodeClusterRequest(), {
      deadlineMs,
    });
    bytes = await ctx.race(call);
  } catch (error) {
    if (error === ctx.failure) throw error;
    throw new UnavailableError(grpcErrorText(error), { cause: error });
  }
  const info = decodeClusterResponse(bytes);
  let layout: ClusterLayout;
  try {
    layout = parseClusterLayout(info.layoutJson);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new StrataError('BAD_LAYOUT', `node ${info.nodeId} sent a bad layout: ${detail}`);
  }
  return { info, layout, endpoint };
}

function withDetail(error: StrataError, errors: ReadonlyMap<string, string>): StrataError {
  if (errors.size > 0) {
    const detail = [...errors].map(([endpoint, text]) => `${endpoint}: ${text}`).join('; ');
    error.message = `${error.message} (${detail})`;
  }
  return error;
}
