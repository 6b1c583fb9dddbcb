/**
 * Failpoints (test-only): named places where a node can be made to die abruptly, to test crash
 * safety at exact points. `STRATA_FAILPOINTS=name[,name...]` arms them for a process; an armed
 * failpoint kills the process with SIGKILL the first time it is reached (as kill -9 would).
 * Nothing is armed unless that variable is set; production never sets it.
 *
 * Names: `snapshot-receive-partial` (after part of a snapshot image was received and written),
 * `snapshot-restore-chunk` (after the first chunk of a snapshot install is written),
 * `after-log-sync` (after a ready cycle's log batch is synced, before messages are sent),
 * `before-apply` (before a ready cycle applies committed entries).
 */

/** FAILPOINT_NAMES lists every failpoint. */
export const FAILPOINT_NAMES = [
  'snapshot-receive-partial',
  'snapshot-restore-chunk',
  'after-log-sync',
  'before-apply',
] as const;

/** FailpointName names one failpoint. */
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

const armed = new Set(
  (process.env.STRATA_FAILPOINTS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0),
);
for (const name of armed) {
  if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) {
    throw new Error(
      `unknown failpoint '${name}' in STRATA_FAILPOINTS (known: ${FAILPOINT_NAMES.join(', ')})`,
    );
  }
}

/** failpoint kills the process with SIGKILL if `name` is armed. */
export function failpoint(name: FailpointName): void {
  if (armed.size === 0 || !armed.has(name)) return;
  process.stderr.write(`failpoint ${name}: killing process ${process.pid}\n`);
  process.kill(process.pid, 'SIGKILL');
}
