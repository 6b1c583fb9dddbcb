// Proves the retry table follows the server's error contract: leader hints are followed,
// replicas rotate on NOT_FOUND / UNAVAILABLE / STORAGE_FAILURE / transport failures, layouts
// refresh on WRONG_GROUP / STALE_EPOCH, sessions are handled on STALE_SEQ / SESSION_EXPIRED,
// limits fail at once, and failures that can follow a proposal mark a write indeterminate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRANSPORT_FAILURE, retryRule, retryRuleFor } from './retry-policy.js';

describe('retry policy', () => {
  it('maps each server code to its action', () => {
    const actions = Object.fromEntries(
      [
        'NOT_LEADER',
        'NOT_FOUND',
        'UNAVAILABLE',
        'STORAGE_FAILURE',
        TRANSPORT_FAILURE,
        'PROPOSAL_DROPPED',
        'DEADLINE_EXCEEDED',
        'WRONG_GROUP',
        'STALE_EPOCH',
        'STALE_SEQ',
        'SESSION_EXPIRED',
        'INVALID_ARGUMENT',
        'MALFORMED',
        'INTERNAL',
        'toString',
      ].map((code) => [code, retryRule(code).action]),
    );
    assert.deepEqual(actions, {
      NOT_LEADER: 'follow-leader',
      NOT_FOUND: 'next-replica',
      UNAVAILABLE: 'next-replica',
      STORAGE_FAILURE: 'next-replica',
      [TRANSPORT_FAILURE]: 'next-replica',
      PROPOSAL_DROPPED: 'same-replica',
      DEADLINE_EXCEEDED: 'same-replica',
      WRONG_GROUP: 'refresh-layout',
      STALE_EPOCH: 'refresh-layout',
      STALE_SEQ: 'session-lost',
      SESSION_EXPIRED: 'session-lost',
      INVALID_ARGUMENT: 'fail',
      MALFORMED: 'fail',
      INTERNAL: 'fail',
      toString: 'fail',
    });
  });

  it('marks failures that can follow a proposal as maybe applied', () => {
    for (const code of ['LEADERSHIP_LOST', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', TRANSPORT_FAILURE]) {
      assert.equal(retryRule(code).maybeApplied, true, code);
    }
    for (const code of [
      'NOT_LEADER',
      'NOT_FOUND',
      'WRONG_GROUP',
      'INVALID_ARGUMENT',
      'PROPOSAL_DROPPED',
    ]) {
      assert.equal(retryRule(code).maybeApplied, false, code);
    }
  });

  it('retries a full proposal queue but not a named limit', () => {
    assert.equal(retryRuleFor('RESOURCE_EXHAUSTED', '').action, 'same-replica');
    assert.equal(retryRuleFor('RESOURCE_EXHAUSTED', 'responseBytesMax').action, 'fail');
  });
});
