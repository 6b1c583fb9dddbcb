/**
 * heap-top: summarises a sampling heap profile (`*.heapprofile`, from profile-preload.ts with
 * STRATA_PROFILE=heap) as the functions that allocated the most bytes, with the share of all
 * sampled bytes and, given `--ops`, the bytes per operation. Reads one file; bounded by its size.
 *
 *   npm run build && node dist/bench/heap-top.js <file.heapprofile> [--top 25] [--ops N]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** HeapNode is one call-tree node of a sampling heap profile. */
interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** allocations sums the bytes each function allocated itself, largest first. */
export function allocations(head: HeapNode): { name: string; bytes: number }[] {
  const byName = new Map<string, number>();
  const pending: HeapNode[] = [head];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const file = url.replace(/^.*\/(node_modules|dist)\//, '$1/');
      const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
      byName.set(name, (byName.get(name) ?? 0) + node.selfSize);
    }
    pending.push(...node.children);
  }
  return [...byName].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, ops: { type: 'string' } },
  });
  if (positionals.length !== 1) {
    throw new Error('usage: heap-top <file.heapprofile> [--top N] [--ops N]');
  }
  const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { head: HeapNode };
  const rows = allocations(profile.head);
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  const ops = values.ops === undefined ? 0 : Number(values.ops);
  const perOp = ops > 0 ? `, ${Math.round(total / ops)} B per operation` : '';
  console.log(`${positionals[0]}: ${(total / 1e6).toFixed(1)} MB sampled${perOp}\n`);
  console.log(`| function | MB | % |${ops > 0 ? ' B/op |' : ''}`);
  console.log(`| --- | --- | --- |${ops > 0 ? ' --- |' : ''}`);
  for (const row of rows.slice(0, Number(values.top))) {
    const share = ((100 * row.bytes) / total).toFixed(1);
    const op = ops > 0 ? ` ${Math.round(row.bytes / ops)} |` : '';
    console.log(`| \`${row.name}\` | ${(row.bytes / 1e6).toFixed(1)} | ${share} |${op}`);
  }
}

main();
