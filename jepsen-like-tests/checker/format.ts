/**
 * Human-readable rendering of operations and check results.
 */
import type { CheckResult, Operation, Value } from './types.js';

const MAX_KEYS_SHOWN = 10;
const MAX_OPS_SHOWN = 5;

/** formatValue renders a register value; null is shown as `absent`. */
export function formatValue(v: Value): string {
  return v === null ? 'absent' : JSON.stringify(v);
}

/** describeOp renders one operation compactly, e.g. `p3 read "x" [ok @12..15]`. */
export function describeOp(op: Operation): string {
  let body: string;
  if (op.f === 'read') body = `read ${formatValue(op.output)}`;
  else if (op.f === 'write') body = `write ${formatValue(op.input as Value)}`;
  else {
    const [expected, next] = op.input as [Value, Value];
    body = `cas ${formatValue(expected)}->${formatValue(next)}`;
  }
  const end = op.completeTime === null ? '...' : String(op.completeTime);
  return `p${op.process} ${body} [${op.status} @${op.invokeTime}..${end}]`;
}

function listOps(ops: readonly Operation[], indent: string): string[] {
  const lines = ops.slice(-MAX_OPS_SHOWN).map((op) => `${indent}${describeOp(op)}`);
  if (ops.length > MAX_OPS_SHOWN) lines.unshift(`${indent}(${ops.length - MAX_OPS_SHOWN} earlier)`);
  return lines;
}

/**
 * formatResult renders a CheckResult as a short human summary: the verdict, counts, and for
 * each invalid or inconclusive key the reason, the tail of the longest linearization found and
 * the ops that were stuck.
 */
export function formatResult(result: CheckResult): string {
  const keyCount = Object.keys(result.keys).length;
  const verdict =
    result.valid === true
      ? 'LINEARIZABLE'
      : result.valid === false
        ? 'NOT LINEARIZABLE'
        : 'UNKNOWN';
  const out = [
    `${verdict}: ${result.opCount} ops over ${keyCount} key(s), ` +
      `${result.anomalies.length} invalid, ${result.inconclusive.length} inconclusive ` +
      `(${result.droppedOpCount} dropped; ${result.elapsedMs.toFixed(0)} ms)`,
  ];
  for (const a of result.anomalies.slice(0, MAX_KEYS_SHOWN)) {
    const key = result.keys[a.key];
    out.push(`  key ${JSON.stringify(a.key)}: ${a.reason}`);
    const prefix = key?.longestLinearizedPrefix ?? [];
    if (prefix.length > 0) {
      out.push(`    longest linearized prefix (${prefix.length} ops), ending:`);
      out.push(...listOps(prefix, '      '));
    }
    if (a.stuckOps.length > 0) {
      out.push('    stuck ops:');
      out.push(...listOps(a.stuckOps, '      '));
    }
  }
  if (result.anomalies.length > MAX_KEYS_SHOWN) {
    out.push(`  ... ${result.anomalies.length - MAX_KEYS_SHOWN} more invalid key(s)`);
  }
  for (const u of result.inconclusive.slice(0, MAX_KEYS_SHOWN)) {
    out.push(`  key ${JSON.stringify(u.key)}: inconclusive: ${u.reason}`);
  }
  if (result.inconclusive.length > MAX_KEYS_SHOWN) {
    out.push(`  ... ${result.inconclusive.length - MAX_KEYS_SHOWN} more inconclusive key(s)`);
  }
  return out.join('\n');
}
