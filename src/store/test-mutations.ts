/**
 * Store-level mutation flags (test-only): known bugs a node can be told to have, so that the
 * Jepsen-like suite can show its checkers catch them. `STRATA_TEST_MUTATION=<flag>` arms one for
 * a process; nothing is armed unless that variable is set, and a node prints a warning when it
 * is. (The Raft core's own mutation flags are set only by the simulator.)
 *
 * - `ack-before-sync`: the ready loop acknowledges (sends Raft messages, applies, answers
 *   clients) before its log writes are synced; the writes reach the disk up to a second later, so
 *   a kill -9 loses acknowledged data, as a disk that lies about fsync would.
 * - `stale-read`: linearizable reads are served from local state, without confirming
 *   leadership (no ReadIndex round), on whichever replica receives them.
 * - `no-epoch-check`: requests routed with an older layout epoch are served instead of being
 *   answered STALE_EPOCH (clients keep their stale layout).
 * - `remove-before-add`: the mover removes a replica leaving a group before it adds the new
 *   one, so a group drops below its replication factor during a move.
 */

/** STORE_MUTATIONS lists the store-level mutation flags. */
export const STORE_MUTATIONS = [
  'ack-before-sync',
  'stale-read',
  'no-epoch-check',
  'remove-before-add',
] as const;

/** StoreMutation names one store-level mutation flag. */
export type StoreMutation = (typeof STORE_MUTATIONS)[number];

/** storeMutation returns the armed mutation (from the environment), or null. */
export function storeMutation(env: NodeJS.ProcessEnv = process.env): StoreMutation | null {
  const value = env.STRATA_TEST_MUTATION ?? '';
  if (value === '') return null;
  if (!(STORE_MUTATIONS as readonly string[]).includes(value)) {
    throw new Error(
      `unknown STRATA_TEST_MUTATION '${value}' (known: ${STORE_MUTATIONS.join(', ')})`,
    );
  }
  return value as StoreMutation;
}

/** ACK_BEFORE_SYNC_DELAY_MS is how long `ack-before-sync` holds writes before writing them. */
export const ACK_BEFORE_SYNC_DELAY_MS = 1_000;
