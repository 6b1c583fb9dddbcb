/**
 * What the client does with each failure of one attempt (one request sent to one node), as a
 * table: the server's ErrorStatus codes (src/store/kv-service.ts, group.ts), plus TRANSPORT for
 * a broken stream or an unreachable node. Pure, so the table is tested on its own.
 */

/** RetryAction is the client's reaction to a failed attempt. */
export type RetryAction =
  /** follow-leader: ask the hinted leader next (or the next replica without a hint). */
  | 'follow-leader'
  /** next-replica: this node cannot serve the group now; ask the group's next replica. */
  | 'next-replica'
  /** same-replica: a transient refusal; back off and ask the same node again. */
  | 'same-replica'
  /** refresh-layout: the client's ring is stale; fetch Admin.Cluster, then retry. */
  | 'refresh-layout'
  /** session-lost: the write's session is gone; a new one is safe only for unsent writes. */
  | 'session-lost'
  /** fail: retrying cannot help (bad request, limit, or a code this version does not know). */
  | 'fail';

/** TRANSPORT_FAILURE is the pseudo code of an attempt whose stream or connection failed. */
export const TRANSPORT_FAILURE = 'TRANSPORT';

/** RetryRule is how one code is handled. */
export interface RetryRule {
  action: RetryAction;
  /**
   * maybeApplied: after this answer a write may have been (or may still be) applied, because
   * the failure can happen after the proposal (leadership lost, deadline, shutdown, a broken
   * stream). Retries keep the same (client id, seq) either way; this only decides whether a
   * lost session may be replaced and whether a final error is indeterminate.
   */
  maybeApplied: boolean;
}

const RULES: Readonly<Record<string, RetryRule>> = {
  // NOT_LEADER: nothing was proposed. LEADERSHIP_LOST: proposed, then leadership moved; the
  // entry may still commit (the retry's session seq makes it apply once).
  NOT_LEADER: { action: 'follow-leader', maybeApplied: false },
  LEADERSHIP_LOST: { action: 'follow-leader', maybeApplied: true },
  NOT_FOUND: { action: 'next-replica', maybeApplied: false },
  UNAVAILABLE: { action: 'next-replica', maybeApplied: true },
  RESTORING: { action: 'next-replica', maybeApplied: false },
  STORAGE_FAILURE: { action: 'next-replica', maybeApplied: true },
  [TRANSPORT_FAILURE]: { action: 'next-replica', maybeApplied: true },
  PROPOSAL_DROPPED: { action: 'same-replica', maybeApplied: false },
  DEADLINE_EXCEEDED: { action: 'same-replica', maybeApplied: true },
  WRONG_GROUP: { action: 'refresh-layout', maybeApplied: false },
  STALE_EPOCH: { action: 'refresh-layout', maybeApplied: false },
  STALE_SEQ: { action: 'session-lost', maybeApplied: false },
  SESSION_EXPIRED: { action: 'session-lost', maybeApplied: false },
  INVALID_ARGUMENT: { action: 'fail', maybeApplied: false },
  RESOURCE_EXHAUSTED: { action: 'fail', maybeApplied: false },
  MALFORMED: { action: 'fail', maybeApplied: false },
};

/** UNKNOWN_RULE handles codes this version does not know (INTERNAL, ...): fail, may apply. */
const UNKNOWN_RULE: RetryRule = { action: 'fail', maybeApplied: true };

/** retryRule returns how the client handles a failed attempt with error code `code`. */
export function retryRule(code: string): RetryRule {
  return Object.hasOwn(RULES, code) ? RULES[code]! : UNKNOWN_RULE;
}

/**
 * retryRuleFor is retryRule with the error's `limit`: a full proposal queue (the server's
 * pendingProposalsMax) is transient and comes without a LIMITS name, so that
 * RESOURCE_EXHAUSTED is retried on the same replica; one naming a limit fails at once.
 */
export function retryRuleFor(code: string, limit: string): RetryRule {
  if (code === 'RESOURCE_EXHAUSTED' && limit === '') {
    return { action: 'same-replica', maybeApplied: false };
  }
  return retryRule(code);
}
